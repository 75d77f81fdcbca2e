/**
 * Usage analytics (docs/usage.md): counts, roll-ups and retention with a frozen clock,
 * the reports of the management API, and counts adding up across two replicas on
 * PostgreSQL.
 */
import { createTokenClient, clientSecretBasic } from '@tessera/client';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { resolveConfig } from '../src/config/config.js';
import { MasterKey } from '../src/crypto/master-key.js';
import { UsageMaintenance, UsageRecorder } from '../src/domain/usage.js';
import { createStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { BUCKET_MS } from '../src/store/usage-store.js';
import { basic, createTestServer, PUBLIC_URL, TEST_MASTER_KEY, type TestServer } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { makeTempDir, type TempDir } from './helpers/temp-dir.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const START = Date.UTC(2026, 10, 22, 12, 0, 0);

type Series = { granularity: string; from: number; to: number; series: { start: number; issued: number; refused: number }[] };
const total = (s: Series, field: 'issued' | 'refused' = 'issued') => s.series.reduce((sum, p) => sum + p[field], 0);

describe('roll-ups and retention, with a frozen clock', () => {
  let dir: TempDir;
  let store: Store;
  const clock = { now: START };
  const now = () => clock.now;

  beforeEach(async () => {
    dir = await makeTempDir();
    store = await createStore({ dataDir: dir.path });
    clock.now = START;
  });
  afterEach(async () => {
    await store.close();
    await dir.cleanup();
  });

  const retention = { minutes: 2 * DAY, hours: 30 * DAY, days: 400 * DAY };
  const series = (granularity: 'minute' | 'hour' | 'day', from: number, to: number) => store.usage().series('t1', { source: granularity, bucketSize: BUCKET_MS[granularity], from, to });

  it('counts per minute, rolls minutes up to hours and days, and drops each granularity after its retention', async () => {
    const recorder = new UsageRecorder(store.usage(), now);
    const maintenance = new UsageMaintenance(store.usage(), retention, now);
    for (let i = 0; i < 5; i++) recorder.issued('t1', 'c1', 'https://api', ['read']);
    clock.now += MINUTE;
    for (let i = 0; i < 3; i++) recorder.issued('t1', 'c1', 'https://api', ['write', 'read']);
    recorder.refused('t1', 'c1', 'https://api', 'invalid_scope');
    await recorder.flush();
    clock.now = START + HOUR;
    recorder.issued('t1', 'c2', 'https://api', []);
    recorder.issued('t1', 'c2', 'https://api', []);
    await recorder.flush();

    await maintenance.run();
    await maintenance.run(); // idempotent: a second run (or another replica) replaces, never adds
    expect(await series('minute', START, START + 2 * HOUR)).toEqual([
      { start: START, issued: 5, refused: 0 },
      { start: START + MINUTE, issued: 3, refused: 1 },
      { start: START + HOUR, issued: 2, refused: 0 },
    ]);
    expect(await series('hour', START, START + 2 * HOUR)).toEqual([
      { start: START, issued: 8, refused: 1 },
      { start: START + HOUR, issued: 2, refused: 0 },
    ]);
    const day = START - (START % DAY);
    expect(await series('day', day, day + DAY)).toEqual([{ start: day, issued: 10, refused: 1 }]);

    // Minutes go after 2 days; hours stay.
    clock.now = START + 2 * DAY + 2 * HOUR;
    await maintenance.run();
    expect(await series('minute', START, START + 2 * HOUR)).toEqual([]);
    expect(await series('hour', START, START + 2 * HOUR)).toHaveLength(2);
    expect(await series('day', day, day + DAY)).toEqual([{ start: day, issued: 10, refused: 1 }]);

    // Hours go after 30 days; the day stays, its count intact (not recomputed from what is left).
    clock.now = START + 31 * DAY;
    await maintenance.run();
    expect(await series('hour', START, START + 2 * HOUR)).toEqual([]);
    expect(await series('day', day, day + DAY)).toEqual([{ start: day, issued: 10, refused: 1 }]);

    clock.now = START + 401 * DAY;
    await maintenance.run();
    expect(await series('day', day, day + DAY)).toEqual([]);
  });

  it('a scope set counts once per token whatever the order of its scopes, and last uses follow each scope', async () => {
    const recorder = new UsageRecorder(store.usage(), now);
    recorder.issued('t1', 'c1', 'https://api', ['b', 'a']);
    recorder.issued('t1', 'c1', 'https://api', ['a', 'b']);
    await recorder.flush();
    const rows = await store.usage().issued('t1', 'minute', START, START + MINUTE);
    expect(rows).toEqual([{ clientId: 'c1', audience: 'https://api', scope: 'a b', bucketStart: START, count: 2 }]);
    const scopes = await store.usage().lastUses('t1', 'scope');
    expect([...scopes.keys()].sort()).toEqual(['c1\nhttps://api\na', 'c1\nhttps://api\nb']);
  });

  it('a failed flush keeps its counts for the next one', async () => {
    const recorder = new UsageRecorder(store.usage(), now);
    recorder.issued('t1', 'c1', 'https://api', ['read']);
    await store.close();
    await expect(recorder.flush()).rejects.toThrow();
    expect(recorder.pendingKeys).toBe(1);
    store = await createStore({ dataDir: dir.path });
    const again = new UsageRecorder(store.usage(), now);
    again.issued('t1', 'c1', 'https://api', ['read']);
    await again.flush();
    expect(await series('minute', START, START + MINUTE)).toEqual([{ start: START, issued: 1, refused: 0 }]);
  });
});

describe('usage reports through the management API', () => {
  let t: TestServer;

  beforeEach(async () => {
    t = await createTestServer({ startAt: START });
  });
  afterEach(async () => {
    await t.close();
  });

  const flush = () => t.app.tessera.usage.recorder!.flush();
  const token = (clientId: string, secret: string, form: Record<string, string> = {}) =>
    t.post('default', 'token', { grant_type: 'client_credentials', ...form }, basic(clientId, secret));

  it('counts issued and refused tokens per client and API over time', async () => {
    const a = await t.setupClient('default', { scopes: ['read', 'write'] });
    for (let i = 0; i < 4; i++) expect((await token(a.clientId, a.clientSecret, { scope: 'read' })).statusCode).toBe(200);
    expect((await token(a.clientId, a.clientSecret, { scope: 'delete' })).statusCode).toBe(400);
    expect((await token(a.clientId, 'wrong-secret')).statusCode).toBe(401);
    // An unknown client_id is counted without a client: it cannot grow the counters.
    expect((await token('cli_nobody', 'x')).statusCode).toBe(401);
    await flush();

    const byClient = await t.manage<Series>('GET', `/tenants/default/usage?clientId=${a.clientId}&granularity=minute`);
    expect(byClient.status).toBe(200);
    expect(byClient.body.granularity).toBe('minute');
    expect(byClient.body.series).toHaveLength(60);
    expect(total(byClient.body)).toBe(4);
    expect(total(byClient.body, 'refused')).toBe(2);
    const byApi = await t.manage<Series>('GET', `/tenants/default/usage?audience=${encodeURIComponent(a.identifier)}&granularity=minute`);
    expect(total(byApi.body)).toBe(4);
    const tenant = await t.manage<Series>('GET', '/tenants/default/usage?granularity=minute');
    expect(total(tenant.body, 'refused')).toBe(3);

    const bad = await t.manage('GET', '/tenants/default/usage?granularity=week');
    expect(bad.status).toBe(400);
    const tooMany = await t.manage('GET', `/tenants/default/usage?granularity=minute&from=0&to=${START}`);
    expect(tooMany.status).toBe(422);
  });

  it('suggests narrowing a grant to the one of three scopes its client uses, and applies it, audited', async () => {
    const c = await t.setupClient('default', { scopes: ['orders:read', 'orders:write', 'orders:delete'] });
    const idle = await t.setupClient('default', { scopes: ['x'] });
    t.clock.advance(31 * DAY);
    for (let i = 0; i < 3; i++) expect((await token(c.clientId, c.clientSecret, { scope: 'orders:read' })).statusCode).toBe(200);
    await flush();

    const report = await t.manage('GET', '/tenants/default/usage/unused?days=30');
    expect(report.status).toBe(200);
    expect(report.body.days).toBe(30);
    const narrow = report.body.grants.find((g: { clientId: string }) => g.clientId === c.clientId);
    expect(narrow).toMatchObject({
      audience: c.identifier,
      grantedScopes: ['orders:read', 'orders:write', 'orders:delete'],
      usedScopes: ['orders:read'],
      unusedScopes: ['orders:write', 'orders:delete'],
      lastUsedAt: t.clock.now,
      suggestion: { action: 'narrow', scopes: ['orders:read'] },
    });
    const revoke = report.body.grants.find((g: { clientId: string }) => g.clientId === idle.clientId);
    expect(revoke).toMatchObject({ usedScopes: [], unusedScopes: ['x'], lastUsedAt: null, suggestion: { action: 'revoke' } });

    const applied = await t.manage('POST', `/tenants/default/usage/unused/${narrow.grantId}/apply`, { days: 30 });
    expect(applied.status).toBe(200);
    expect(applied.body).toMatchObject({ id: narrow.grantId, scopes: ['orders:read'] });
    expect((await token(c.clientId, c.clientSecret, { scope: 'orders:write' })).json().error).toBe('invalid_scope');
    const audit = await t.manage('GET', `/tenants/default/audit?action=grant.update&targetId=${narrow.grantId}`);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0].details).toMatchObject({ scopes: ['orders:read'], previousScopes: ['orders:read', 'orders:write', 'orders:delete'] });
    // Nothing left to apply.
    expect((await t.manage('POST', `/tenants/default/usage/unused/${narrow.grantId}/apply`)).status).toBe(409);

    const revoked = await t.manage('POST', `/tenants/default/usage/unused/${revoke.grantId}/apply`);
    expect(revoked.status).toBe(204);
    expect((await t.manage('GET', `/tenants/default/grants/${revoke.grantId}`)).status).toBe(404);
    expect((await t.manage('POST', '/tenants/default/usage/unused/grt_nope/apply')).status).toBe(404);
  });

  it('a grant younger than the window is not reported', async () => {
    await t.setupClient('default', { scopes: ['x', 'y'] });
    t.clock.advance(10 * DAY);
    const report = await t.manage('GET', '/tenants/default/usage/unused?days=30');
    expect(report.body.grants).toEqual([]);
  });

  it('PATCH /grants/{id} changes scopes, checked against the API and audited', async () => {
    const c = await t.setupClient('default', { scopes: ['a', 'b'] });
    const grant = (await t.manage('GET', `/tenants/default/grants?clientId=${c.clientId}`)).body.items[0];
    expect((await t.manage('PATCH', `/tenants/default/grants/${grant.id}`, { scopes: ['b'] })).body.scopes).toEqual(['b']);
    expect((await t.manage('PATCH', `/tenants/default/grants/${grant.id}`, { scopes: ['zzz'] })).status).toBe(422);
    expect((await t.manage('PATCH', `/tenants/default/grants/${grant.id}`, { scopes: 'b' })).status).toBe(400);
    expect((await t.manage('PATCH', '/tenants/default/grants/grt_none', { scopes: [] })).status).toBe(404);
  });

  it('lists dormant clients and secrets', async () => {
    const used = await t.setupClient('default');
    const unused = await t.setupClient('default');
    t.clock.advance(31 * DAY);
    expect((await token(used.clientId, used.clientSecret)).statusCode).toBe(200);
    await flush();
    // The secret's last use is batched by its own tracker.
    await t.app.close().catch(() => {});
    const report = await t.app.tessera.usage.reports.dormant('default', 30);
    const ids = report.clients.map((c) => c.clientId);
    expect(ids).toContain(unused.clientId);
    expect(ids).not.toContain(used.clientId);
    expect(report.clients.find((c) => c.clientId === unused.clientId)).toMatchObject({ name: expect.any(String), lastUsedAt: null });
    expect(report.secrets.map((s) => s.clientId)).toContain(unused.clientId);
    expect(report.secrets.map((s) => s.clientId)).not.toContain(used.clientId);
  });

  it('flags a client asking for a token per call, not one that caches its token (@tessera/client)', async () => {
    const perCall = await t.setupClient('default', { scopes: ['read'] });
    const caching = await t.setupClient('default', { scopes: ['read'] });
    for (let i = 0; i < 30; i++) {
      expect((await token(perCall.clientId, perCall.clientSecret, { audience: perCall.identifier, scope: 'read' })).statusCode).toBe(200);
    }
    const client = createTokenClient({
      issuer: `${PUBLIC_URL}/t/default`,
      tokenEndpoint: `${PUBLIC_URL}/t/default/token`,
      clientId: caching.clientId,
      auth: clientSecretBasic(caching.clientSecret),
      fetch: async (input, init) => {
        const response = await t.app.inject({
          method: 'POST',
          url: new URL(String(input)).pathname,
          headers: Object.fromEntries(new Headers(init?.headers).entries()),
          payload: String(init?.body ?? ''),
        });
        return new Response(response.body, { status: response.statusCode, headers: { 'content-type': String(response.headers['content-type'] ?? 'application/json') } });
      },
    });
    for (let i = 0; i < 30; i++) await client.getAccessToken({ audience: caching.identifier, scope: 'read' });
    await client.close();
    await flush();

    const waste = await t.manage('GET', '/tenants/default/usage/waste?days=1');
    expect(waste.status).toBe(200);
    expect(waste.body).toMatchObject({ days: 1, threshold: 10 });
    expect(waste.body.clients).toEqual([
      { clientId: perCall.clientId, audience: perCall.identifier, scope: 'read', tokens: 30, tokenLifetime: 3600, expectedMax: 2, ratio: 15 },
    ]);
    const lenient = await t.manage('GET', '/tenants/default/usage/waste?days=1&threshold=20');
    expect(lenient.body.clients).toEqual([]);
  });

  it('is tenant-scoped and needs manage:read (manage:write to apply)', async () => {
    const a = await t.setupClient('default');
    expect((await token(a.clientId, a.clientSecret)).statusCode).toBe(200);
    await flush();
    expect((await t.manage('POST', '/tenants', { id: 'other' })).status).toBe(201);
    const other = await t.manage<Series>('GET', `/tenants/other/usage?clientId=${a.clientId}&granularity=minute`);
    expect(total(other.body)).toBe(0);
    expect((await t.manage('GET', '/tenants/nope/usage')).status).toBe(404);
    expect((await t.manage('GET', '/tenants/nope/usage/unused')).status).toBe(404);

    const anonymous = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants/default/usage' });
    expect(anonymous.statusCode).toBe(401);
    const readOnly = await t.adminToken('manage:read');
    const asReader = (method: 'GET' | 'POST', url: string) =>
      t.app.inject({ method, url: `/manage/v1${url}`, headers: { authorization: `Bearer ${readOnly}` } });
    expect((await asReader('GET', '/tenants/default/usage/dormant?days=30')).statusCode).toBe(200);
    expect((await asReader('POST', '/tenants/default/usage/unused/grt_x/apply')).statusCode).toBe(403);
  });

  it('never changes a grant on the management API from a suggestion (409)', async () => {
    t.clock.advance(31 * DAY);
    await t.adminToken(); // the admin client's grant is used; the console's is not
    await flush();
    const report = await t.manage('GET', '/tenants/admin/usage/unused?days=30');
    expect(report.body.grants.length).toBeGreaterThan(0);
    for (const finding of report.body.grants) {
      expect(finding.audience).toBe('urn:tessera:management');
      const applied = await t.manage('POST', `/tenants/admin/usage/unused/${finding.grantId}/apply`);
      expect(applied.status).toBe(409);
    }
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/manage/v1/openapi.json' })).json();
    for (const path of ['/tenants/{tenant}/usage', '/tenants/{tenant}/usage/unused', '/tenants/{tenant}/usage/unused/{id}/apply', '/tenants/{tenant}/usage/dormant', '/tenants/{tenant}/usage/waste']) {
      expect(doc.paths[path], path).toBeDefined();
    }
    expect(doc.paths['/tenants/{tenant}/grants/{id}'].patch).toBeDefined();
  });
});

describe('recording switched off', () => {
  it('counts nothing and reports empty series', async () => {
    const t = await createTestServer({ config: { usage: { enabled: false } } });
    try {
      const a = await t.setupClient('default');
      expect((await token(t, a.clientId, a.clientSecret)).statusCode).toBe(200);
      expect(t.app.tessera.usage.recorder).toBeNull();
      const series = await t.manage<Series>('GET', '/tenants/default/usage?granularity=minute');
      expect(total(series.body)).toBe(0);
    } finally {
      await t.close();
    }
  });
  const token = (t: TestServer, id: string, secret: string) => t.post('default', 'token', { grant_type: 'client_credentials' }, basic(id, secret));
});

const pg: TestDatabase | null = await createTestDatabase();
afterAll(async () => {
  await pg?.drop();
});

describe.skipIf(pg === null)(`two replicas on one PostgreSQL database${pg === null ? ' (skipped: set TESSERA_TEST_DATABASE_URL)' : ''}`, () => {
  it('counts from both replicas add up, and concurrent roll-ups do not double them', async () => {
    const t = await createTestServer({ databaseUrl: pg!.url, startAt: START });
    const dir = await makeTempDir();
    const store2 = await createStore({ dataDir: dir.path, databaseUrl: pg!.url });
    const replica2 = await buildApp({
      config: resolveConfig({ dataDir: dir.path, publicUrl: PUBLIC_URL, logLevel: 'silent' }),
      store: store2,
      masterKey: MasterKey.fromBase64(TEST_MASTER_KEY),
      now: () => t.clock.now,
    });
    try {
      const a = await t.setupClient('default', { scopes: ['read'] });
      const request = (app: typeof replica2) =>
        app.inject({
          method: 'POST',
          url: '/t/default/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(a.clientId, a.clientSecret) },
          payload: 'grant_type=client_credentials',
        });
      for (let i = 0; i < 7; i++) expect((await request(t.app)).statusCode).toBe(200);
      for (let i = 0; i < 5; i++) expect((await request(replica2)).statusCode).toBe(200);
      // Same keys, same minute, flushed at once by both replicas.
      await Promise.all([t.app.tessera.usage.recorder!.flush(), replica2.tessera.usage.recorder!.flush()]);
      await Promise.all([t.app.tessera.usage.maintenance.run(), replica2.tessera.usage.maintenance.run()]);
      await Promise.all([t.app.tessera.usage.maintenance.run(), replica2.tessera.usage.maintenance.run()]);

      for (const app of [t.app, replica2]) {
        const inject = await app.inject({
          method: 'GET',
          url: `/manage/v1/tenants/default/usage?clientId=${a.clientId}&granularity=hour`,
          headers: { authorization: `Bearer ${await t.adminToken()}` },
        });
        expect(total(inject.json() as Series)).toBe(12);
      }
      const minutes = await t.manage<Series>('GET', `/tenants/default/usage?clientId=${a.clientId}&granularity=minute`);
      expect(total(minutes.body)).toBe(12);
    } finally {
      await replica2.close();
      await store2.close();
      await t.close();
      await dir.cleanup();
    }
  });
});

describe('private_key_jwt', () => {
  it('records the last use of the key that signed the assertion, and counts a refused assertion under its client', async () => {
    const { generateKeyPairSync, randomUUID, sign } = await import('node:crypto');
    const t = await createTestServer({ startAt: START });
    try {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
      const c = await t.setupClient('default', { client: { tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] } } });
      const assertion = (key: typeof privateKey) => {
        const now = Math.floor(t.clock.now / 1000);
        const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'k1' })).toString('base64url');
        const payload = Buffer.from(JSON.stringify({ iss: c.clientId, sub: c.clientId, aud: `${PUBLIC_URL}/t/default`, iat: now, exp: now + 60, jti: randomUUID() })).toString('base64url');
        const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
        return `${header}.${payload}.${signature}`;
      };
      const request = (key: typeof privateKey) =>
        t.post('default', 'token', {
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion(key),
        });
      expect((await request(privateKey)).statusCode).toBe(200);
      expect((await request(other)).statusCode).toBe(401);
      await t.app.tessera.usage.recorder!.flush();
      const keys = await t.store.usage().lastUses('default', 'key');
      expect(keys.get(`${c.clientId}\nk1`)).toBe(START);
      const series = await t.manage<Series>('GET', `/tenants/default/usage?clientId=${c.clientId}&granularity=minute`);
      expect(total(series.body)).toBe(1);
      expect(total(series.body, 'refused')).toBe(1);
    } finally {
      await t.close();
    }
  });
});

describe('usage settings', () => {
  it('serve flags and environment set the flush interval, retention and on/off; bad values stop start-up', async () => {
    const { parseServeArgs } = await import('../src/main.js');
    const input = await parseServeArgs(['--usage-flush-interval', '2', '--usage-retention', '1,7,90'], {});
    expect(resolveConfig(input).usage).toMatchObject({ enabled: true, flushInterval: 2000, retention: { minutes: DAY, hours: 7 * DAY, days: 90 * DAY } });
    expect(resolveConfig(await parseServeArgs([], { TESSERA_USAGE: 'off' })).usage.enabled).toBe(false);
    expect(resolveConfig(await parseServeArgs([], {})).usage).toMatchObject({ enabled: true, flushInterval: 10_000, retention: { minutes: 2 * DAY, hours: 30 * DAY, days: 400 * DAY } });
    await expect(parseServeArgs(['--usage', 'maybe'], {})).rejects.toThrow(/--usage must be on or off/);
    await expect(parseServeArgs(['--usage-flush-interval', '0'], {})).rejects.toThrow(/flushInterval/);
    await expect(parseServeArgs(['--usage-retention', '30,2,400'], {})).rejects.toThrow(/retention.hours/);
    await expect(parseServeArgs(['--usage-retention', '2,30'], {})).rejects.toThrow(/three numbers/);
  });
});
