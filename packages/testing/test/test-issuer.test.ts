/**
 * @tessera/testing against the clients and validators a service really uses: the
 * issuer must be Tessera itself (real discovery, real JWKS, real token endpoint), and
 * every negative case must be refused for the reason it names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { clientSecretBasic, clientSecretPost, createTokenClient, privateKeyJwt } from '@tessera/client';
import { createVerifier } from '@tessera/verifier';
import * as oidc from 'openid-client';
import { startTestIssuer, type TestIssuer } from '../src/index.js';

const API = 'https://orders.example';

describe('startTestIssuer (listening on loopback)', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await startTestIssuer();
  });
  afterAll(() => issuer.stop());

  it('serves RFC 8414 metadata whose issuer and endpoints are the ones it returns', async () => {
    expect(issuer.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/t\/default$/);
    const metadata = (await (await fetch(issuer.discoveryUrl)).json()) as Record<string, unknown>;
    expect(metadata.issuer).toBe(issuer.issuer);
    expect(metadata.token_endpoint).toBe(issuer.tokenEndpoint);
    expect(metadata.jwks_uri).toBe(issuer.jwksUri);
    expect(metadata.introspection_endpoint).toBe(issuer.introspectionEndpoint);
    const rfc8414 = await fetch(`${issuer.url}/.well-known/oauth-authorization-server/t/default`);
    expect(rfc8414.status).toBe(200);
  });

  it('createClient registers API, client and grant: a real client_credentials request gets a token @tessera/verifier accepts', async () => {
    const client = await issuer.createClient({ audience: API, scopes: ['orders:read', 'orders:write'] });
    expect(client.clientSecret).toEqual(expect.any(String));
    const token = await client.getToken({ scope: 'orders:read' });
    const verifier = createVerifier({ issuer: issuer.issuer, audience: API });
    const claims = await verifier.verify(token, { scopes: ['orders:read'] });
    expect(claims.sub).toBe(client.clientId);
    expect(claims.client_id).toBe(client.clientId);
    await expect(verifier.verify(token, { scopes: ['orders:write'] })).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE' });
  });

  it('works through @tessera/client with client_secret_basic, client_secret_post and private_key_jwt', async () => {
    const basic = await issuer.createClient({ audience: API, scopes: ['orders:read'] });
    const post = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'client_secret_post' });
    const keyed = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'private_key_jwt' });
    expect(keyed.clientSecret).toBeUndefined();
    const verifier = createVerifier({ issuer: issuer.issuer, audience: API });
    for (const [client, auth] of [
      [basic, clientSecretBasic(basic.clientSecret as string)],
      [post, clientSecretPost(post.clientSecret as string)],
      [keyed, privateKeyJwt(keyed.privateKey!)],
    ] as const) {
      const tokens = createTokenClient({ issuer: issuer.issuer, clientId: client.clientId, auth });
      const { accessToken } = await tokens.getToken({ audience: API, scope: 'orders:read' });
      expect((await verifier.verify(accessToken)).client_id).toBe(client.clientId);
    }
  });

  it('works through openid-client (discovery, client_credentials)', async () => {
    const client = await issuer.createClient({ audience: API, scopes: ['orders:read'] });
    const config = await oidc.discovery(new URL(issuer.issuer), client.clientId, client.clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const response = await oidc.clientCredentialsGrant(config, { audience: API, scope: 'orders:read' });
    const { payload } = await jwtVerify(response.access_token, createRemoteJWKSet(new URL(issuer.jwksUri)), { issuer: issuer.issuer, audience: API, typ: 'at+jwt' });
    expect(payload.scope).toBe('orders:read');
  });

  it('createClient with a chosen clientId and grant claims', async () => {
    const client = await issuer.createClient({ audience: API, scopes: ['orders:read'], clientId: 'billing-service', claims: { team: 'billing' } });
    expect(client.clientId).toBe('billing-service');
    const claims = await createVerifier({ issuer: issuer.issuer, audience: API }).verify(await client.getToken());
    expect(claims.team).toBe('billing');
  });

  it('issueToken: a chosen sub, scope and claims, signed by the published key, accepted by jose as RFC 9068 at+jwt', async () => {
    const token = await issuer.issueToken({ audience: API, sub: 'user-42', scope: ['orders:read'], claims: { tenant: 'acme' } });
    const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(issuer.jwksUri)), { issuer: issuer.issuer, audience: API, typ: 'at+jwt' });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: 'user-42', scope: 'orders:read', tenant: 'acme', client_id: 'test-client' });
  });

  it('issueToken makes the negative cases a resource server must refuse (RFC 9068 §4)', async () => {
    const verifier = createVerifier({ issuer: issuer.issuer, audience: API, clockTolerance: 0 });
    await expect(verifier.verify(await issuer.issueToken({ audience: API, expiresIn: -60 }))).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
    await expect(verifier.verify(await issuer.issueToken({ audience: API, notBefore: 600 }))).rejects.toMatchObject({ code: 'ERR_TOKEN_NOT_YET_VALID' });
    await expect(verifier.verify(await issuer.issueToken({ audience: 'https://another.example' }))).rejects.toMatchObject({ code: 'ERR_AUDIENCE_MISMATCH' });
    await expect(verifier.verify(await issuer.issueToken({ audience: API, claims: { iss: 'https://evil.example' } }))).rejects.toMatchObject({ code: 'ERR_ISSUER_MISMATCH' });
    await expect(verifier.verify(await issuer.issueToken({ audience: API, scope: 'orders:read' }), { scopes: ['orders:write'] })).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE' });
    await expect(issuer.issueToken({ audience: API, alg: 'RS256' })).rejects.toThrow(/signingAlg/);
  });

  it('tamper helpers: wrong key, unknown kid, alg none, wrong typ and edited claims are each refused for that reason', async () => {
    const verifier = createVerifier({ issuer: issuer.issuer, audience: API });
    const good = await issuer.issueToken({ audience: API });
    await expect(verifier.verify(good)).resolves.toMatchObject({ aud: API });
    await expect(verifier.verify(await issuer.tamper.wrongKey(good))).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
    await expect(verifier.verify(await issuer.tamper.unknownKid(good))).rejects.toMatchObject({ code: 'ERR_KID_UNKNOWN' });
    await expect(verifier.verify(issuer.tamper.algNone(good))).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_(ALG_NOT_ALLOWED|MALFORMED)$/) });
    await expect(jwtVerify(issuer.tamper.algNone(good), createRemoteJWKSet(new URL(issuer.jwksUri)))).rejects.toThrow();
    await expect(verifier.verify(await issuer.tamper.withTyp(good, 'JWT'))).rejects.toMatchObject({ code: 'ERR_TYP_INVALID' });
    await expect(verifier.verify(issuer.tamper.withClaims(good, { sub: 'admin' }))).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
    // The re-signed wrong-typ token is otherwise valid: jose accepts it when it does not check typ.
    const jwks = createLocalJWKSet((await (await fetch(issuer.jwksUri)).json()) as { keys: [] });
    await expect(jwtVerify(await issuer.tamper.withTyp(good), jwks, { issuer: issuer.issuer, audience: API })).resolves.toBeDefined();
    await expect(jwtVerify(await issuer.tamper.withTyp(good), jwks, { issuer: issuer.issuer, audience: API, typ: 'at+jwt' })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
  });

  it('issueToken with dpopKey binds the token to the key (RFC 9449 §6.1 cnf.jkt)', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { calculateJwkThumbprint } = await import('jose');
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const token = await issuer.issueToken({ audience: API, dpopKey: publicKey });
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { cnf: { jkt: string } };
    expect(payload.cnf.jkt).toBe(await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as never, 'sha256'));
  });

  it('issueOpaqueToken: RFC 7662 introspection by its client answers active with its claims', async () => {
    const client = await issuer.createClient({ audience: 'https://ledger.example', scopes: ['ledger:read'] });
    const token = await issuer.issueOpaqueToken({ audience: 'https://ledger.example', clientId: client.clientId, sub: 'job-7' });
    expect(token).not.toContain('.');
    const introspect = (value: string) =>
      fetch(issuer.introspectionEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ token: value }).toString(),
      }).then((r) => r.json() as Promise<Record<string, unknown>>);
    expect(await introspect(token)).toMatchObject({ active: true, sub: 'job-7', aud: 'https://ledger.example', scope: 'ledger:read' });
    expect(await introspect('not-a-token')).toEqual({ active: false });
  });

  it('rotateKeys: new tokens carry the new kid and a verifier follows; emergency rotation retires the old key at once', async () => {
    const verifier = createVerifier({ issuer: issuer.issuer, audience: API, jwksCache: { cooldown: 0 } as never });
    const before = await issuer.issueToken({ audience: API });
    await verifier.verify(before);
    await issuer.rotateKeys();
    const after = await issuer.issueToken({ audience: API });
    expect(decodeProtectedHeader(after).kid).not.toBe(decodeProtectedHeader(before).kid);
    await expect(verifier.verify(after)).resolves.toBeDefined();
    // The retired key stays published until its tokens expire.
    await expect(createVerifier({ issuer: issuer.issuer, audience: API }).verify(before)).resolves.toBeDefined();
    await issuer.rotateKeys({ emergency: true });
    const jwks = (await (await fetch(issuer.jwksUri)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).not.toContain(decodeProtectedHeader(after).kid);
    await expect(createVerifier({ issuer: issuer.issuer, audience: API }).verify(after)).rejects.toMatchObject({ code: 'ERR_KID_UNKNOWN' });
  });

  it('jwksDown/jwksUp: a verifier with cached keys keeps verifying, one without them reports the outage', async () => {
    const warm = createVerifier({ issuer: issuer.issuer, audience: API });
    const token = await issuer.issueToken({ audience: API });
    await warm.verify(token);
    issuer.jwksDown();
    expect((await fetch(issuer.jwksUri)).status).toBe(503);
    await expect(warm.verify(await issuer.issueToken({ audience: API }))).resolves.toBeDefined();
    const cold = createVerifier({ issuer: issuer.issuer, audience: API });
    await expect(cold.verify(token)).rejects.toMatchObject({ code: 'ERR_JWKS_UNAVAILABLE' });
    issuer.jwksUp();
    await expect(createVerifier({ issuer: issuer.issuer, audience: API }).verify(token)).resolves.toBeDefined();
  });
});

describe('startTestIssuer options', () => {
  it('listen: false answers through issuer.fetch without a socket, for @tessera/client and @tessera/verifier alike', async () => {
    const issuer = await startTestIssuer({ listen: false });
    try {
      expect(issuer.issuer).toBe('http://tessera.test/t/default');
      const client = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'private_key_jwt' });
      const tokens = createTokenClient({ issuer: issuer.issuer, clientId: client.clientId, auth: privateKeyJwt(client.privateKey!), fetch: issuer.fetch });
      const { accessToken } = await tokens.getToken({ audience: API });
      const verifier = createVerifier({ issuer: issuer.issuer, audience: API, fetch: issuer.fetch });
      expect((await verifier.verify(accessToken)).sub).toBe(client.clientId);
      await expect(fetch(issuer.jwksUri)).rejects.toThrow();
    } finally {
      await issuer.stop();
    }
  });

  it('a frozen clock stamps iat and exp from the chosen instant and moves only when told', async () => {
    const start = Date.UTC(2030, 0, 1, 12, 0, 0);
    const issuer = await startTestIssuer({ listen: false, clock: new Date(start), accessTokenLifetime: 600 });
    try {
      const client = await issuer.createClient({ audience: API, scopes: ['orders:read'] });
      const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };
      expect(claimsOf(await client.getToken())).toMatchObject({ iat: start / 1000, exp: start / 1000 + 600 });
      issuer.clock.advance(90_000);
      expect(claimsOf(await client.getToken()).iat).toBe(start / 1000 + 90);
      const verifier = createVerifier({ issuer: issuer.issuer, audience: API, fetch: issuer.fetch, now: () => issuer.clock.now() });
      const token = await client.getToken();
      await expect(verifier.verify(token)).resolves.toBeDefined();
      issuer.clock.advance(700_000);
      await expect(createVerifier({ issuer: issuer.issuer, audience: API, fetch: issuer.fetch, now: () => issuer.clock.now() }).verify(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
    } finally {
      await issuer.stop();
    }
  });

  it('the real clock cannot be moved, and says how to get one that can', async () => {
    const issuer = await startTestIssuer({ listen: false });
    try {
      expect(() => issuer.clock.advance(1000)).toThrow(/clock: Date/);
    } finally {
      await issuer.stop();
    }
  });

  it('another tenant and signing algorithm', async () => {
    const issuer = await startTestIssuer({ listen: false, tenant: 'payments', signingAlg: 'EdDSA' });
    try {
      expect(issuer.issuer).toBe('http://tessera.test/t/payments');
      const token = await issuer.issueToken({ audience: API, alg: 'EdDSA' });
      expect(decodeProtectedHeader(token).alg).toBe('EdDSA');
      await expect(createVerifier({ issuer: issuer.issuer, audience: API, fetch: issuer.fetch }).verify(token)).resolves.toBeDefined();
    } finally {
      await issuer.stop();
    }
  });

  it('protection: true enforces back-off after failed authentications (RFC 6585 §4 429 with Retry-After)', async () => {
    const issuer = await startTestIssuer({ listen: false, protection: true });
    try {
      const client = await issuer.createClient({ audience: API, scopes: ['orders:read'] });
      let last = 0;
      for (let i = 0; i < 40 && last !== 429; i++) {
        const response = await issuer.fetch(issuer.tokenEndpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.clientId}:wrong`).toString('base64')}` },
          body: 'grant_type=client_credentials',
        });
        last = response.status;
        if (last === 429) expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
      }
      expect(last).toBe(429);
    } finally {
      await issuer.stop();
    }
  });
});
