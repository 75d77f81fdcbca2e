/**
 * The three pieces together: @tessera/client with a DPoP key gets DPoP-bound tokens from
 * Tessera (retrying once on the tenant's use_dpop_nonce) and calls a resource server
 * protected by @tessera/verifier (retrying once on its use_dpop_nonce); transaction
 * tokens are requested with the client and forwarded in Txn-Token; a client can start
 * from a resource URL (RFC 9728).
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientSecretBasic, createTokenClient, tokenClientForResource } from '@tessera/client';
import { createTxnTokenVerifier, createVerifier, httpAuthenticator, httpProtectedResourceMetadata, httpTxnTokenAuthenticator, protectedResourceMetadataUrl } from '@tessera/verifier';
import { decodeJwt, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

let t: TestServer;
let api: Server;
let apiUrl: string;
const seen: { authorization?: string; dpop?: string }[] = [];
const AUDIENCE = 'https://orders.sdk.example';

/** Requests for the issuer go to the in-process app; others to the network (loopback). */
function routingFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.origin !== PUBLIC_URL) return globalThis.fetch(input, init);
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, name) => { headers[name] = value; });
  return t.app.inject({ method: (init?.method ?? 'GET') as 'GET', url: url.pathname + url.search, headers, ...(init?.body !== undefined ? { payload: String(init.body) } : {}) }).then((res) => {
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) responseHeaders.set(name, String(value));
    return new Response(res.body, { status: res.statusCode, headers: responseHeaders });
  });
}

beforeAll(async () => {
  t = await createTestServer({ startAt: Date.now() });
  const issuer = `${PUBLIC_URL}/t/default`;
  const verifier = createVerifier({ issuer, audience: AUDIENCE, fetch: routingFetch, dpop: { requireNonce: true } });
  const txnVerifier = createTxnTokenVerifier({ issuer, trustDomain: issuer, fetch: routingFetch });
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  apiUrl = `http://127.0.0.1:${port}`;
  const metadata = httpProtectedResourceMetadata({ resource: `${apiUrl}/orders`, issuer, scopes: ['orders:read'] });
  const authenticate = httpAuthenticator(verifier, { resourceMetadata: protectedResourceMetadataUrl(`${apiUrl}/orders`) });
  const authenticateTxn = httpTxnTokenAuthenticator(txnVerifier);
  api = createServer(async (req, res) => {
    if (metadata(req, res)) return;
    seen.push({ ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), ...(typeof req.headers.dpop === 'string' ? { dpop: req.headers.dpop } : {}) });
    if (req.url === '/txn') {
      const claims = await authenticateTxn(req, res);
      if (claims === null) return;
      res.end(JSON.stringify({ txn: claims.txn, tctx: claims.tctx }));
      return;
    }
    const claims = await authenticate(req, res);
    if (claims === null) return;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ sub: claims.sub, cnf: claims.cnf }));
  });
  await new Promise<void>((resolve) => api.listen(port, '127.0.0.1', () => resolve()));
  // The API's identifier is the audience; /orders is the resource (RFC 9728) that names it too.
  await t.setupClient('default', { apiIdentifier: AUDIENCE, scopes: ['orders:read'] });
});
afterAll(async () => {
  await new Promise((resolve) => api.close(resolve));
  await t.close();
});

describe('@tessera/client with dpop against Tessera and @tessera/verifier', () => {
  it('gets a DPoP-bound token and calls the API with a proof, retrying once on the API\'s use_dpop_nonce', async () => {
    const { clientId, clientSecret } = await t.setupClient('default', { apiIdentifier: AUDIENCE, scopes: ['orders:read'] });
    const keys = await generateKeyPair('ES256');
    const client = createTokenClient({ issuer: `${PUBLIC_URL}/t/default`, clientId, auth: clientSecretBasic(clientSecret), dpop: keys, fetch: routingFetch });
    const token = await client.getToken({ audience: AUDIENCE });
    expect(token.tokenType).toBe('DPoP');
    expect(decodeJwt(token.accessToken).cnf).toHaveProperty('jkt');
    seen.length = 0;
    const res = await client.fetch(`${apiUrl}/orders?page=1`, {}, { audience: AUDIENCE });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(seen).toHaveLength(2); // the first answered use_dpop_nonce
    expect(seen[0]?.authorization?.startsWith('DPoP ')).toBe(true);
    expect(seen[1]?.dpop).not.toBe(seen[0]?.dpop);
    // The next call already knows the nonce.
    seen.length = 0;
    expect((await client.fetch(`${apiUrl}/orders`, {}, { audience: AUDIENCE })).status).toBe(200);
    expect(seen).toHaveLength(1);
  });

  it('dpop takes a lone private key too: a non-extractable CryptoKey, a PEM', async () => {
    const { clientId, clientSecret } = await t.setupClient('default', { apiIdentifier: AUDIENCE, scopes: ['orders:read'] });
    const { privateKey } = await generateKeyPair('ES256');
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    for (const dpop of [privateKey, pem]) {
      const client = createTokenClient({ issuer: `${PUBLIC_URL}/t/default`, clientId, auth: clientSecretBasic(clientSecret), dpop, fetch: routingFetch });
      expect((await client.getToken({ audience: AUDIENCE })).tokenType).toBe('DPoP');
      expect((await client.fetch(`${apiUrl}/orders`, {}, { audience: AUDIENCE })).status).toBe(200);
    }
  });

  it('retries a token request once on the tenant\'s use_dpop_nonce', async () => {
    expect((await t.manage('POST', '/tenants', { id: 'sdk-nonces', dpopNonceRequired: true })).status).toBe(201);
    const { clientId, clientSecret } = await t.setupClient('sdk-nonces', { apiIdentifier: AUDIENCE, scopes: ['orders:read'] });
    const client = createTokenClient({ issuer: `${PUBLIC_URL}/t/sdk-nonces`, clientId, auth: clientSecretBasic(clientSecret), dpop: await generateKeyPair('ES256'), fetch: routingFetch });
    expect((await client.getToken({ audience: AUDIENCE })).tokenType).toBe('DPoP');
  });

  it('the cache is keyed by the DPoP key: two clients with different keys get different tokens', async () => {
    const { clientId, clientSecret } = await t.setupClient('default', { apiIdentifier: AUDIENCE, scopes: ['orders:read'] });
    const a = createTokenClient({ issuer: `${PUBLIC_URL}/t/default`, clientId, auth: clientSecretBasic(clientSecret), dpop: await generateKeyPair('ES256'), fetch: routingFetch });
    const b = createTokenClient({ issuer: `${PUBLIC_URL}/t/default`, clientId, auth: clientSecretBasic(clientSecret), dpop: await generateKeyPair('ES256'), fetch: routingFetch });
    const [first, second] = [await a.getToken({ audience: AUDIENCE }), await b.getToken({ audience: AUDIENCE })];
    expect(decodeJwt(first.accessToken).cnf).not.toEqual(decodeJwt(second.accessToken).cnf);
    expect(await a.getToken({ audience: AUDIENCE })).toBe(first);
  });
});

describe('@tessera/client transaction tokens', () => {
  it('requests a transaction token and forwards it in Txn-Token to a service that checks it', async () => {
    const edge = await t.setupClient('default', { apiIdentifier: AUDIENCE, scopes: ['orders:read'], client: { txnTokenService: true } });
    const client = createTokenClient({ issuer: `${PUBLIC_URL}/t/default`, clientId: edge.clientId, auth: clientSecretBasic(edge.clientSecret), fetch: routingFetch });
    const incoming = await client.getAccessToken({ audience: AUDIENCE });
    const txn = await client.getTransactionToken({ subjectToken: incoming, trustDomain: `${PUBLIC_URL}/t/default`, requestDetails: { action: 'BUY' } });
    expect(txn.tokenType).toBe('N_A');
    expect(txn.issuedTokenType).toBe('urn:ietf:params:oauth:token-type:txn_token');
    const res = await globalThis.fetch(`${apiUrl}/txn`, { headers: { 'txn-token': txn.accessToken } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ txn: decodeJwt(txn.accessToken).txn, tctx: { action: 'BUY' } });
    expect((await globalThis.fetch(`${apiUrl}/txn`)).status).toBe(401);
  });
});

describe('@tessera/client from a resource URL (RFC 9728)', () => {
  it('reads the resource metadata, checks the issuer, and gets a token for that resource', async () => {
    const { clientId, clientSecret } = await t.setupClient('default', { apiIdentifier: `${apiUrl}/orders`, scopes: ['orders:read'] });
    const { client, issuer, resourceMetadata, getToken } = await tokenClientForResource({ resource: `${apiUrl}/orders`, clientId, auth: clientSecretBasic(clientSecret), fetch: routingFetch });
    expect(issuer).toBe(`${PUBLIC_URL}/t/default`);
    expect(resourceMetadata.scopes_supported).toEqual(['orders:read']);
    const token = await getToken({ scope: 'orders:read' });
    expect(decodeJwt(token.accessToken).aud).toBe(`${apiUrl}/orders`);
    await client.close();
  });
});
