import { afterAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';
import { createTestDatabase } from './helpers/postgres.js';

describe('when the store goes down', () => {
  let t: TestServer;
  afterAll(() => t.close().catch(() => {}));

  it('cached tenants keep issuing JWTs; anything needing the store gets 503 temporarily_unavailable', async () => {
    t = await createTestServer();
    const c = await t.setupClient('default');
    const opaque = await t.setupClient('default', { apiIdentifier: 'https://opaque.example', tokenFormat: 'opaque' });
    // Warm the cache, then take the store away.
    expect((await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
    await t.store.close();

    const cached = await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret));
    expect(cached.statusCode).toBe(200);

    const needsStore = await t.post('default', 'token', { grant_type: 'client_credentials', audience: 'https://opaque.example' }, basic(opaque.clientId, opaque.clientSecret));
    expect(needsStore.statusCode).toBe(503);
    expect(needsStore.json()).toMatchObject({ error: 'temporarily_unavailable' });
    expect(needsStore.headers['retry-after']).toBeDefined();

    t.app.tessera.registry.clear();
    const uncached = await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret));
    expect(uncached.statusCode).toBe(503);
    expect(uncached.json()).toMatchObject({ error: 'temporarily_unavailable' });

    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    const manage = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: 'Bearer x' } });
    expect(manage.statusCode).toBe(503);
    expect(manage.json()).toMatchObject({ error: expect.any(String) });
  });
});

const pg = await createTestDatabase();
describe.skipIf(pg === null)(`HTTP on PostgreSQL${pg === null ? ' (skipped: TESSERA_TEST_DATABASE_URL not set)' : ''}`, () => {
  let t: TestServer;
  afterAll(async () => {
    await t?.close();
    await pg?.drop();
  });

  it('runs the whole client-credentials flow against PostgreSQL', async () => {
    t = await createTestServer({ databaseUrl: pg!.url });
    expect(t.store.kind).toBe('postgres');
    const c = await t.setupClient('default', { scopes: ['a', 'b'], granted: ['a'] });
    const res = await t.post('default', 'token', { grant_type: 'client_credentials', scope: 'a' }, basic(c.clientId, c.clientSecret));
    expect(res.statusCode).toBe(200);
    const token = res.json().access_token;
    const introspected = await t.post('default', 'introspect', { token }, basic(c.clientId, c.clientSecret));
    expect(introspected.json()).toMatchObject({ active: true, scope: 'a' });
    await t.post('default', 'revoke', { token }, basic(c.clientId, c.clientSecret));
    expect((await t.post('default', 'introspect', { token }, basic(c.clientId, c.clientSecret))).json()).toEqual({ active: false });
    const rotated = await t.manage('POST', '/tenants/default/keys/rotate', {});
    expect(rotated.status).toBe(200);
  });

  it('an algorithm change racing a rotation always leaves one active and one next key', async () => {
    const algs = ['RS256', 'EdDSA', 'ES256', 'PS256'] as const;
    for (let round = 0; round < 4; round++) {
      const [patched, rotated] = await Promise.all([
        t.manage('PATCH', '/tenants/default', { signingAlg: algs[round] }),
        t.manage('POST', '/tenants/default/keys/rotate', {}),
      ]);
      expect([patched.status, rotated.status]).toEqual([200, 200]);
      const keys = (await t.manage('GET', '/tenants/default/keys')).body.items as { status: string }[];
      expect(keys.filter((k) => k.status === 'active'), `round ${round}`).toHaveLength(1);
      expect(keys.filter((k) => k.status === 'next'), `round ${round}`).toHaveLength(1);
    }
  });

  it('concurrent secret additions never leave more than two live secrets', async () => {
    const created = await t.manage('POST', '/tenants/default/clients', { name: 'racy' });
    const results = await Promise.all(Array.from({ length: 8 }, () => t.manage('POST', `/tenants/default/clients/${created.body.clientId}/secrets`)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(7);
    expect((await t.manage('GET', `/tenants/default/clients/${created.body.clientId}`)).body.secrets).toHaveLength(2);
  });
});
