/**
 * DPoP at the token endpoint (RFC 9449): proofs made by hand with jose, and by
 * oauth4webapi (a client nobody here wrote) against the server.
 */
import { calculateJwkThumbprint, type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

let t: TestServer;
let client: { clientId: string; clientSecret: string; identifier: string };
const tokenUrl = `${PUBLIC_URL}/t/default/token`;
const cc = { grant_type: 'client_credentials' };

interface ProofKey {
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

async function proofKey(alg = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

let jtiCounter = 0;
async function proof(key: ProofKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const iat = Math.floor(t.clock.now / 1000);
  return new SignJWT({ htm: 'POST', htu: tokenUrl, iat, jti: `jti-${++jtiCounter}-${Math.random()}`, ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header })
    .sign(key.privateKey);
}

function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
}

beforeAll(async () => {
  t = await createTestServer({ startAt: Date.now() });
  client = await t.setupClient('default', { apiIdentifier: 'https://dpop-orders.example', scopes: ['orders:read'] });
});
afterAll(() => t.close());

describe('token endpoint with a DPoP proof (RFC 9449 §5)', () => {
  it('RFC 9449 §5, §6.1: binds the token to the proof key with cnf.jkt and answers token_type DPoP', async () => {
    const key = await proofKey();
    const res = await t.post('default', 'token', cc, { ...basic(client.clientId, client.clientSecret), dpop: await proof(key) });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.token_type).toBe('DPoP');
    expect(claimsOf(body.access_token).cnf).toEqual({ jkt: key.jkt });
  });

  it('without a proof the token stays a Bearer token without cnf', async () => {
    const res = await t.post('default', 'token', cc, basic(client.clientId, client.clientSecret));
    expect(res.json().token_type).toBe('Bearer');
    expect(claimsOf(res.json().access_token).cnf).toBeUndefined();
  });

  it('RFC 9449 §11.1: a proof is single-use, also across replicas', async () => {
    const key = await proofKey();
    const dpop = await proof(key);
    const first = await t.post('default', 'token', cc, { ...basic(client.clientId, client.clientSecret), dpop });
    expect(first.statusCode).toBe(200);
    const again = await t.post('default', 'token', cc, { ...basic(client.clientId, client.clientSecret), dpop });
    expect(again.statusCode).toBe(400);
    expect(again.json().error).toBe('invalid_dpop_proof');
    const replica = await t.replica();
    const elsewhere = await replica.inject({ method: 'POST', url: '/t/default/token', headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(client.clientId, client.clientSecret), dpop }, payload: 'grant_type=client_credentials' });
    expect(elsewhere.statusCode).toBe(400);
    expect(elsewhere.json().error).toBe('invalid_dpop_proof');
  });

  const refusals: [string, (key: ProofKey) => Promise<string>][] = [
    ['RFC 9449 §4.3: typ other than dpop+jwt', (k) => proof(k, {}, { typ: 'JWT' })],
    ['RFC 9449 §4.3: htm of another method', (k) => proof(k, { htm: 'GET' })],
    ['RFC 9449 §4.3: htu of another URL', (k) => proof(k, { htu: `${PUBLIC_URL}/t/other/token` })],
    ['RFC 9449 §4.3: iat too old', (k) => proof(k, { iat: Math.floor(t.clock.now / 1000) - 600 })],
    ['RFC 9449 §4.3: iat in the future', (k) => proof(k, { iat: Math.floor(t.clock.now / 1000) + 600 })],
    ['RFC 9449 §4.2: no jti', (k) => proof(k, { jti: undefined })],
    ['RFC 9449 §4.3: a private key in jwk', async (k) => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const privateJwk = await exportJWK(privateKey);
      return new SignJWT({ htm: 'POST', htu: tokenUrl, iat: Math.floor(t.clock.now / 1000), jti: 'private' })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: privateJwk })
        .sign(privateKey).then((p) => (void k, p));
    }],
    ['RFC 9449 §4.3: signed by another key than jwk', async (k) => {
      const other = await proofKey();
      return new SignJWT({ htm: 'POST', htu: tokenUrl, iat: Math.floor(t.clock.now / 1000), jti: 'other-key' })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: k.jwk })
        .sign(other.privateKey);
    }],
    ['RFC 9449 §4.3: symmetric alg', async (k) => new SignJWT({ htm: 'POST', htu: tokenUrl, iat: Math.floor(t.clock.now / 1000), jti: 'hs' })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: k.jwk })
      .sign(new Uint8Array(32))],
    ['RFC 9449 §4.3: not a JWT', async () => 'not-a-jwt'],
  ];
  for (const [name, make] of refusals) {
    it(`${name} is invalid_dpop_proof (400)`, async () => {
      const res = await t.post('default', 'token', cc, { ...basic(client.clientId, client.clientSecret), dpop: await make(await proofKey()) });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_dpop_proof');
      expect(res.headers['cache-control']).toBe('no-store');
    });
  }

  it('RFC 9449 §4.3: htu is compared without query and fragment, after normalisation', async () => {
    const key = await proofKey();
    const res = await t.post('default', 'token', cc, { ...basic(client.clientId, client.clientSecret), dpop: await proof(key, { htu: 'HTTP://Tessera.TEST:80/t/default/./token?x=1#f' }) });
    expect(res.statusCode).toBe(200);
  });

  it('RFC 9449 §4.3: two DPoP headers are refused', async () => {
    const key = await proofKey();
    const res = await t.app.inject({
      method: 'POST',
      url: '/t/default/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(client.clientId, client.clientSecret), dpop: [await proof(key), await proof(key)] },
      payload: 'grant_type=client_credentials',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_dpop_proof');
  });

  it('RFC 9449 §5.2: a client with dpopBoundAccessTokens gets nothing without a proof', async () => {
    const bound = await t.setupClient('default', { apiIdentifier: 'https://dpop-orders.example', scopes: ['orders:read'], client: { dpopBoundAccessTokens: true } });
    const got = await t.manage('GET', `/tenants/default/clients/${bound.clientId}`);
    expect(got.body.dpopBoundAccessTokens).toBe(true);
    const without = await t.post('default', 'token', cc, basic(bound.clientId, bound.clientSecret));
    expect(without.statusCode).toBe(400);
    expect(without.json().error).toBe('invalid_dpop_proof');
    const withProof = await t.post('default', 'token', cc, { ...basic(bound.clientId, bound.clientSecret), dpop: await proof(await proofKey()) });
    expect(withProof.statusCode).toBe(200);
    expect(withProof.json().token_type).toBe('DPoP');
  });

  it('RFC 9449 §5.1: discovery lists dpop_signing_alg_values_supported (asymmetric only)', async () => {
    const metadata = (await t.app.inject({ method: 'GET', url: '/t/default/.well-known/openid-configuration' })).json();
    expect(metadata.dpop_signing_alg_values_supported).toContain('ES256');
    expect(metadata.dpop_signing_alg_values_supported.some((alg: string) => /^(none|HS)/.test(alg))).toBe(false);
  });

  it('RFC 9449 §6.2: introspection of an opaque DPoP-bound token reports token_type DPoP and cnf.jkt', async () => {
    const opaque = await t.setupClient('default', { apiIdentifier: 'https://dpop-opaque.example', tokenFormat: 'opaque' });
    const key = await proofKey();
    const issued = await t.post('default', 'token', cc, { ...basic(opaque.clientId, opaque.clientSecret), dpop: await proof(key) });
    expect(issued.json().token_type).toBe('DPoP');
    const introspected = await t.post('default', 'introspect', { token: issued.json().access_token }, basic(opaque.clientId, opaque.clientSecret));
    expect(introspected.json()).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
  });

  it('a DPoP-bound token presented as Bearer to the management API is refused (RFC 9449 §7.1)', async () => {
    const key = await proofKey();
    const res = await t.post('admin', 'token', { grant_type: 'client_credentials', audience: 'urn:tessera:management', scope: 'manage:read' }, { ...basic(t.admin.clientId, t.admin.clientSecret), dpop: await proof(key, { htu: `${PUBLIC_URL}/t/admin/token` }) });
    expect(res.json().token_type).toBe('DPoP');
    const manage = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${res.json().access_token}` } });
    expect(manage.statusCode).toBe(401);
  });
});

describe('server nonces (RFC 9449 §8)', () => {
  let nonceClient: { clientId: string; clientSecret: string };
  beforeAll(async () => {
    expect((await t.manage('POST', '/tenants', { id: 'nonces', dpopNonceRequired: true })).status).toBe(201);
    nonceClient = await t.setupClient('nonces', { apiIdentifier: 'https://nonce-api.example' });
  });
  const url = `${PUBLIC_URL}/t/nonces/token`;

  it('RFC 9449 §8: a proof without the nonce gets 400 use_dpop_nonce with DPoP-Nonce; with it, a token', async () => {
    const key = await proofKey();
    const first = await t.post('nonces', 'token', cc, { ...basic(nonceClient.clientId, nonceClient.clientSecret), dpop: await proof(key, { htu: url }) });
    expect(first.statusCode).toBe(400);
    expect(first.json().error).toBe('use_dpop_nonce');
    const nonce = first.headers['dpop-nonce'] as string;
    expect(typeof nonce).toBe('string');
    const second = await t.post('nonces', 'token', cc, { ...basic(nonceClient.clientId, nonceClient.clientSecret), dpop: await proof(key, { htu: url, nonce }) });
    expect(second.statusCode).toBe(200);
    expect(second.json().token_type).toBe('DPoP');
    expect(second.headers['dpop-nonce']).toBeDefined();
    const wrong = await t.post('nonces', 'token', cc, { ...basic(nonceClient.clientId, nonceClient.clientSecret), dpop: await proof(key, { htu: url, nonce: 'made-up' }) });
    expect(wrong.json().error).toBe('use_dpop_nonce');
  });

  it('a nonce of one tenant is not good for another', async () => {
    expect((await t.manage('POST', '/tenants', { id: 'nonces2', dpopNonceRequired: true })).status).toBe(201);
    const other = await t.setupClient('nonces2', { apiIdentifier: 'https://nonce-api.example' });
    const key = await proofKey();
    const first = await t.post('nonces', 'token', cc, { ...basic(nonceClient.clientId, nonceClient.clientSecret), dpop: await proof(key, { htu: url }) });
    const nonce = first.headers['dpop-nonce'] as string;
    const res = await t.post('nonces2', 'token', cc, { ...basic(other.clientId, other.clientSecret), dpop: await proof(key, { htu: `${PUBLIC_URL}/t/nonces2/token`, nonce }) });
    expect(res.json().error).toBe('use_dpop_nonce');
  });
});

describe('interop: oauth4webapi with DPoP against the server', () => {
  function injectFetch(app: FastifyInstance) {
    return async (url: string, options: { method: string; headers: Record<string, string>; body: unknown }): Promise<Response> => {
      const target = new URL(url);
      const res = await app.inject({ method: options.method as 'POST', url: target.pathname + target.search, headers: options.headers, ...(options.body !== undefined ? { payload: String(options.body) } : {}) });
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers.set(name, String(value));
      return new Response(res.statusCode === 304 ? null : res.body, { status: res.statusCode, headers });
    };
  }

  it('gets a DPoP-bound token with client_credentials, retrying once on use_dpop_nonce', async () => {
    // oauth4webapi signs with the real clock; the server's frozen clock catches up.
    t.clock.now = Date.now();
    const options = { [oauth.customFetch]: injectFetch(t.app), [oauth.allowInsecureRequests]: true };
    const issuer = new URL(`${PUBLIC_URL}/t/nonces`);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...options, algorithm: 'oidc' }));
    const nonceClient = await t.setupClient('nonces', { apiIdentifier: 'https://nonce-api.example' });
    const oauthClient: oauth.Client = { client_id: nonceClient.clientId };
    const keyPair = await generateKeyPair('ES256');
    const DPoP = oauth.DPoP(oauthClient, keyPair);
    const request = () => oauth.clientCredentialsGrantRequest(as, oauthClient, oauth.ClientSecretBasic(nonceClient.clientSecret), { audience: 'https://nonce-api.example' }, { ...options, DPoP });
    let response: oauth.TokenEndpointResponse;
    try {
      response = await oauth.processClientCredentialsResponse(as, oauthClient, await request());
      throw new Error('expected use_dpop_nonce first');
    } catch (error) {
      expect(oauth.isDPoPNonceError(error)).toBe(true);
      response = await oauth.processClientCredentialsResponse(as, oauthClient, await request());
    }
    expect(response.token_type).toBe('dpop');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    expect(claimsOf(response.access_token).cnf).toEqual({ jkt });
  });
});

describe('DPoP with the other grants and with mTLS', () => {
  it('RFC 9449 §5 with RFC 8693: an exchanged token is bound to the exchanging request\'s proof', async () => {
    const caller = await t.setupClient('default', { apiIdentifier: 'https://dpop-front.example', scopes: ['front'] });
    const front = await t.setupClient('default', { apiIdentifier: 'https://dpop-back.example', scopes: ['back'] });
    const frontApi = (await t.manage('GET', '/tenants/default/apis?limit=200')).body.items.find((a: { identifier: string }) => a.identifier === 'https://dpop-front.example');
    await t.manage('PATCH', `/tenants/default/apis/${frontApi.id}`, { introspectors: [front.clientId] });
    const subject = (await t.post('default', 'token', cc, basic(caller.clientId, caller.clientSecret))).json().access_token;
    const key = await proofKey();
    const res = await t.post('default', 'token', {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subject,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'https://dpop-back.example',
    }, { ...basic(front.clientId, front.clientSecret), dpop: await proof(key) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ token_type: 'DPoP', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
    expect(claimsOf(res.json().access_token).cnf).toEqual({ jkt: key.jkt });
  });

  it('an mTLS-authenticated client that sends a proof gets a token bound to the proof, not the certificate', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { readFile } = await import('node:fs/promises');
    const { makeTempDir } = await import('./helpers/temp-dir.js');
    const dir = await makeTempDir();
    try {
      await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'c.key', '-out', 'c.pem', '-days', '1', '-subj', '/CN=dpop-mtls'], { cwd: dir.path });
      const cert = await readFile(`${dir.path}/c.pem`, 'utf8');
      const proxy = '10.0.0.9';
      const mtls = await createTestServer({ startAt: t.clock.now, config: { trustedProxies: [proxy] } });
      try {
        const setup = await mtls.setupClient('default', { apiIdentifier: 'https://dpop-mtls.example', client: { tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=dpop-mtls' } });
        const key = await proofKey();
        const res = await mtls.app.inject({
          method: 'POST', url: '/t/default/token', remoteAddress: proxy,
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-client-cert': encodeURIComponent(cert), 'x-client-verify': 'SUCCESS', dpop: await proof(key) },
          payload: new URLSearchParams({ grant_type: 'client_credentials', client_id: setup.clientId }).toString(),
        });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json().token_type).toBe('DPoP');
        expect(claimsOf(res.json().access_token).cnf).toEqual({ jkt: key.jkt });
      } finally {
        await mtls.close();
      }
    } finally {
      await dir.cleanup();
    }
  });
});

describe('DPoP with jwt-bearer (RFC 7523 §2.1)', () => {
  it('a workload\'s token from a federated assertion is bound to the request\'s proof', async () => {
    const { startExternalIdp } = await import('./helpers/external-idp.js');
    const fed = await createTestServer({ startAt: t.clock.now, config: { outboundAllow: ['127.0.0.1'] } });
    const idp = await startExternalIdp();
    try {
      const workload = await fed.setupClient('default', { apiIdentifier: 'https://reports.example', scopes: ['r'] });
      const created = await fed.manage('POST', '/tenants/default/federations', { name: 'cluster', issuer: idp.issuer, rules: [{ subject: 'system:serviceaccount:*', clientId: workload.clientId }] });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const assertion = await idp.sign({ sub: 'system:serviceaccount:prod:reporter', aud: `${PUBLIC_URL}/t/default` }, { now: fed.clock.now });
      const key = await proofKey();
      const res = await fed.post('default', 'token', { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }, { dpop: await proof(key) });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().token_type).toBe('DPoP');
      expect(claimsOf(res.json().access_token).cnf).toEqual({ jkt: key.jkt });
    } finally {
      await fed.close();
      await idp.close();
    }
  });
});
