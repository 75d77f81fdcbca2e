import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JwtSigner } from '../crypto/signing.js';
import type { Api, Client, Store } from '../store/types.js';
import type { TenantContext } from './tenant-context.js';
import { TokenIssuer } from './tokens.js';

const signer = new JwtSigner('k1', 'ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
const tenant = { issuer: 'https://as.example/t/default', tenant: { id: 'default', accessTokenLifetime: null }, signer } as unknown as TenantContext;
const client = { clientId: 'c1', accessTokenLifetime: null, customClaims: { team: 'payments', '7': 'seven' } } as unknown as Client;
const api = { identifier: 'https://api.example', accessTokenLifetime: null, tokenFormat: 'jwt' } as unknown as Api;
const payloadOf = (token: string) => Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8');

describe('TokenIssuer', () => {
  it('RFC 9068 §2.2: a token whose unchanging claims were serialised once carries exactly the claims it reports', async () => {
    let now = 1_700_000_000_000;
    const issuer = new TokenIssuer({} as Store, 3600, () => now);
    const first = await issuer.issue({ tenant, client, api, scopes: ['read', 'write'], grantClaims: { tier: 'gold' } });
    expect(payloadOf(first.accessToken)).toBe(JSON.stringify(first.claims));
    expect(first.claims).toMatchObject({ iss: tenant.issuer, sub: 'c1', aud: api.identifier, client_id: 'c1', scope: 'read write', team: 'payments', tier: 'gold', '7': 'seven', exp: first.claims.iat + 3600 });
    now += 5000;
    const second = await issuer.issue({ tenant, client, api, scopes: ['read', 'write'], grantClaims: { tier: 'gold' } });
    expect(payloadOf(second.accessToken)).toBe(JSON.stringify(second.claims));
    expect(second.claims.jti).not.toBe(first.claims.jti);
    expect(second.claims.iat).toBe(first.claims.iat + 5);
  });

  it('follows a change of grant claims and scope, and tokens without scope', async () => {
    const issuer = new TokenIssuer({} as Store, 3600, () => 1_700_000_000_000);
    await issuer.issue({ tenant, client, api, scopes: ['read'], grantClaims: { tier: 'gold' } });
    const changed = await issuer.issue({ tenant, client, api, scopes: ['read'], grantClaims: { tier: 'silver' } });
    expect(JSON.parse(payloadOf(changed.accessToken))).toMatchObject({ tier: 'silver', scope: 'read' });
    const none = await issuer.issue({ tenant, client, api, scopes: [] });
    expect(payloadOf(none.accessToken)).toBe(JSON.stringify(none.claims));
    expect(none.claims.scope).toBeUndefined();
  });

  it('serialises per token when a token has a subject, an actor or a certificate binding', async () => {
    const issuer = new TokenIssuer({} as Store, 3600, () => 1_700_000_000_000);
    const exchanged = await issuer.issue({ tenant, client, api, scopes: ['read'], subject: 'user-1', act: { sub: 'c0' }, certificateThumbprint: 'abc' });
    expect(JSON.parse(payloadOf(exchanged.accessToken))).toEqual(exchanged.claims);
    expect(exchanged.claims).toMatchObject({ sub: 'user-1', act: { sub: 'c0' }, cnf: { 'x5t#S256': 'abc' } });
    // RFC 9449 §6: a DPoP-bound token carries cnf.jkt in what is signed, not only in what is reported.
    await issuer.issue({ tenant, client, api, scopes: ['read'] });
    const bound = await issuer.issue({ tenant, client, api, scopes: ['read'], dpopJkt: 'thumb' });
    expect(JSON.parse(payloadOf(bound.accessToken))).toEqual(bound.claims);
    expect(JSON.parse(payloadOf(bound.accessToken)).cnf).toEqual({ jkt: 'thumb' });
  });
});
