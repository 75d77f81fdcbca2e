import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from './helpers/app.js';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer();
  expect((await t.manage('POST', '/tenants', { id: 'payments' })).status).toBe(201);
  expect((await t.manage('POST', '/tenants', { id: 'shipping' })).status).toBe(201);
});
afterAll(() => t.close());

async function signIn(username: string, password: string): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: '/console/login', payload: { username, password }, remoteAddress: '10.9.0.1' });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().access_token as string;
}

/** A management call with a console session. */
async function as(token: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown) {
  const res = await t.app.inject({ method, url: `/manage/v1${path}`, headers: { authorization: `Bearer ${token}` }, ...(body !== undefined ? { payload: body as object } : {}) });
  return { status: res.statusCode, body: res.body === '' ? undefined : res.json() };
}

describe('console users', () => {
  it('lists the bootstrap user as an admin for every tenant, without any password or hash', async () => {
    const list = await t.manage('GET', '/console-users');
    expect(list.status).toBe(200);
    const admin = list.body.items.find((u: { username: string }) => u.username === t.console.user);
    expect(admin).toEqual({ username: t.console.user, role: 'admin', createdAt: expect.any(Number), updatedAt: null });
    expect(JSON.stringify(list.body)).not.toMatch(/scrypt|password/i);
  });

  it('creates a viewer with a one-time password: the viewer reads, and every change is refused with 403', async () => {
    const created = await t.manage('POST', '/console-users', { username: 'vera', role: 'viewer' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'vera', role: 'viewer' });
    expect(created.body.tenants).toBeUndefined();
    expect(created.body.password).toMatch(/^[A-Za-z0-9_-]{24,}$/);
    expect((await t.manage('GET', '/console-users/vera')).body.password).toBeUndefined();

    const token = await signIn('vera', created.body.password);
    expect((await as(token, 'GET', '/tenants')).body.items.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining(['default', 'payments', 'admin']));
    expect((await as(token, 'GET', '/tenants/payments/clients')).status).toBe(200);
    expect((await as(token, 'GET', '/console-users')).status).toBe(200);
    expect((await as(token, 'GET', '/whoami')).body).toEqual({ actor: 'console:vera', clientId: expect.any(String), scopes: ['manage:read'], role: 'viewer' });
    const write = await as(token, 'POST', '/tenants/payments/clients', { name: 'nope' });
    expect(write.status).toBe(403);
    expect(write.body.error).toBe('insufficient_scope');
    expect((await as(token, 'PATCH', '/tenants/payments', { name: 'x' })).status).toBe(403);
    expect((await as(token, 'POST', '/console-users', { username: 'mallory', role: 'admin' })).status).toBe(403);
    expect((await as(token, 'DELETE', `/console-users/${t.console.user}`)).status).toBe(403);
  });

  it('limits a user to its tenants on every call: others are 403, the tenant list is filtered, global and admin-tenant routes are refused', async () => {
    const created = await t.manage('POST', '/console-users', { username: 'pat', role: 'admin', tenants: ['payments'] });
    expect(created.status).toBe(201);
    expect(created.body.tenants).toEqual(['payments']);
    const token = await signIn('pat', created.body.password);

    expect((await as(token, 'POST', '/tenants/payments/clients', { name: 'billing' })).status).toBe(201);
    const elsewhere = await as(token, 'POST', '/tenants/shipping/clients', { name: 'billing' });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.body).toEqual({ error: 'forbidden', message: expect.stringContaining('shipping') });
    expect((await as(token, 'GET', '/tenants/shipping/clients')).status).toBe(403);
    expect((await as(token, 'GET', '/tenants/shipping')).status).toBe(403);
    expect((await as(token, 'GET', '/tenants/shipping/usage/top?by=client')).status).toBe(403);
    expect((await as(token, 'GET', '/tenants/admin/clients')).status).toBe(403);
    expect((await as(token, 'GET', '/tenants')).body.items.map((x: { id: string }) => x.id)).toEqual(['payments']);
    expect((await as(token, 'POST', '/tenants', { id: 'pats-own' })).status).toBe(403);
    expect((await as(token, 'GET', '/console-users')).status).toBe(403);
    expect((await as(token, 'POST', '/console-users', { username: 'pat2', role: 'admin' })).status).toBe(403);
    expect((await as(token, 'GET', '/whoami')).body).toEqual({ actor: 'console:pat', clientId: expect.any(String), scopes: ['manage:read', 'manage:write'], tenants: ['payments'], role: 'admin' });
    // A tenant the user may not see is refused before anything about it is told.
    expect((await as(token, 'GET', '/tenants/no-such-tenant')).status).toBe(403);
  });

  it('applies a change of role or tenants to sessions already signed in, at once', async () => {
    const created = await t.manage('POST', '/console-users', { username: 'ada', role: 'admin' });
    const token = await signIn('ada', created.body.password);
    expect((await as(token, 'PATCH', '/tenants/shipping', { name: 'Shipping' })).status).toBe(200);
    const narrowed = await t.manage('PATCH', '/console-users/ada', { role: 'viewer', tenants: ['shipping'] });
    expect(narrowed.status).toBe(200);
    expect(narrowed.body).toMatchObject({ username: 'ada', role: 'viewer', tenants: ['shipping'] });
    expect(narrowed.body.password).toBeUndefined();
    expect((await as(token, 'PATCH', '/tenants/shipping', { name: 'Shipping 2' })).status).toBe(403);
    expect((await as(token, 'GET', '/tenants/shipping')).status).toBe(200);
    expect((await as(token, 'GET', '/tenants/payments')).status).toBe(403);
    const widened = await t.manage('PATCH', '/console-users/ada', { role: 'admin', tenants: null });
    expect(widened.body.tenants).toBeUndefined();
    expect((await as(token, 'GET', '/tenants/payments')).status).toBe(200);
  });

  it('ends the sessions of a deleted user, and of a user whose password was reset', async () => {
    const created = await t.manage('POST', '/console-users', { username: 'rex', role: 'viewer' });
    const old = await signIn('rex', created.body.password);
    t.clock.advance(1000);
    const reset = await t.manage('PATCH', '/console-users/rex', { resetPassword: true });
    expect(reset.status).toBe(200);
    expect(reset.body.password).toMatch(/^[A-Za-z0-9_-]{24,}$/);
    expect(reset.body.password).not.toBe(created.body.password);
    expect((await as(old, 'GET', '/tenants')).status).toBe(401);
    const wrong = await t.app.inject({ method: 'POST', url: '/console/login', payload: { username: 'rex', password: created.body.password }, remoteAddress: '10.9.0.2' });
    expect(wrong.statusCode).toBe(401);
    const fresh = await signIn('rex', reset.body.password);
    expect((await as(fresh, 'GET', '/tenants')).status).toBe(200);
    expect((await t.manage('DELETE', '/console-users/rex')).status).toBe(204);
    expect((await as(fresh, 'GET', '/tenants')).status).toBe(401);
    expect((await t.manage('GET', '/console-users/rex')).status).toBe(404);
    expect((await t.manage('DELETE', '/console-users/rex')).status).toBe(404);
  });

  it('refuses to delete or narrow the last admin for every tenant (409), and allows it once there is another', async () => {
    const solo = await createTestServer();
    try {
      const admin = solo.console.user;
      expect((await solo.manage('DELETE', `/console-users/${admin}`)).status).toBe(409);
      const downgrade = await solo.manage('PATCH', `/console-users/${admin}`, { role: 'viewer' });
      expect(downgrade.status).toBe(409);
      expect(downgrade.body.error).toBe('conflict');
      expect((await solo.manage('PATCH', `/console-users/${admin}`, { tenants: ['default'] })).status).toBe(409);
      // An admin of some tenants only does not count.
      expect((await solo.manage('POST', '/console-users', { username: 'some', role: 'admin', tenants: ['default'] })).status).toBe(201);
      expect((await solo.manage('DELETE', `/console-users/${admin}`)).status).toBe(409);
      expect((await solo.manage('POST', '/console-users', { username: 'second', role: 'admin' })).status).toBe(201);
      expect((await solo.manage('PATCH', `/console-users/${admin}`, { role: 'viewer' })).status).toBe(200);
      expect((await solo.manage('DELETE', '/console-users/second')).status).toBe(409);
      expect((await solo.manage('GET', `/console-users/${admin}`)).body.role).toBe('viewer');
    } finally {
      await solo.close();
    }
  });

  it('tells an admin client who it is (no role: it is not a console user)', async () => {
    expect((await t.manage('GET', '/whoami')).body).toEqual({ actor: t.admin.clientId, clientId: t.admin.clientId, scopes: ['manage:read', 'manage:write'] });
  });

  it('validates input: user name, role, tenants (never the admin tenant), duplicates', async () => {
    expect((await t.manage('POST', '/console-users', { username: 'bad name', role: 'viewer' })).status).toBe(422);
    expect((await t.manage('POST', '/console-users', { username: 'ok', role: 'root' })).status).toBe(422);
    expect((await t.manage('POST', '/console-users', { username: 'ok', role: 'viewer', tenants: [] })).status).toBe(422);
    expect((await t.manage('POST', '/console-users', { username: 'ok', role: 'viewer', tenants: ['Not A Tenant'] })).status).toBe(422);
    const adminTenant = await t.manage('POST', '/console-users', { username: 'ok', role: 'admin', tenants: ['admin'] });
    expect(adminTenant.status).toBe(422);
    expect(adminTenant.body.message).toContain('admin tenant');
    expect((await t.manage('POST', '/console-users', { username: 'ok', role: 'viewer', password: 'chosen' })).status).toBe(400);
    expect((await t.manage('POST', '/console-users', { role: 'viewer' })).status).toBe(400);
    expect((await t.manage('POST', '/console-users', { username: t.console.user, role: 'viewer' })).status).toBe(409);
    expect((await t.manage('PATCH', '/console-users/nobody', { role: 'viewer' })).status).toBe(404);
    expect((await t.manage('PATCH', `/console-users/${t.console.user}`, {})).status).toBe(400);
    const anonymous = await t.app.inject({ method: 'POST', url: '/manage/v1/console-users', payload: { username: 'x', role: 'admin' } });
    expect(anonymous.statusCode).toBe(401);
  });

  it('audits every change in the admin tenant, naming who made it and never the password', async () => {
    await t.manage('POST', '/console-users', { username: 'audited', role: 'viewer', tenants: ['payments'] });
    await t.manage('PATCH', '/console-users/audited', { role: 'admin', resetPassword: true });
    await t.manage('DELETE', '/console-users/audited');
    const audit = await t.manage('GET', '/tenants/admin/audit?targetType=console_user&targetId=audited');
    const entries = audit.body.items as { action: string; actor: string; details: Record<string, unknown> }[];
    expect(entries.map((e) => e.action)).toEqual(['console_user.delete', 'console_user.update', 'console_user.create']);
    expect(entries.every((e) => e.actor === t.admin.clientId)).toBe(true);
    expect(entries[2]?.details).toEqual({ role: 'viewer', tenants: ['payments'] });
    expect(entries[1]?.details).toEqual({ role: 'admin', passwordReset: true });
    expect(JSON.stringify(entries)).not.toMatch(/scrypt/);
  });
});
