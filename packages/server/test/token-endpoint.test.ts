import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

let t: TestServer;
let client: { clientId: string; clientSecret: string; identifier: string };

beforeAll(async () => {
  t = await createTestServer();
  client = await t.setupClient('default', { apiIdentifier: 'https://orders.example', scopes: ['orders:read', 'orders:write', 'orders:admin'], granted: ['orders:read', 'orders:write'] });
});
afterAll(() => t.close());

const cc = { grant_type: 'client_credentials' };

describe('client_credentials (RFC 6749 §4.4)', () => {
  it('issues an RFC 9068 JWT for everything granted, verifiable with the JWKS', async () => {
    const res = await t.post('default', 'token', cc, basic(client.clientId, client.clientSecret));
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['pragma']).toBe('no-cache');
    const body = res.json();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'orders:read orders:write' });
    expect(typeof body.expires_in).toBe('number');
    expect(body.refresh_token).toBeUndefined();
    const header = decodeProtectedHeader(body.access_token);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    expect(typeof header.kid).toBe('string');
    const jwks = (await t.app.inject({ method: 'GET', url: '/t/default/jwks.json' })).json();
    const { payload } = await jwtVerify(body.access_token, createLocalJWKSet(jwks), {
      issuer: `${PUBLIC_URL}/t/default`,
      audience: 'https://orders.example',
      typ: 'at+jwt',
      currentDate: new Date(t.clock.now),
    });
    expect(payload).toMatchObject({ sub: client.clientId, client_id: client.clientId, scope: 'orders:read orders:write' });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(typeof payload.jti).toBe('string');
  });

  it('RFC 9068 §2.2: every token gets its own jti and the current iat; none is handed out twice', async () => {
    const claimsOf = async () => {
      const res = await t.post('default', 'token', { ...cc, resource: 'https://orders.example', scope: 'orders:read' }, basic(client.clientId, client.clientSecret));
      expect(res.statusCode).toBe(200);
      const token = res.json().access_token as string;
      return { token, ...(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { jti: string; iat: number }) };
    };
    const first = await claimsOf();
    const second = await claimsOf();
    expect(second.jti).not.toBe(first.jti);
    expect(second.token).not.toBe(first.token);
    t.clock.advance(5_000);
    const later = await claimsOf();
    expect(later.iat).toBe(first.iat + 5);
  });

  it('a resource that is not an absolute URI is refused every time, not only the first (RFC 8707 §2)', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await t.post('default', 'token', { ...cc, resource: 'orders' }, basic(client.clientId, client.clientSecret));
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_target');
    }
  });

  it('accepts client_secret_post from a client registered for it', async () => {
    const post = await t.setupClient('default', { client: { tokenEndpointAuthMethod: 'client_secret_post' } });
    const res = await t.post('default', 'token', { ...cc, client_id: post.clientId, client_secret: post.clientSecret });
    expect(res.statusCode).toBe(200);
  });

  it('names the API by audience or by RFC 8707 resource', async () => {
    for (const param of ['audience', 'resource']) {
      const res = await t.post('default', 'token', { ...cc, [param]: 'https://orders.example' }, basic(client.clientId, client.clientSecret));
      expect(res.statusCode, param).toBe(200);
    }
  });

  it('issues a requested subset of the granted scopes', async () => {
    const res = await t.post('default', 'token', { ...cc, scope: 'orders:read' }, basic(client.clientId, client.clientSecret));
    expect(res.json().scope).toBe('orders:read');
  });

  it('RFC 6749 §5.2: a scope that is not granted is invalid_scope', async () => {
    const res = await t.post('default', 'token', { ...cc, scope: 'orders:read orders:admin' }, basic(client.clientId, client.clientSecret));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_scope' });
    expect(res.json().error_description).toContain('orders:admin');
  });

  it('RFC 6749 §3.3: a malformed scope is invalid_scope', async () => {
    const res = await t.post('default', 'token', { ...cc, scope: 'orders:read  orders:write' }, basic(client.clientId, client.clientSecret));
    expect(res.json()).toMatchObject({ error: 'invalid_scope' });
  });

  it('RFC 8707 §2: an unknown or ungranted API is invalid_target', async () => {
    await t.manage('POST', '/tenants/default/apis', { identifier: 'https://other.example', scopes: [{ value: 'x' }] });
    for (const audience of ['https://nope.example', 'https://other.example']) {
      const res = await t.post('default', 'token', { ...cc, audience }, basic(client.clientId, client.clientSecret));
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid_target' });
    }
  });

  it('RFC 8707 §2: a resource that is not an absolute URI is invalid_target', async () => {
    const res = await t.post('default', 'token', { ...cc, resource: 'orders' }, basic(client.clientId, client.clientSecret));
    expect(res.json()).toMatchObject({ error: 'invalid_target' });
  });

  it('a client with several grants must name the API (invalid_request)', async () => {
    const multi = await t.setupClient('default', { apiIdentifier: 'https://a.example' });
    await t.manage('POST', '/tenants/default/apis', { identifier: 'https://b.example', scopes: [{ value: 'read' }] });
    await t.manage('POST', '/tenants/default/grants', { clientId: multi.clientId, audience: 'https://b.example', scopes: ['read'] });
    const res = await t.post('default', 'token', cc, basic(multi.clientId, multi.clientSecret));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    expect(res.json().error_description).toMatch(/audience|resource/);
    const named = await t.post('default', 'token', { ...cc, audience: 'https://b.example' }, basic(multi.clientId, multi.clientSecret));
    expect(named.statusCode).toBe(200);
  });

  it('deny by default: a client without grants gets invalid_target', async () => {
    const created = await t.manage('POST', '/tenants/default/clients', { name: 'no grants' });
    const res = await t.post('default', 'token', cc, basic(created.body.clientId, created.body.clientSecret));
    expect(res.json()).toMatchObject({ error: 'invalid_target' });
  });

  it('honours lifetimes: client over API over tenant', async () => {
    const setup = await t.setupClient('default', { client: { accessTokenLifetime: 120 } });
    const res = await t.post('default', 'token', cc, basic(setup.clientId, setup.clientSecret));
    expect(res.json().expires_in).toBe(120);
  });
});

describe('RFC 6749 §5.2 errors', () => {
  it('§3.2: a repeated parameter is invalid_request', async () => {
    const res = await t.post('default', 'token', { grant_type: ['client_credentials', 'client_credentials'] }, basic(client.clientId, client.clientSecret));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    const scope = await t.post('default', 'token', { ...cc, scope: ['orders:read', 'orders:write'] }, basic(client.clientId, client.clientSecret));
    expect(scope.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('§3.1: a parameter without a value counts as omitted', async () => {
    const res = await t.post('default', 'token', { ...cc, scope: '' }, basic(client.clientId, client.clientSecret));
    expect(res.statusCode).toBe(200);
    expect(res.json().scope).toBe('orders:read orders:write');
  });

  it('a missing grant_type is invalid_request', async () => {
    const res = await t.post('default', 'token', {}, basic(client.clientId, client.clientSecret));
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('an unknown grant_type is unsupported_grant_type', async () => {
    const res = await t.post('default', 'token', { grant_type: 'password' }, basic(client.clientId, client.clientSecret));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'unsupported_grant_type' });
  });

  it('§5.2: a wrong secret over Basic is 401 invalid_client with WWW-Authenticate', async () => {
    const res = await t.post('default', 'token', cc, basic(client.clientId, 'wrong'));
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
    expect(res.headers['www-authenticate']).toMatch(/^Basic realm="/);
  });

  it('§5.2: a wrong secret in the body is 401 invalid_client, with a Basic challenge (RFC 9110 §15.5.2: every 401 has one)', async () => {
    const post = await t.setupClient('default', { client: { tokenEndpointAuthMethod: 'client_secret_post' } });
    const res = await t.post('default', 'token', { ...cc, client_id: post.clientId, client_secret: 'wrong' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
    expect(res.headers['www-authenticate']).toMatch(/^Basic realm="/);
  });

  it('an unknown client reads exactly like a wrong secret', async () => {
    const unknown = await t.post('default', 'token', cc, basic('nobody', 'wrong'));
    const wrong = await t.post('default', 'token', cc, basic(client.clientId, 'wrong'));
    expect(unknown.json()).toEqual(wrong.json());
  });

  it('no client authentication at all is 401 invalid_client', async () => {
    const res = await t.post('default', 'token', { ...cc, client_id: client.clientId });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('§2.3: two authentication methods at once is invalid_request', async () => {
    const res = await t.post('default', 'token', { ...cc, client_id: client.clientId, client_secret: client.clientSecret }, basic(client.clientId, client.clientSecret));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('§2.3.1: Basic credentials are form-urlencoded, and garbage Basic is invalid_client', async () => {
    const garbage = await t.post('default', 'token', cc, { authorization: 'Basic !!!' });
    expect(garbage.statusCode).toBe(401);
    const noColon = await t.post('default', 'token', cc, { authorization: `Basic ${Buffer.from('abc').toString('base64')}` });
    expect(noColon.statusCode).toBe(401);
    const badEscape = await t.post('default', 'token', cc, { authorization: `Basic ${Buffer.from('%zz:%zz').toString('base64')}` });
    expect(badEscape.statusCode).toBe(401);
    const bearer = await t.post('default', 'token', cc, { authorization: 'Bearer abc' });
    expect(bearer.statusCode).toBe(401);
  });

  it('a disabled client is invalid_client', async () => {
    const setup = await t.setupClient('default');
    await t.manage('PATCH', `/tenants/default/clients/${setup.clientId}`, { disabled: true });
    const res = await t.post('default', 'token', cc, basic(setup.clientId, setup.clientSecret));
    expect(res.statusCode).toBe(401);
  });

  it('a JSON body is invalid_request, not 415 or 500', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/t/default/token', headers: { 'content-type': 'application/json', ...basic(client.clientId, client.clientSecret) }, payload: JSON.stringify(cc) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    expect(res.json().error_description).toContain('x-www-form-urlencoded');
  });

  it('an oversized body is 413 with an OAuth error body', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/t/default/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `grant_type=client_credentials&pad=${'x'.repeat(70_000)}` });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('GET on the token endpoint is 405 with Allow: POST', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/t/default/token' });
    expect(res.statusCode).toBe(405);
    expect(res.headers['allow']).toBe('POST');
  });

  it('an unknown tenant is 404', async () => {
    const res = await t.post('nosuch', 'token', cc, basic(client.clientId, client.clientSecret));
    expect(res.statusCode).toBe(404);
  });

  it('malformed inputs never produce a 5xx', async () => {
    const bodies = ['%', '%%%%', 'grant_type', '=&=&', 'grant_type=client_credentials&scope=%00', '\u0000\u0001', 'a'.repeat(1000), 'grant_type=client_credentials&resource=%E0%A4%A'];
    const headerSets: Record<string, string>[] = [{}, basic(client.clientId, client.clientSecret), { authorization: 'Basic' }, { authorization: 'Basic ' + 'A'.repeat(5000) }];
    const types = ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded; charset=latin1'];
    for (const payload of bodies) {
      for (const headers of headerSets) {
        for (const type of types) {
          const res = await t.app.inject({ method: 'POST', url: '/t/default/token', headers: { 'content-type': type, ...headers }, payload });
          expect(res.statusCode, `${type} ${payload.slice(0, 20)}`).toBeGreaterThanOrEqual(400);
          expect(res.statusCode).toBeLessThan(500);
          expect(typeof res.json().error_description).toBe('string');
        }
      }
    }
  });
});

describe('secrets', () => {
  it('two secrets work at once for rotation; a deleted one stops working; a third is refused', async () => {
    const setup = await t.setupClient('default');
    const added = await t.manage('POST', `/tenants/default/clients/${setup.clientId}/secrets`);
    expect(added.status).toBe(201);
    expect(added.body.clientSecret).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
    for (const secret of [setup.clientSecret, added.body.clientSecret]) {
      expect((await t.post('default', 'token', cc, basic(setup.clientId, secret))).statusCode).toBe(200);
    }
    expect((await t.manage('POST', `/tenants/default/clients/${setup.clientId}/secrets`)).status).toBe(409);
    const shown = await t.manage('GET', `/tenants/default/clients/${setup.clientId}`);
    expect(shown.body.secrets).toHaveLength(2);
    expect(JSON.stringify(shown.body)).not.toContain(setup.clientSecret);
    const old = shown.body.secrets.find((s: { id: string }) => s.id !== added.body.id);
    expect((await t.manage('DELETE', `/tenants/default/clients/${setup.clientId}/secrets/${old.id}`)).status).toBe(204);
    expect((await t.post('default', 'token', cc, basic(setup.clientId, setup.clientSecret))).statusCode).toBe(401);
    expect((await t.post('default', 'token', cc, basic(setup.clientId, added.body.clientSecret))).statusCode).toBe(200);
  });

  it('secrets are stored only as hashes', async () => {
    const setup = await t.setupClient('default');
    const stored = await t.store.listClientSecrets('default', setup.clientId);
    expect(stored[0]?.hash).toMatch(/^sha256\$/);
    expect(stored[0]?.hash).not.toContain(setup.clientSecret);
  });
});

describe('rate limiting', () => {
  it('answers 429 with Retry-After once a client exceeds its limit', async () => {
    const limited = await createTestServer({ config: { rateLimit: { tokenRequestsPerWindow: 2, windowSeconds: 60 } } });
    try {
      const setup = await limited.setupClient('default');
      const ask = () => limited.post('default', 'token', { grant_type: 'client_credentials' }, basic(setup.clientId, setup.clientSecret));
      expect((await ask()).statusCode).toBe(200);
      expect((await ask()).statusCode).toBe(200);
      const third = await ask();
      expect(third.statusCode).toBe(429);
      expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
      expect(third.json().error_description).toBeDefined();
      limited.clock.advance(60_000);
      expect((await ask()).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
