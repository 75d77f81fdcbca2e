import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
});
afterAll(() => t.close());

describe('management API authentication (RFC 6750 §3)', () => {
  it('no token: 401 with a bare Bearer challenge', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="tessera-management"');
    expect(res.json()).toMatchObject({ error: 'unauthorized' });
  });

  it('RFC 6750 §3.1: another scheme is a bare challenge; a malformed Bearer header is 400 invalid_request', async () => {
    const basicScheme = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    expect(basicScheme.statusCode).toBe(401);
    expect(basicScheme.headers['www-authenticate']).toBe('Bearer realm="tessera-management"');
    for (const header of ['Bearer', 'Bearer a b', 'Bearer "x"']) {
      const res = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: header } });
      expect(res.statusCode, header).toBe(400);
      const challenge = res.headers['www-authenticate'] as string;
      expect(challenge).toContain('error="invalid_request"');
      // every quoted-string value is well-formed: no quote inside
      expect(challenge).toMatch(/^Bearer (\w+="[^"\\]*")(, \w+="[^"\\]*")*$/);
    }
  });

  it('SPEC §5: without a valid token it is 401 before the body is looked at (not 422 or 400)', async () => {
    const invalid = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants', payload: { id: 'NOT VALID', unknown: 1 } });
    expect(invalid.statusCode).toBe(401);
    const malformed = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants/default/clients', headers: { 'content-type': 'application/json' }, payload: '{not json' });
    expect(malformed.statusCode).toBe(401);
    const badToken = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants', headers: { authorization: 'Bearer nope' }, payload: { id: 'NOT VALID' } });
    expect(badToken.statusCode).toBe(401);
    const readOnly = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${await t.adminToken('manage:read')}` }, payload: { id: 'NOT VALID' } });
    expect(readOnly.statusCode).toBe(403);
  });

  it('a bad token: 401 invalid_token', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: 'Bearer abc.def.ghi' } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('a token of another API or tenant does not open the management API', async () => {
    const setup = await t.setupClient('default');
    const token = (await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(setup.clientId, setup.clientSecret))).json().access_token;
    const res = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(401);
  });

  it('manage:read cannot write: 403 insufficient_scope', async () => {
    const token = await t.adminToken('manage:read');
    const read = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${token}` } });
    expect(read.statusCode).toBe(200);
    const write = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${token}` }, payload: { id: 'x1' } });
    expect(write.statusCode).toBe(403);
    expect(write.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(write.headers['www-authenticate']).toContain('scope="manage:write"');
  });

  it('removing or narrowing an admin client\'s grant takes effect on its tokens at once', async () => {
    const admin = await t.setupClient('admin', { apiIdentifier: 'urn:tessera:management', scopes: ['manage:read', 'manage:write'], granted: ['manage:read', 'manage:write'] });
    const res = await t.post('admin', 'token', { grant_type: 'client_credentials' }, basic(admin.clientId, admin.clientSecret));
    const authorization = `Bearer ${res.json().access_token}`;
    const write = () => t.app.inject({ method: 'POST', url: '/manage/v1/tenants', headers: { authorization }, payload: { id: `g-${Math.random().toString(36).slice(2, 8)}` } });
    expect((await write()).statusCode).toBe(201);
    const grant = (await t.manage('GET', `/tenants/admin/grants?clientId=${admin.clientId}`)).body.items[0];
    await t.manage('DELETE', `/tenants/admin/grants/${grant.id}`);
    await t.manage('POST', '/tenants/admin/grants', { clientId: admin.clientId, audience: 'urn:tessera:management', scopes: ['manage:read'] });
    expect((await write()).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization } })).statusCode).toBe(200);
    const narrowed = (await t.manage('GET', `/tenants/admin/grants?clientId=${admin.clientId}`)).body.items[0];
    await t.manage('DELETE', `/tenants/admin/grants/${narrowed.id}`);
    expect((await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization } })).statusCode).toBe(401);
  });

  it('a revoked admin token stops working', async () => {
    const res = await t.post('admin', 'token', { grant_type: 'client_credentials', audience: 'urn:tessera:management', scope: 'manage:read' }, basic(t.admin.clientId, t.admin.clientSecret));
    const token = res.json().access_token;
    await t.post('admin', 'revoke', { token }, basic(t.admin.clientId, t.admin.clientSecret));
    const after = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${token}` } });
    expect(after.statusCode).toBe(401);
  });
});

describe('tenants', () => {
  it('creates, lists, gets and deletes; each tenant is its own issuer', async () => {
    const created = await t.manage('POST', '/tenants', { id: 'acme', name: 'Acme' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'acme', name: 'Acme', signingAlg: 'ES256', issuer: `${PUBLIC_URL}/t/acme` });
    const list = await t.manage('GET', '/tenants');
    expect(list.body.items.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining(['default', 'admin', 'acme']));
    const discovery = await t.app.inject({ method: 'GET', url: '/t/acme/.well-known/openid-configuration' });
    expect(discovery.json().issuer).toBe(`${PUBLIC_URL}/t/acme`);
    expect((await t.manage('DELETE', '/tenants/acme')).status).toBe(204);
    expect((await t.manage('GET', '/tenants/acme')).status).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/t/acme/jwks.json' })).statusCode).toBe(404);
  });

  it('rejects bad ids (422), malformed bodies (400), duplicates (409), and deleting admin (403)', async () => {
    for (const id of ['Upper', '-dash', 'a'.repeat(64), 'sp ace', '']) {
      const res = await t.manage('POST', '/tenants', { id });
      expect(res.status, id).toBe(422);
      expect(res.body).toMatchObject({ error: 'validation_failed' });
    }
    expect((await t.manage('POST', '/tenants', { id: 42 })).status).toBe(400);
    for (const accessTokenLifetime of [59, 86_401]) {
      expect((await t.manage('POST', '/tenants', { id: 'lifetimes', accessTokenLifetime })).status, String(accessTokenLifetime)).toBe(422);
    }
    expect((await t.manage('POST', '/tenants', { id: 'lifetimes', accessTokenLifetime: 'long' })).status).toBe(400);
    expect((await t.manage('GET', '/tenants/default/clients?limit=abc')).status).toBe(400);
    expect((await t.manage('POST', '/tenants', {})).status).toBe(400);
    expect((await t.manage('POST', '/tenants', { id: 'dup' })).status).toBe(201);
    const again = await t.manage('POST', '/tenants', { id: 'dup' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: 'conflict' });
    expect(typeof again.body.message).toBe('string');
    expect((await t.manage('DELETE', '/tenants/admin')).status).toBe(403);
  });

  it('creates tenants that sign with RS256, PS256 and EdDSA', async () => {
    for (const alg of ['RS256', 'PS256', 'EdDSA']) {
      const id = `alg-${alg.toLowerCase()}`;
      expect((await t.manage('POST', '/tenants', { id, signingAlg: alg })).status).toBe(201);
      const setup = await t.setupClient(id);
      const res = await t.post(id, 'token', { grant_type: 'client_credentials' }, basic(setup.clientId, setup.clientSecret));
      const header = JSON.parse(Buffer.from(res.json().access_token.split('.')[0], 'base64url').toString());
      expect(header.alg).toBe(alg);
    }
  });
});

describe('clients, APIs and grants', () => {
  it('validates names, scopes and references', async () => {
    expect((await t.manage('POST', '/tenants/default/clients', { name: '' })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'x'.repeat(100) })).status).toBe(201);
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'x'.repeat(101) })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'ok', tokenEndpointAuthMethod: 'password' })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'ok', unknownField: 1 })).status).toBe(400);
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'ok', tokenEndpointAuthMethod: 'private_key_jwt' })).status).toBe(422);
    for (const jwks of [{ keys: [{ kty: 'EC' }] }, { keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB' }] }]) {
      expect((await t.manage('POST', '/tenants/default/clients', { name: 'bad key', tokenEndpointAuthMethod: 'private_key_jwt', jwks })).status, JSON.stringify(jwks)).toBe(422);
    }
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'bad dn', tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'garbage' })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/clients', { name: '\u0000' })).status).toBe(422);
    const cleartextKeys = await t.manage('POST', '/tenants/default/clients', { name: 'ok', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'http://keys.example/jwks' });
    expect(cleartextKeys.status).toBe(422);
    expect(cleartextKeys.body.message).toContain('https');
    expect((await t.manage('POST', '/tenants/default/apis', { identifier: 'https://v.example', scopes: [{ value: 'bad scope' }] })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/apis', { identifier: 'https://v.example', scopes: [{ value: 'x'.repeat(129) }] })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/apis', { identifier: 'https://v.example', scopes: 'read' })).status).toBe(400);
    expect((await t.manage('POST', '/tenants/default/apis', { identifier: 'https://v.example', scopes: [{ value: 'a' }, { value: 'a' }] })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/nosuch/clients', { name: 'x' })).status).toBe(404);
    const api = await t.manage('POST', '/tenants/default/apis', { identifier: 'https://v.example', scopes: [{ value: 'a' }] });
    expect(api.status).toBe(201);
    expect((await t.manage('POST', '/tenants/default/apis', { identifier: 'https://v.example', scopes: [] })).status).toBe(409);
    const client = await t.manage('POST', '/tenants/default/clients', { name: 'v' });
    expect((await t.manage('POST', '/tenants/default/grants', { clientId: client.body.clientId, audience: 'https://v.example', scopes: ['nope'] })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/grants', { clientId: 'ghost', audience: 'https://v.example', scopes: ['a'] })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/grants', { clientId: client.body.clientId, audience: 'https://v.example', scopes: ['a'] })).status).toBe(201);
    expect((await t.manage('POST', '/tenants/default/grants', { clientId: client.body.clientId, audience: 'https://v.example', scopes: ['a'] })).status).toBe(409);
    const malformed = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants/default/clients', headers: { authorization: `Bearer ${await t.adminToken()}`, 'content-type': 'application/json' }, payload: '{"name":' });
    expect(malformed.statusCode).toBe(400);
  });

  it('never shows a secret after creation, nor a private key', async () => {
    const created = await t.manage('POST', '/tenants/default/clients', { name: 'secretive' });
    expect(created.body.clientSecret).toBeDefined();
    const got = await t.manage('GET', `/tenants/default/clients/${created.body.clientId}`);
    const list = await t.manage('GET', '/tenants/default/clients?limit=200');
    for (const body of [got.body, list.body]) {
      expect(JSON.stringify(body)).not.toContain(created.body.clientSecret);
      expect(JSON.stringify(body)).not.toContain('hash');
    }
    const keys = await t.manage('GET', '/tenants/default/keys');
    expect(JSON.stringify(keys.body)).not.toMatch(/"d"|privateKey|BEGIN/);
  });

  it('a client that switches to private_key_jwt loses its secrets: switching back does not revive them', async () => {
    const { generateKeyPair, exportJWK } = await import('jose');
    const { publicKey } = await generateKeyPair('ES256');
    const c = await t.setupClient('default');
    expect((await t.manage('POST', `/tenants/default/clients/${c.clientId}/secrets`)).status).toBe(201);
    const switched = await t.manage('PATCH', `/tenants/default/clients/${c.clientId}`, { tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [await exportJWK(publicKey)] } });
    expect(switched.status).toBe(200);
    expect(switched.body.secrets).toEqual([]);
    const back = await t.manage('PATCH', `/tenants/default/clients/${c.clientId}`, { tokenEndpointAuthMethod: 'client_secret_basic', jwks: null });
    expect(back.status).toBe(200);
    expect(back.body.secrets).toEqual([]);
    const token = await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret));
    expect(token.statusCode).toBe(401);
    const audit = await t.manage('GET', '/tenants/default/audit');
    expect(JSON.stringify(audit.body)).toContain('client.secret.delete');
  });

  it('pages clients with a cursor', async () => {
    await t.manage('POST', '/tenants', { id: 'paging' });
    for (let i = 0; i < 5; i++) await t.manage('POST', '/tenants/paging/clients', { name: `c${i}` });
    const first = await t.manage('GET', '/tenants/paging/clients?limit=2');
    expect(first.body.items).toHaveLength(2);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const seen = new Set<string>(first.body.items.map((c: { clientId: string }) => c.clientId));
    let cursor = first.body.nextCursor;
    while (cursor) {
      const page = await t.manage('GET', `/tenants/paging/clients?limit=2&cursor=${encodeURIComponent(cursor)}`);
      for (const c of page.body.items) seen.add(c.clientId);
      cursor = page.body.nextCursor;
    }
    expect(seen.size).toBe(5);
    expect((await t.manage('GET', '/tenants/paging/clients?cursor=garbage')).status).toBe(400);
  });

  it('filters grants by client and audience; deleting a grant denies tokens', async () => {
    const setup = await t.setupClient('default', { apiIdentifier: 'https://grants.example' });
    const list = await t.manage('GET', `/tenants/default/grants?clientId=${setup.clientId}`);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({ clientId: setup.clientId, audience: 'https://grants.example' });
    const byAudience = await t.manage('GET', '/tenants/default/grants?audience=https%3A%2F%2Fgrants.example');
    expect(byAudience.body.items.length).toBeGreaterThanOrEqual(1);
    await t.manage('DELETE', `/tenants/default/grants/${list.body.items[0].id}`);
    const res = await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(setup.clientId, setup.clientSecret));
    expect(res.json()).toMatchObject({ error: 'invalid_target' });
  });

  it('records every change in the audit log, without secrets', async () => {
    const created = await t.manage('POST', '/tenants/default/clients', { name: 'audited' });
    await t.manage('POST', `/tenants/default/clients/${created.body.clientId}/secrets`);
    const audit = await t.manage('GET', `/tenants/default/audit?targetId=${created.body.clientId}`);
    const actions = audit.body.items.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['client.create', 'client.secret.create']));
    expect(audit.body.items[0].actor).toBe(t.admin.clientId);
    expect(JSON.stringify(audit.body)).not.toContain(created.body.clientSecret);
    const filtered = await t.manage('GET', '/tenants/default/audit?action=client.create&limit=1');
    expect(filtered.body.items).toHaveLength(1);
  });
});

describe('bodiless requests', () => {
  it('a POST without a body, or with an empty JSON body, is not malformed', async () => {
    const token = await t.adminToken();
    const bare = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants/default/keys/rotate', headers: { authorization: `Bearer ${token}` } });
    expect(bare.statusCode).toBe(200);
    const created = await t.manage('POST', '/tenants/default/clients', { name: 'bodiless' });
    const emptyJson = await t.app.inject({ method: 'POST', url: `/manage/v1/tenants/default/clients/${created.body.clientId}/secrets`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '' });
    expect(emptyJson.statusCode).toBe(201);
    const poisoned = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '{"id":"p1","__proto__":{"x":1}}' });
    expect(poisoned.statusCode).toBe(400);
  });
});

describe('OpenAPI', () => {
  it('describes every management route from the same schemas', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/manage/v1/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/tenants', '/tenants/{tenant}/clients', '/tenants/{tenant}/grants', '/tenants/{tenant}/keys/rotate', '/tenants/{tenant}/audit']));
    expect(doc.paths['/tenants/{tenant}/clients'].post.requestBody).toBeDefined();
  });
});

describe('discovery (RFC 8414)', () => {
  it('serves the same metadata at both well-known locations', async () => {
    const oidc = (await t.app.inject({ method: 'GET', url: '/t/default/.well-known/openid-configuration' })).json();
    const rfc8414 = await t.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server/t/default' });
    expect(rfc8414.statusCode).toBe(200);
    expect(rfc8414.json()).toEqual(oidc);
    expect(oidc).toMatchObject({
      issuer: `${PUBLIC_URL}/t/default`,
      token_endpoint: `${PUBLIC_URL}/t/default/token`,
      jwks_uri: `${PUBLIC_URL}/t/default/jwks.json`,
      introspection_endpoint: `${PUBLIC_URL}/t/default/introspect`,
      revocation_endpoint: `${PUBLIC_URL}/t/default/revoke`,
    });
    expect(oidc.grant_types_supported).toEqual(expect.arrayContaining(['client_credentials', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:token-exchange']));
    expect(oidc.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post']));
    expect(oidc.introspection_endpoint_auth_methods_supported).toBeDefined();
    expect(oidc.revocation_endpoint_auth_methods_supported).toBeDefined();
  });

  it('JWKS answers 304 to a matching If-None-Match', async () => {
    const first = await t.app.inject({ method: 'GET', url: '/t/default/jwks.json' });
    expect(first.headers['cache-control']).toMatch(/max-age=\d+/);
    const second = await t.app.inject({ method: 'GET', url: '/t/default/jwks.json', headers: { 'if-none-match': first.headers['etag'] as string } });
    expect(second.statusCode).toBe(304);
  });

  it('health and readiness', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
