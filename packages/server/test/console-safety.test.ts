/**
 * SPEC §5: the console's own client and the last grant of manage:write in the admin
 * tenant cannot be disabled, deleted, revoked or given a secret: 409, whoever asks.
 * Sign-out revokes the console token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CLIENT_META } from '../src/domain/console.js';
import { basic, createTestServer, type TestServer } from './helpers/app.js';

const AUDIENCE = 'urn:tessera:management';
let t: TestServer;
let consoleClientId: string;

beforeAll(async () => {
  t = await createTestServer();
  consoleClientId = (await t.store.getMeta(CONSOLE_CLIENT_META)) ?? '';
});
afterAll(() => t.close());

const grantOf = async (clientId: string) => (await t.manage('GET', `/tenants/admin/grants?clientId=${clientId}&audience=${encodeURIComponent(AUDIENCE)}`)).body.items[0];
const consoleToken = async () => {
  const res = await t.app.inject({ method: 'POST', url: '/console/login', payload: { username: t.console.user, password: t.console.password } });
  return res.json().access_token as string;
};

describe("the console's own client cannot be locked out (SPEC §5)", () => {
  it('cannot be disabled, deleted or given a secret: 409 with a clear message', async () => {
    const disable = await t.manage('PATCH', `/tenants/admin/clients/${consoleClientId}`, { disabled: true });
    expect(disable.status).toBe(409);
    expect(disable.body.error).toBe('conflict');
    expect(disable.body.message).toContain("console's own client cannot be disabled");
    const del = await t.manage('DELETE', `/tenants/admin/clients/${consoleClientId}`);
    expect(del.status).toBe(409);
    expect(del.body.message).toContain('cannot be deleted');
    const secret = await t.manage('POST', `/tenants/admin/clients/${consoleClientId}/secrets`);
    expect(secret.status).toBe(409);
    expect(secret.body.message).toContain('cannot be given a secret');
    const keys = await t.manage('PATCH', `/tenants/admin/clients/${consoleClientId}`, { tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=intruder' });
    expect(keys.status).toBe(409);
    expect(keys.body.message).toContain('cannot be given keys');
    const after = await t.manage('GET', `/tenants/admin/clients/${consoleClientId}`);
    expect(after.body.tokenEndpointAuthMethod).toBe('client_secret_basic');
    expect(after.body.disabled).toBe(false);
    expect(after.body.secrets).toEqual([]);
  });

  it('its grant cannot be revoked, even by a console user', async () => {
    const grant = await grantOf(consoleClientId);
    const res = await t.app.inject({ method: 'DELETE', url: `/manage/v1/tenants/admin/grants/${grant.id}`, headers: { authorization: `Bearer ${await consoleToken()}` } });
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toContain('cannot be revoked');
    expect((await grantOf(consoleClientId)).id).toBe(grant.id);
  });

  it('renaming it, or changing its lifetime, is still allowed', async () => {
    const res = await t.manage('PATCH', `/tenants/admin/clients/${consoleClientId}`, { name: 'Tessera console' });
    expect(res.status).toBe(200);
  });
});

describe('the last grant of manage:write in the admin tenant (SPEC §5)', () => {
  it('cannot be revoked, nor its client disabled or deleted; once another admin holds manage:write it can', async () => {
    // Its own server: the bootstrap admin loses its grant on the way.
    const shared = t;
    t = await createTestServer();
    try {
      await lastGrantScenario();
    } finally {
      await t.close();
      t = shared;
    }
  });

  async function lastGrantScenario(): Promise<void> {
    const adminGrant = await grantOf(t.admin.clientId);
    const revoke = await t.manage('DELETE', `/tenants/admin/grants/${adminGrant.id}`);
    expect(revoke.status).toBe(409);
    expect(revoke.body.message).toContain('last grant of manage:write');
    expect((await t.manage('PATCH', `/tenants/admin/clients/${t.admin.clientId}`, { disabled: true })).status).toBe(409);
    expect((await t.manage('DELETE', `/tenants/admin/clients/${t.admin.clientId}`)).status).toBe(409);

    // A read-only admin does not count: it cannot keep Tessera manageable.
    const reader = await t.manage('POST', '/tenants/admin/clients', { name: 'reader' });
    await t.manage('POST', '/tenants/admin/grants', { clientId: reader.body.clientId, audience: AUDIENCE, scopes: ['manage:read'] });
    expect((await t.manage('DELETE', `/tenants/admin/grants/${adminGrant.id}`)).status).toBe(409);

    // A second writer: now the first grant may go, and the second becomes the last.
    const second = await t.manage('POST', '/tenants/admin/clients', { name: 'second admin' });
    const secondGrant = await t.manage('POST', '/tenants/admin/grants', { clientId: second.body.clientId, audience: AUDIENCE, scopes: ['manage:read', 'manage:write'] });
    // A disabled writer does not count either.
    await t.manage('PATCH', `/tenants/admin/clients/${second.body.clientId}`, { disabled: true });
    expect((await t.manage('DELETE', `/tenants/admin/grants/${adminGrant.id}`)).status).toBe(409);
    expect((await t.manage('PATCH', `/tenants/admin/clients/${second.body.clientId}`, { disabled: false })).status).toBe(200);

    const secondToken = (await t.post('admin', 'token', { grant_type: 'client_credentials', audience: AUDIENCE }, basic(second.body.clientId, second.body.clientSecret))).json().access_token;
    const asSecond = (method: 'DELETE' | 'PATCH', url: string, payload?: object) =>
      t.app.inject({ method, url: `/manage/v1${url}`, headers: { authorization: `Bearer ${secondToken}` }, ...(payload ? { payload } : {}) });
    expect((await asSecond('DELETE', `/tenants/admin/grants/${adminGrant.id}`)).statusCode).toBe(204);
    const last = await asSecond('DELETE', `/tenants/admin/grants/${secondGrant.body.id}`);
    expect(last.statusCode).toBe(409);
    expect((await asSecond('DELETE', `/tenants/admin/clients/${second.body.clientId}`)).statusCode).toBe(409);
    expect((await asSecond('PATCH', `/tenants/admin/clients/${second.body.clientId}`, { disabled: true })).statusCode).toBe(409);
    // Giving the last admin a second secret is rotation, not a lock-out.
    expect((await t.app.inject({ method: 'POST', url: `/manage/v1/tenants/admin/clients/${second.body.clientId}/secrets`, headers: { authorization: `Bearer ${secondToken}` } })).statusCode).toBe(201);
  }

  it('two concurrent revocations of the last two writers leave one', async () => {
    const a = await t.manage('POST', '/tenants/admin/clients', { name: 'writer a' });
    await t.manage('POST', '/tenants/admin/grants', { clientId: a.body.clientId, audience: AUDIENCE, scopes: ['manage:write'] });
    const writers = (await t.manage('GET', `/tenants/admin/grants?audience=${encodeURIComponent(AUDIENCE)}&limit=200`)).body.items
      .filter((g: { clientId: string; scopes: string[] }) => g.clientId !== consoleClientId && g.scopes.includes('manage:write'));
    expect(writers.length).toBe(2);
    const tokenA = (await t.post('admin', 'token', { grant_type: 'client_credentials', audience: AUDIENCE }, basic(a.body.clientId, a.body.clientSecret))).json().access_token;
    const results = await Promise.all(writers.map((g: { id: string }) =>
      t.app.inject({ method: 'DELETE', url: `/manage/v1/tenants/admin/grants/${g.id}`, headers: { authorization: `Bearer ${tokenA}` } })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([204, 409]);
    // Whichever went, give the bootstrap admin its grant back for the tests that follow.
    const remaining = await t.app.inject({ method: 'GET', url: `/manage/v1/tenants/admin/grants?clientId=${t.admin.clientId}`, headers: { authorization: `Bearer ${tokenA}` } });
    // 401: writer a's grant went, so the bootstrap admin's stayed.
    if (remaining.statusCode === 200 && remaining.json().items.length === 0) {
      const regrant = await t.app.inject({ method: 'POST', url: '/manage/v1/tenants/admin/grants', headers: { authorization: `Bearer ${tokenA}` }, payload: { clientId: t.admin.clientId, audience: AUDIENCE, scopes: ['manage:read', 'manage:write'] } });
      expect(regrant.statusCode).toBe(201);
    }
  });

  it('the management API cannot be deleted or lose its scopes', async () => {
    const apis = (await t.app.inject({ method: 'GET', url: '/manage/v1/tenants/admin/apis', headers: { authorization: `Bearer ${await consoleToken()}` } })).json().items;
    const api = apis.find((a: { identifier: string }) => a.identifier === AUDIENCE);
    const token = await consoleToken();
    const del = await t.app.inject({ method: 'DELETE', url: `/manage/v1/tenants/admin/apis/${api.id}`, headers: { authorization: `Bearer ${token}` } });
    expect(del.statusCode).toBe(409);
    const narrow = await t.app.inject({ method: 'PATCH', url: `/manage/v1/tenants/admin/apis/${api.id}`, headers: { authorization: `Bearer ${token}` }, payload: { scopes: [{ value: 'manage:read' }] } });
    expect(narrow.statusCode).toBe(409);
    const describe = await t.app.inject({ method: 'PATCH', url: `/manage/v1/tenants/admin/apis/${api.id}`, headers: { authorization: `Bearer ${token}` }, payload: { name: 'Management' } });
    expect(describe.statusCode).toBe(200);
  });

  it('other tenants are not concerned', async () => {
    await t.manage('POST', '/tenants', { id: 'plain' });
    const c = await t.manage('POST', '/tenants/plain/clients', { name: 'c' });
    expect((await t.manage('DELETE', `/tenants/plain/clients/${c.body.clientId}`)).status).toBe(204);
  });
});

describe('console sign-out', () => {
  it('revokes the console token at once', async () => {
    const token = await consoleToken();
    const list = () => t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${token}` } });
    expect((await list()).statusCode).toBe(200);
    const out = await t.app.inject({ method: 'POST', url: '/console/logout', headers: { authorization: `Bearer ${token}` } });
    expect(out.statusCode).toBe(204);
    expect(out.headers['cache-control']).toBe('no-store');
    expect((await list()).statusCode).toBe(401);
  });

  it('does not revoke tokens of other clients, and needs a bearer token', async () => {
    const adminToken = await t.adminToken();
    expect((await t.app.inject({ method: 'POST', url: '/console/logout', headers: { authorization: `Bearer ${adminToken}` } })).statusCode).toBe(204);
    expect((await t.manage('GET', '/tenants')).status).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/console/logout' })).statusCode).toBe(401);
  });
});
