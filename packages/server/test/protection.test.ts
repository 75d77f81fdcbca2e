/**
 * Protection on by default (SPEC §1, §3): failed client authentications back off with
 * 429 + Retry-After per source address and per client and source address, without
 * locking a real client out from a clean address; quotas per client and per tenant,
 * enforced or only monitored; the management API backs off failed authentications.
 * Every test runs with the defaults a stranger gets unless it says otherwise.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { basic, createTestServer, form, type TestServer } from './helpers/app.js';

let t: TestServer;
afterEach(async () => {
  await t?.close();
});

function tokenFrom(address: string, headers: Record<string, string>, values: Record<string, string> = { grant_type: 'client_credentials' }): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/t/default/token',
    remoteAddress: address,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: form(values),
  });
}

async function statuses(count: number, send: (i: number) => Promise<LightMyRequestResponse>): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i += 1) result.push((await send(i)).statusCode);
  return result;
}

function expectRetryAfter(response: LightMyRequestResponse): void {
  expect(response.statusCode).toBe(429);
  const retryAfter = Number(response.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.json().error_description).toMatch(/failed client authentications/);
}

describe('back-off after failed client authentications (on by default)', () => {
  it('a client and address that fail 10 times get 429 with Retry-After; the same client from a clean address still gets tokens', async () => {
    t = await createTestServer();
    const c = await t.setupClient('default');
    const wrong = basic(c.clientId, `${c.clientSecret}x`);
    expect(await statuses(10, () => tokenFrom('203.0.113.7', wrong))).toEqual(Array(10).fill(401));
    const refused = await tokenFrom('203.0.113.7', wrong);
    expectRetryAfter(refused);
    // Even the right secret waits from that address: the credentials are not looked at.
    expectRetryAfter(await tokenFrom('203.0.113.7', basic(c.clientId, c.clientSecret)));
    expect((await tokenFrom('198.51.100.20', basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
    // Failures by client_secret_post count for the same client and address.
    expectRetryAfter(await tokenFrom('203.0.113.7', {}, { grant_type: 'client_credentials', client_id: c.clientId, client_secret: 'nope' }));
  });

  it('the back-off lasts until the window ends, then the address may try again', async () => {
    t = await createTestServer();
    const c = await t.setupClient('default');
    const wrong = basic(c.clientId, 'wrong');
    await statuses(10, () => tokenFrom('203.0.113.8', wrong));
    const refused = await tokenFrom('203.0.113.8', basic(c.clientId, c.clientSecret));
    expect(refused.statusCode).toBe(429);
    t.clock.advance(Number(refused.headers['retry-after']) * 1000);
    expect((await tokenFrom('203.0.113.8', basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
  });

  it('an address that fails 100 times whatever the client ids it claims backs off for every client', async () => {
    t = await createTestServer();
    const c = await t.setupClient('default');
    const results = await statuses(100, (i) => tokenFrom('203.0.113.9', basic(`guess-${i}`, 'wrong')));
    expect(results).toEqual(Array(100).fill(401));
    expectRetryAfter(await tokenFrom('203.0.113.9', basic('guess-new', 'wrong')));
    expectRetryAfter(await tokenFrom('203.0.113.9', basic(c.clientId, c.clientSecret)));
    expect((await tokenFrom('198.51.100.21', basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
  });

  it('an attack on one client from many addresses: past 100 failures, an address that failed once backs off, a clean one does not', async () => {
    t = await createTestServer();
    const c = await t.setupClient('default');
    const wrong = basic(c.clientId, 'wrong');
    const results = await statuses(100, (i) => tokenFrom(`10.1.${Math.floor(i / 200)}.${i % 200}`, wrong));
    expect(results).toEqual(Array(100).fill(401));
    expectRetryAfter(await tokenFrom('10.1.0.5', wrong));
    expectRetryAfter(await tokenFrom('10.1.0.5', basic(c.clientId, c.clientSecret)));
    // A new attacking address gets its one failure, then backs off.
    expect((await tokenFrom('10.9.9.9', wrong)).statusCode).toBe(401);
    expectRetryAfter(await tokenFrom('10.9.9.9', wrong));
    // The real client, from its own clean address, is not locked out.
    expect((await tokenFrom('198.51.100.22', basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
  });

  it('successful requests are never limited without a quota (SPEC §1)', async () => {
    t = await createTestServer();
    const c = await t.setupClient('default');
    const ok = basic(c.clientId, c.clientSecret);
    expect(new Set(await statuses(250, () => tokenFrom('198.51.100.23', ok)))).toEqual(new Set([200]));
  });

  it('failed authentications at introspection and revocation count too', async () => {
    t = await createTestServer();
    const c = await t.setupClient('default');
    const send = () => t.app.inject({ method: 'POST', url: '/t/default/introspect', remoteAddress: '203.0.113.10', headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(c.clientId, 'wrong') }, payload: form({ token: 'x' }) });
    expect(await statuses(10, send)).toEqual(Array(10).fill(401));
    expect((await send()).statusCode).toBe(429);
  });

  it('behind a trusted proxy, the back-off counts the forwarded client address, not the proxy', async () => {
    t = await createTestServer({ config: { trustedProxies: ['10.0.0.2'] } });
    const c = await t.setupClient('default');
    const via = (client: string, secret: string) => t.app.inject({
      method: 'POST',
      url: '/t/default/token',
      remoteAddress: '10.0.0.2',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': client, ...basic(c.clientId, secret) },
      payload: form({ grant_type: 'client_credentials' }),
    });
    expect(await statuses(10, () => via('203.0.113.50', 'wrong'))).toEqual(Array(10).fill(401));
    expect((await via('203.0.113.50', c.clientSecret)).statusCode).toBe(429);
    expect((await via('198.51.100.50', c.clientSecret)).statusCode).toBe(200);
    // An untrusted peer's X-Forwarded-For is ignored: it is counted as itself.
    const spoofed = () => t.app.inject({ method: 'POST', url: '/t/default/token', remoteAddress: '203.0.113.60', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': `198.51.100.${Math.floor(Math.random() * 200)}`, ...basic(c.clientId, 'wrong') }, payload: form({ grant_type: 'client_credentials' }) });
    expect(await statuses(10, spoofed)).toEqual(Array(10).fill(401));
    expect((await spoofed()).statusCode).toBe(429);
  });

  it('failed client assertions count for the address, not for the client: the client is not backed off by them', async () => {
    t = await createTestServer({ config: { rateLimit: { authFailures: { perSource: 15 } } } });
    const c = await t.setupClient('default');
    const assertion = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    const bad = () => tokenFrom('203.0.113.12', {}, { grant_type: 'client_credentials', client_id: c.clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
    // Beyond the 10 a wrong secret would get, still 401: only the address counts them...
    expect(await statuses(15, bad)).toEqual(Array(15).fill(401));
    // ...until the address reaches its own limit.
    expect((await bad()).statusCode).toBe(429);
    expect((await tokenFrom('198.51.100.12', basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
  });

  it('--auth-backoff 0 turns the back-off off', async () => {
    t = await createTestServer({ config: { rateLimit: { authFailures: { perSource: 0, perClientAndSource: 0, perClient: 0 } } } });
    const c = await t.setupClient('default');
    expect(new Set(await statuses(40, () => tokenFrom('203.0.113.11', basic(c.clientId, 'wrong'))))).toEqual(new Set([401]));
  });
});

describe('quotas', () => {
  it('a client quota refuses past its requests per minute with 429 and Retry-After (--rate-limit)', async () => {
    t = await createTestServer({ config: { rateLimit: { tokenRequestsPerWindow: 3 } } });
    const c = await t.setupClient('default');
    const ok = basic(c.clientId, c.clientSecret);
    expect(await statuses(3, () => tokenFrom('198.51.100.30', ok))).toEqual([200, 200, 200]);
    const refused = await tokenFrom('198.51.100.31', ok);
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another client of the tenant has its own quota.
    const other = await t.setupClient('default');
    expect((await tokenFrom('198.51.100.30', basic(other.clientId, other.clientSecret))).statusCode).toBe(200);
  });

  it('a tenant quota counts every client of the tenant; a per-tenant value overrides it', async () => {
    t = await createTestServer({ config: { rateLimit: { tenantRequestsPerWindow: 100, tenantQuotas: { default: 2 } } } });
    const a = await t.setupClient('default');
    const b = await t.setupClient('default');
    expect((await tokenFrom('198.51.100.32', basic(a.clientId, a.clientSecret))).statusCode).toBe(200);
    expect((await tokenFrom('198.51.100.32', basic(b.clientId, b.clientSecret))).statusCode).toBe(200);
    expect((await tokenFrom('198.51.100.32', basic(b.clientId, b.clientSecret))).statusCode).toBe(429);
  });

  it('a quota set on a client through the management API overrides the server default; null returns to it', async () => {
    t = await createTestServer({ config: { rateLimit: { tokenRequestsPerWindow: 100 } } });
    const c = await t.setupClient('default', { client: { tokenQuotaPerMinute: 2 } });
    const got = await t.manage('GET', `/tenants/default/clients/${c.clientId}`);
    expect(got.body.tokenQuotaPerMinute).toBe(2);
    const ok = basic(c.clientId, c.clientSecret);
    expect(await statuses(3, () => tokenFrom('198.51.100.34', ok))).toEqual([200, 200, 429]);
    const patched = await t.manage('PATCH', `/tenants/default/clients/${c.clientId}`, { tokenQuotaPerMinute: null });
    expect(patched.status).toBe(200);
    expect(patched.body.tokenQuotaPerMinute).toBeNull();
    expect((await tokenFrom('198.51.100.34', ok)).statusCode).toBe(200);
    expect((await t.manage('PATCH', `/tenants/default/clients/${c.clientId}`, { tokenQuotaPerMinute: -1 })).status).toBe(422);
  });

  it('a quota set on a tenant through the management API counts every client of the tenant', async () => {
    t = await createTestServer();
    const created = await t.manage('POST', '/tenants', { id: 'metered', tokenQuotaPerMinute: 3 });
    expect(created.status).toBe(201);
    expect(created.body.tokenQuotaPerMinute).toBe(3);
    const a = await t.setupClient('metered');
    const b = await t.setupClient('metered');
    const send = (c: { clientId: string; clientSecret: string }) => t.app.inject({ method: 'POST', url: '/t/metered/token', remoteAddress: '198.51.100.35', headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(c.clientId, c.clientSecret) }, payload: form({ grant_type: 'client_credentials' }) });
    expect([(await send(a)).statusCode, (await send(b)).statusCode, (await send(a)).statusCode, (await send(b)).statusCode]).toEqual([200, 200, 200, 429]);
    // The default tenant has no quota.
    const d = await t.setupClient('default');
    expect(new Set(await statuses(5, () => tokenFrom('198.51.100.35', basic(d.clientId, d.clientSecret))))).toEqual(new Set([200]));
  });

  it('monitor mode counts requests over quota in the metrics without refusing them', async () => {
    t = await createTestServer({ config: { rateLimit: { tokenRequestsPerWindow: 2, mode: 'monitor' } } });
    const c = await t.setupClient('default');
    expect(await statuses(5, () => tokenFrom('198.51.100.33', basic(c.clientId, c.clientSecret)))).toEqual([200, 200, 200, 200, 200]);
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('tessera_rate_limit_rejections_total{limit="client_quota",mode="monitor"} 3');
  });
});

describe('management API', () => {
  it('an address that fails management authentication 100 times gets 429 with Retry-After', async () => {
    t = await createTestServer();
    const send = () => t.app.inject({ method: 'GET', url: '/manage/v1/tenants', remoteAddress: '203.0.113.40', headers: { authorization: 'Bearer not-a-token' } });
    expect(await statuses(100, send)).toEqual(Array(100).fill(401));
    const refused = await send();
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.json()).toMatchObject({ error: 'too_many_requests' });
    // Another address with a valid token is served.
    const ok = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', remoteAddress: '198.51.100.40', headers: { authorization: `Bearer ${await t.adminToken()}` } });
    expect(ok.statusCode).toBe(200);
  });

  it('--management-rate-limit limits management requests per address', async () => {
    t = await createTestServer({ config: { rateLimit: { managementRequestsPerWindow: 3 } } });
    const token = await t.adminToken();
    const send = () => t.app.inject({ method: 'GET', url: '/manage/v1/tenants', remoteAddress: '198.51.100.41', headers: { authorization: `Bearer ${token}` } });
    expect(await statuses(4, send)).toEqual([200, 200, 200, 429]);
  });
});
