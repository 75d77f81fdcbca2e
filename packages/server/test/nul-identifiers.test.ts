/**
 * A NUL in an identifier (a client id in credentials, a tenant, client or federation id
 * in a management path) names nothing: PostgreSQL text cannot hold one, and the store's
 * refusal must not surface as a 500. The embedded store, and PostgreSQL with
 * TESSERA_TEST_DATABASE_URL.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from './helpers/postgres.js';

const basicRaw = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

for (const kind of ['sqlite', 'postgres'] as const) describe.skipIf(kind === 'postgres' && testDatabaseUrl() === undefined)(`a NUL in an identifier (${kind})`, () => {
  let t: TestServer;
  let pg: TestDatabase | null = null;
  beforeEach(async () => {
    pg = kind === 'postgres' ? await createTestDatabase() : null;
    t = await createTestServer(pg !== null ? { databaseUrl: pg.url } : {});
  });
  afterEach(async () => {
    await t.close();
    await pg?.drop();
  });

  it('RFC 6749 §5.2 / RFC 7662 §2.1 / RFC 7009 §2.1: a client id with a NUL fails client authentication (401 invalid_client)', async () => {
    for (const [endpoint, params] of [['token', { grant_type: 'client_credentials' }], ['introspect', { token: 'x' }], ['revoke', { token: 'x' }]] as const) {
      const viaHeader = await t.post('default', endpoint, params, basicRaw('a%00b', 'secret'));
      expect(viaHeader.statusCode, endpoint).toBe(401);
      expect(viaHeader.json().error).toBe('invalid_client');
      const viaBody = await t.post('default', endpoint, { ...params, client_id: 'a\u0000b', client_secret: 'secret' });
      expect(viaBody.statusCode, endpoint).toBe(401);
    }
  });

  it('RFC 9449 §11.1: a DPoP proof whose jti holds a NUL is used once like any other (and never fails the other proofs stored with it)', async () => {
    const client = await t.setupClient('default', { apiIdentifier: 'https://orders.example', scopes: ['read'] });
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    const proof = (jti: string) =>
      new SignJWT({ htm: 'POST', htu: 'http://tessera.test/t/default/token', jti, iat: Math.floor(t.clock.now / 1000) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(privateKey);
    const send = async (dpop: string) => t.post('default', 'token', { grant_type: 'client_credentials' }, { ...basic(client.clientId, client.clientSecret), DPoP: dpop });
    const odd = await proof('a\u0000b');
    const [first, alongside] = await Promise.all([send(odd), send(await proof('plain-jti'))]);
    expect(alongside.statusCode).toBe(200);
    expect(first.statusCode).toBe(200);
    expect(first.json().token_type).toBe('DPoP');
    const replay = await send(odd);
    expect(replay.statusCode).toBe(400);
    expect(replay.json().error).toBe('invalid_dpop_proof');
  });

  it('a registration field stored as it is given (a federation audience, a subject DN) with a NUL is a 422, never a 500', async () => {
    const client = await t.setupClient('default', { apiIdentifier: 'https://orders.example', scopes: ['read'] });
    const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k' }] };
    const federation = await t.manage<{ error: string; message: string }>('POST', '/tenants/default/federations', { name: 'ci', issuer: 'https://idp.example', jwks, audience: 'a\u0000b', rules: [{ subject: 's', clientId: client.clientId }] });
    expect(federation.status).toBe(422);
    expect(federation.body.message).toMatch(/audience/);
    // RFC 4514 §2.4: a NUL in a DN string is escaped (\00), never written as it is.
    const dn = await t.manage<{ error: string; message: string }>('POST', '/tenants/default/clients', { name: 'mtls', tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=a\u0000b' });
    expect(dn.status).toBe(422);
    expect(dn.body.message).toMatch(/tlsClientAuthSubjectDn/);
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'mtls', tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=a\\00b' })).status).toBe(201);
  });

  it('a management path or filter with a NUL is a 4xx, never a 500', async () => {
    for (const path of ['/tenants/%00/clients', '/tenants/default/clients/a%00b', '/tenants/default/federations/a%00b', '/tenants/default/apis/a%00b']) {
      const response = await t.manage('GET', path);
      expect(response.status, path).toBeGreaterThanOrEqual(400);
      expect(response.status, path).toBeLessThan(500);
    }
    const filtered = await t.manage<{ error: string; message: string }>('GET', '/tenants/default/audit?actor=a%00b');
    expect(filtered.status).toBe(400);
    expect(filtered.body).toMatchObject({ error: 'invalid_request', message: expect.stringContaining('actor') });
  });
});
