/** DPoP-bound clients and transaction-token services from startTestIssuer's createClient. */
import { clientSecretBasic, createTokenClient } from '@tessera/client';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestIssuer, type TestIssuer } from '../src/index.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await startTestIssuer();
});
afterAll(() => issuer.stop());

describe('createClient with sender constraints', () => {
  it('dpopBoundAccessTokens: a token request without a proof is refused, one with a proof gets a DPoP token', async () => {
    const { clientId, clientSecret } = await issuer.createClient({ audience: 'https://orders.test', scopes: ['orders:read'], dpopBoundAccessTokens: true });
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    const refused = await fetch(issuer.tokenEndpoint, { method: 'POST', body: form, headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` } });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_dpop_proof');
    const client = createTokenClient({ issuer: issuer.issuer, clientId, auth: clientSecretBasic(clientSecret as string), dpop: await generateKeyPair('ES256') });
    expect((await client.getToken()).tokenType).toBe('DPoP');
  });

  it('txnTokenService: the client gets transaction tokens', async () => {
    const { clientId, clientSecret } = await issuer.createClient({ audience: 'https://orders.test', scopes: ['orders:read'], txnTokenService: true });
    const client = createTokenClient({ issuer: issuer.issuer, clientId, auth: clientSecretBasic(clientSecret as string) });
    const txn = await client.getTransactionToken({ subjectToken: await client.getAccessToken(), trustDomain: issuer.issuer });
    expect(txn.issuedTokenType).toBe('urn:ietf:params:oauth:token-type:txn_token');
  });
});
