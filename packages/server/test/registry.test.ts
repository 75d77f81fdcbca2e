/**
 * The registry across replicas (SPEC §8): a change made through one replica takes
 * effect on the others within 2 s and touches only the entries it changed. Replica
 * A is the test server (it makes the changes); replica B is a second app on the same
 * database that follows the change feed.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { type ConfigInput, resolveConfig } from '../src/config/config.js';
import { MasterKey } from '../src/crypto/master-key.js';
import { createStore } from '../src/store/index.js';
import { LISTENER_APPLICATION_NAME } from '../src/store/pg-listen.js';
import type { Store } from '../src/store/types.js';
import { basic, createTestServer, form, PUBLIC_URL, TEST_MASTER_KEY, type TestServer } from './helpers/app.js';
import { createTestDatabase, type TestDatabase, testDatabaseUrl } from './helpers/postgres.js';

/** SPEC §8. */
const PROPAGATION_LIMIT_MS = 2000;

interface Replica {
  app: FastifyInstance;
  store: Store;
  logs: string[];
  token(tenant: string, values: Record<string, string>, clientId: string, secret: string): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

async function replicaOf(t: TestServer, options: { databaseUrl?: string; cache?: ConfigInput['cache'] } = {}): Promise<Replica> {
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  // The walk below polls with a disabled client (401 after 401): back-off would answer
  // 429 and hide the change this test waits for. Back-off has its own tests.
  const noBackoff = { authFailures: { perSource: 0, perClientAndSource: 0, perClient: 0 } };
  const config = resolveConfig({ dataDir: t.dataDir, publicUrl: PUBLIC_URL, logLevel: 'info', rateLimit: noBackoff, ...(options.cache ? { cache: options.cache } : {}) });
  const store = await createStore({ dataDir: t.dataDir, ...(options.databaseUrl !== undefined ? { databaseUrl: options.databaseUrl } : {}) });
  const app = await buildApp({ config, store, masterKey: MasterKey.fromBase64(TEST_MASTER_KEY), now: () => t.clock.now, logStream });
  await app.tessera.changeFeed.start();
  return {
    app,
    store,
    logs,
    token: (tenant, values, clientId, secret) =>
      app.inject({
        method: 'POST',
        url: `/t/${tenant}/token`,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(clientId, secret) },
        payload: form({ grant_type: 'client_credentials', ...values }),
      }),
    async close() {
      await app.close();
      await store.close();
    },
  };
}

/** Waits until `check` holds; returns how long that took (ms), or fails after `limit`. */
async function propagated(what: string, check: () => Promise<boolean>, limit = PROPAGATION_LIMIT_MS): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > limit) throw new Error(`${what}: not visible on the other replica after ${limit} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every kind of registry change, made on A, must show on B within 2 s. */
async function everyKindOfChangePropagates(t: TestServer, b: Replica): Promise<Record<string, number>> {
  const took: Record<string, number> = {};
  const step = async (what: string, change: () => Promise<unknown>, check: () => Promise<boolean>) => {
    await change();
    took[what] = await propagated(what, check);
  };
  const c = await t.setupClient('default', { scopes: ['read', 'write'] });
  const status = async (values: Record<string, string>, secret = c.clientSecret) => (await b.token('default', values, c.clientId, secret)).statusCode;
  expect(await status({})).toBe(200); // B is warm

  await step('client updated (disabled)', () => t.manage('PATCH', `/tenants/default/clients/${c.clientId}`, { disabled: true }), async () => (await status({})) === 401);
  await step('client updated (enabled)', () => t.manage('PATCH', `/tenants/default/clients/${c.clientId}`, { disabled: false }), async () => (await status({})) === 200);

  const added = await t.manage('POST', `/tenants/default/clients/${c.clientId}/secrets`);
  took['client secret added'] = await propagated('client secret added', async () => (await status({}, added.body.clientSecret)) === 200);
  const oldSecretId = (await t.manage('GET', `/tenants/default/clients/${c.clientId}`)).body.secrets.find((s: { id: string }) => s.id !== added.body.id).id;
  await step('client secret deleted', () => t.manage('DELETE', `/tenants/default/clients/${c.clientId}/secrets/${oldSecretId}`), async () => (await status({})) === 401);
  c.clientSecret = added.body.clientSecret;

  const api2 = await t.manage('POST', '/tenants/default/apis', { identifier: 'https://second.example', scopes: [{ value: 'read' }, { value: 'write' }] });
  let grant2: { id: string } | undefined;
  await step('API and grant created', async () => {
    grant2 = (await t.manage('POST', '/tenants/default/grants', { clientId: c.clientId, audience: 'https://second.example', scopes: ['read', 'write'] })).body;
  }, async () => (await status({ audience: 'https://second.example' })) === 200);
  await step('API updated (scopes)', () => t.manage('PATCH', `/tenants/default/apis/${api2.body.id}`, { scopes: [{ value: 'read' }] }), async () => {
    const res = await b.token('default', { audience: 'https://second.example' }, c.clientId, c.clientSecret);
    return res.statusCode === 200 && res.json().scope === 'read';
  });
  await step('grant deleted', () => t.manage('DELETE', `/tenants/default/grants/${grant2!.id}`), async () => (await status({ audience: 'https://second.example' })) === 400);
  await step('API deleted', () => t.manage('DELETE', `/tenants/default/apis/${c.apiId}`), async () => (await status({ audience: c.identifier })) === 400);

  const d = await t.setupClient('default');
  // Its new API reaches B's tenant entry like any other change.
  await propagated('new client and API', async () => (await b.token('default', {}, d.clientId, d.clientSecret)).statusCode === 200);
  expect((await b.token('default', {}, d.clientId, d.clientSecret)).json().expires_in).toBe(3600);
  await step('tenant updated', () => t.manage('PATCH', '/tenants/default', { accessTokenLifetime: 600 }), async () => (await b.token('default', {}, d.clientId, d.clientSecret)).json().expires_in === 600);

  const kidOnB = async () => decodeProtectedHeader((await b.token('default', {}, d.clientId, d.clientSecret)).json().access_token).kid;
  const kidBefore = await kidOnB();
  await step('keys rotated', () => t.manage('POST', '/tenants/default/keys/rotate', {}), async () => (await kidOnB()) !== kidBefore);

  const federationsOnB = async () => (await b.app.tessera.registry.get('default'))?.federations.length ?? -1;
  expect(await federationsOnB()).toBe(0);
  let federation: { id: string } | undefined;
  await step('federation created', async () => {
    federation = (await t.manage('POST', '/tenants/default/federations', {
      name: 'ci', issuer: 'https://ci.example', jwksUri: 'https://ci.example/jwks', rules: [{ subject: 'repo:*', clientId: d.clientId }],
    })).body;
  }, async () => (await federationsOnB()) === 1);
  await step('federation updated', () => t.manage('PATCH', `/tenants/default/federations/${federation!.id}`, { rules: [{ subject: 'repo:acme/*', clientId: d.clientId }] }),
    async () => (await b.app.tessera.registry.get('default'))?.federations[0]?.rules[0]?.subject === 'repo:acme/*');
  await step('federation deleted', () => t.manage('DELETE', `/tenants/default/federations/${federation!.id}`), async () => (await federationsOnB()) === 0);

  // B remembers an unknown client id; creating that client must replace the negative entry.
  expect(await b.app.tessera.registry.client('default', 'latecomer1')).toBeNull();
  await step('client created', () => t.app.tessera.clients.create('default', { name: 'late', clientId: 'latecomer1' }, 'test'), async () => (await b.app.tessera.registry.client('default', 'latecomer1')) !== null);
  await step('client deleted', () => t.manage('DELETE', `/tenants/default/clients/${d.clientId}`), async () => (await b.token('default', {}, d.clientId, d.clientSecret)).statusCode === 401);

  // B's known-tenant directory refuses a tenant it does not hold without asking the store;
  // one created through A must reach it within 2 s, and one deleted must leave it.
  const directory = b.app.tessera.tenantDirectory;
  await propagated('B loads its known-tenant directory', async () => directory.loaded);
  expect(directory.excludes('doomed')).toBe(true);
  expect((await b.token('doomed', {}, 'nobody', 'nothing')).statusCode).toBe(404);
  let e: { clientId: string; clientSecret: string } | undefined;
  await step('tenant created', async () => {
    expect((await t.manage('POST', '/tenants', { id: 'doomed', name: 'Doomed' })).status).toBe(201);
    e = await t.setupClient('doomed');
  }, async () => (await b.token('doomed', {}, e!.clientId, e!.clientSecret)).statusCode === 200);
  expect(directory.excludes('doomed')).toBe(false);
  await step('tenant deleted', () => t.manage('DELETE', '/tenants/doomed'), async () => (await b.token('doomed', {}, e!.clientId, e!.clientSecret)).statusCode === 404);
  await propagated('the deleted tenant leaves B\'s directory', async () => directory.excludes('doomed'));
  return took;
}

describe('the registry on two replicas of one SQLite file (polling)', () => {
  let t: TestServer;
  let b: Replica | undefined;
  afterEach(async () => {
    await b?.close();
    b = undefined;
    await t?.close();
  });

  it('SPEC §8: every kind of change shows on the other replica within 2 s', async () => {
    t = await createTestServer();
    b = await replicaOf(t, { cache: { pollInterval: 200 } });
    const took = await everyKindOfChangePropagates(t, b);
    expect(Object.keys(took)).toHaveLength(17);
  }, 90_000);

  it("under a stream of writes, the token endpoint never waits on a reload of an unrelated entry", async () => {
    t = await createTestServer();
    const y = await t.setupClient('default');
    const x = await t.setupClient('default');
    b = await replicaOf(t, { cache: { pollInterval: 50 } });
    const replica = b;
    expect((await replica.token('default', {}, y.clientId, y.clientSecret)).statusCode).toBe(200);
    expect((await replica.token('default', {}, x.clientId, x.clientSecret)).statusCode).toBe(200);

    // From now on every store load on B hangs until released: a token request that
    // needed one would hang too.
    const loads: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const original = { tenant: replica.store.loadTenantRecord.bind(replica.store), client: replica.store.loadClientRecord.bind(replica.store) };
    replica.store.loadTenantRecord = async (id) => {
      loads.push(`tenant:${id}`);
      await gate;
      return original.tenant(id);
    };
    replica.store.loadClientRecord = async (tenantId, clientId) => {
      loads.push(`client:${clientId}`);
      await gate;
      return original.client(tenantId, clientId);
    };

    const writes = (async () => {
      for (let i = 0; i < 10; i++) {
        await t.manage('PATCH', `/tenants/default/clients/${x.clientId}`, { name: `x ${i}` });
        await t.manage('POST', '/tenants/default/apis', { identifier: `https://stream-${i}.example`, scopes: [{ value: 'read' }] });
        await t.manage('POST', '/tenants/default/clients', { name: `new ${i}` });
      }
    })();
    const answers: number[] = [];
    const tokens = (async () => {
      for (let i = 0; i < 40; i++) {
        const answer = await Promise.race([
          replica.token('default', {}, y.clientId, y.clientSecret).then((r) => r.statusCode),
          new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5000)),
        ]);
        answers.push(answer);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await Promise.all([writes, tokens]);
    // B did see the changes (it tried to reload the tenant and client X) ...
    await propagated('B reloads what changed', async () => loads.includes('tenant:default') && loads.includes(`client:${x.clientId}`));
    // ... and answered every token request for Y meanwhile, from memory.
    expect(answers).toEqual(Array(40).fill(200));
    expect(loads).not.toContain(`client:${y.clientId}`);
    release();
    await propagated('B serves the new API once its reload completes', async () => (await replica.app.tessera.registry.get('default'))?.apisByIdentifier.has('https://stream-9.example') === true);
  }, 60_000);

  it('a replica that fell behind the trimmed feed drops its caches once and says so', async () => {
    t = await createTestServer();
    const c = await t.setupClient('default');
    b = await replicaOf(t, { cache: { pollInterval: 50 } });
    expect((await b.token('default', {}, c.clientId, c.clientSecret)).statusCode).toBe(200);
    await b.app.tessera.changeFeed.poll();
    await b.app.tessera.changeFeed.stop();
    for (let i = 0; i < 3; i++) await t.manage('PATCH', `/tenants/default/clients/${c.clientId}`, { name: `n ${i}` });
    expect((await t.manage('POST', '/tenants', { id: 'while-away', name: 'Created while B was away' })).status).toBe(201);
    const away = await t.setupClient('while-away');
    expect(await t.store.trimChanges(Date.now() + 60_000)).toBeGreaterThan(0);
    expect(b.app.tessera.registry.size.clients).toBeGreaterThan(0);
    await b.app.tessera.changeFeed.start();
    expect(b.app.tessera.registry.size).toEqual({ tenants: 0, clients: 0, unknownClients: 0, signers: 0 });
    expect(b.logs.filter((line) => line.includes('fell behind the change feed'))).toHaveLength(1);
    expect((await b.token('default', {}, c.clientId, c.clientSecret)).statusCode).toBe(200);
    await b.app.tessera.changeFeed.poll();
    expect(b.logs.filter((line) => line.includes('fell behind the change feed'))).toHaveLength(1);
    // The known-tenant directory was read again from the new position: it holds the tenant whose creation was trimmed.
    const directory = b.app.tessera.tenantDirectory;
    await propagated('B reloads its known-tenant directory', async () => directory.loaded);
    expect(directory.excludes('while-away')).toBe(false);
    expect(directory.excludes('never-created')).toBe(true);
    expect((await b.token('while-away', {}, away.clientId, away.clientSecret)).statusCode).toBe(200);
  });

  it('SPEC §3: while the store is down, cached entries serve for serveStaleFor, then 503', async () => {
    t = await createTestServer({ config: { cache: { pollInterval: 50, serveStaleFor: 1000 } } });
    const c = await t.setupClient('default');
    await t.app.tessera.changeFeed.start();
    expect((await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
    await t.store.close();
    expect((await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
    await propagated('cached entries stop serving', async () => {
      const res = await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret));
      return res.statusCode === 503 && res.json().error === 'temporarily_unavailable';
    }, 5000);
  });
});

const postgres = testDatabaseUrl() !== undefined;
describe.skipIf(!postgres)(`the registry on two replicas of one PostgreSQL database${postgres ? '' : ' (skipped: TESSERA_TEST_DATABASE_URL not set)'}`, () => {
  let t: TestServer | undefined;
  let b: Replica | undefined;
  let database: TestDatabase | null = null;
  afterEach(async () => {
    await b?.close();
    await t?.close();
    await database?.drop();
    b = undefined;
    t = undefined;
    database = null;
  });

  const fresh = async (): Promise<{ t: TestServer; url: string }> => {
    database = await createTestDatabase();
    t = await createTestServer({ databaseUrl: database!.url });
    return { t, url: database!.url };
  };

  it('SPEC §8 with NOTIFY: every kind of change shows on the other replica within 2 s (no polling to help)', async () => {
    const { t, url } = await fresh();
    b = await replicaOf(t, { databaseUrl: url, cache: { listen: true, pollInterval: 60_000 } });
    await propagated('B listens', async () => b!.app.tessera.changeFeed.listening);
    const took = await everyKindOfChangePropagates(t, b);
    expect(Object.keys(took)).toHaveLength(17);
  }, 90_000);

  it('SPEC §8 with NOTIFY disabled: polling alone shows every kind of change within 2 s', async () => {
    const { t, url } = await fresh();
    b = await replicaOf(t, { databaseUrl: url, cache: { listen: false } });
    expect(b.app.tessera.changeFeed.listening).toBe(false);
    const took = await everyKindOfChangePropagates(t, b);
    expect(Object.keys(took)).toHaveLength(17);
  }, 90_000);

  it('a dropped LISTEN connection reconnects, and NOTIFY works again', async () => {
    const { t, url } = await fresh();
    b = await replicaOf(t, { databaseUrl: url, cache: { listen: true, pollInterval: 60_000 } });
    const replica = b;
    await propagated('B listens', async () => replica.app.tessera.changeFeed.listening);
    const c = await t.setupClient('default');
    expect((await replica.token('default', {}, c.clientId, c.clientSecret)).statusCode).toBe(200);

    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const killed = await admin.query('select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = $1 and datname = current_database()', [LISTENER_APPLICATION_NAME]);
      expect(killed.rows).toHaveLength(1);
    } finally {
      await admin.end();
    }
    await propagated('B notices', async () => !replica.app.tessera.changeFeed.listening);
    await propagated('B listens again', async () => replica.app.tessera.changeFeed.listening, 5000);
    await t.manage('PATCH', `/tenants/default/clients/${c.clientId}`, { disabled: true });
    await propagated('a change after the reconnect', async () => (await replica.token('default', {}, c.clientId, c.clientSecret)).statusCode === 401);
    expect(replica.logs.some((line) => line.includes('LISTEN connection for changes was lost'))).toBe(true);
  });
});

/** Replaces every method of `target` (its prototype chain's) with one that records its name in `calls` first. */
function countCalls(target: object, label: string, calls: string[]): void {
  const record = target as Record<string, unknown>;
  for (let proto = Object.getPrototypeOf(target) as object | null; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (name === 'constructor' || typeof descriptor?.value !== 'function' || Object.hasOwn(record, name)) continue;
      const original = descriptor.value as (...args: unknown[]) => unknown;
      record[name] = (...args: unknown[]) => {
        calls.push(`${label}.${name}`);
        return original.apply(target, args);
      };
    }
  }
}

/** A made-up tenant's token, introspection and revocation requests. */
function junkRequests(t: TestServer, tenant: string): Promise<LightMyRequestResponse[]> {
  return Promise.all([
    t.post(tenant, 'token', { grant_type: 'client_credentials' }, basic('some-client', 'some-secret')),
    t.post(tenant, 'introspect', { token: 'x' }, basic('some-client', 'some-secret')),
    t.post(tenant, 'revoke', { token: 'x' }, basic('some-client', 'some-secret')),
  ]);
}

describe('unknown tenants', () => {
  it('after the first, a made-up tenant\'s token, introspection and revocation requests make no store call at all (registry, state or usage)', async () => {
    const t = await createTestServer();
    try {
      const junk = (tenant: string) => junkRequests(t, tenant);
      // The first requests to each made-up tenant ask the store, once.
      for (let i = 0; i < 20; i++) expect((await junk(`junk-${i}`)).map((r) => r.statusCode)).toEqual([404, 404, 404]);
      const calls: string[] = [];
      const [state, usage] = [t.store.state(), t.store.usage()];
      countCalls(t.store, 'store', calls);
      countCalls(state, 'state', calls);
      countCalls(usage, 'usage', calls);
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 20; i++) {
          const answers = await junk(`junk-${i}`);
          expect(answers.map((r) => r.statusCode)).toEqual([404, 404, 404]);
          expect(answers[0]?.json()).toMatchObject({ error: 'not_found' });
        }
      }
      expect([...calls]).toEqual([]);
      // The counting itself works: a client the real tenant has never seen is looked up in the store.
      expect((await t.post('default', 'introspect', { token: 'x' }, basic('some-client', 'some-secret'))).statusCode).toBe(401);
      expect(calls.length).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });

  it('once the known-tenant directory is loaded, a new made-up tenant on every request makes no store call at all', async () => {
    // No feed poll during the test: the only store calls left would be the requests'. No look-through budget either.
    const t = await createTestServer({ config: { cache: { pollInterval: 60_000, unknownTenantLookupsPerSecond: 0 } } });
    try {
      const directory = t.app.tessera.tenantDirectory;
      expect(directory.loaded).toBe(false);
      await t.app.tessera.changeFeed.start();
      await propagated('the directory loads', async () => directory.loaded);
      expect(directory.size?.tenants).toBe((await t.store.listTenants()).length);
      const calls: string[] = [];
      const [state, usage] = [t.store.state(), t.store.usage()];
      countCalls(t.store, 'store', calls);
      countCalls(state, 'state', calls);
      countCalls(usage, 'usage', calls);
      for (let i = 0; i < 200; i++) {
        const answers = await junkRequests(t, `made-up-${randomBytes(6).toString('hex')}`);
        expect(answers.map((r) => r.statusCode)).toEqual([404, 404, 404]);
        expect(answers[0]?.json()).toMatchObject({ error: 'not_found' });
      }
      expect([...calls]).toEqual([]);
      // The counting itself works: the real tenant is loaded from the store on first use.
      expect((await t.app.inject({ method: 'GET', url: '/t/default/.well-known/oauth-authorization-server' })).statusCode).toBe(200);
      expect(calls).toContain('store.loadTenantRecord');
      // A tenant created through this replica is known as soon as the create returns, and a deleted one is gone.
      expect((await t.manage('POST', '/tenants', { id: 'made-up-now-real', name: 'now it exists' })).status).toBe(201);
      expect((await t.app.inject({ method: 'GET', url: '/t/made-up-now-real/.well-known/oauth-authorization-server' })).statusCode).toBe(200);
      expect((await t.manage('DELETE', '/tenants/made-up-now-real')).status).toBe(204);
      expect(directory.excludes('made-up-now-real')).toBe(true);
      calls.length = 0;
      expect((await junkRequests(t, 'made-up-now-real')).map((r) => r.statusCode)).toEqual([404, 404, 404]);
      expect([...calls]).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('ids the directory does not hold are looked up at most unknownTenantLookupsPerSecond a second: a tenant created elsewhere a moment ago is served at once', async () => {
    const t = await createTestServer();
    let b: Replica | undefined;
    try {
      // Replica B reads the feed once a minute, and looks up 5 unknown ids a second.
      b = await replicaOf(t, { cache: { pollInterval: 60_000, unknownTenantLookupsPerSecond: 5 } });
      const directory = b.app.tessera.tenantDirectory;
      await propagated('B loads its known-tenant directory', async () => directory.loaded);
      expect((await t.manage('POST', '/tenants', { id: 'made-elsewhere', name: 'elsewhere' })).status).toBe(201);
      expect(directory.excludes('made-elsewhere')).toBe(true);
      expect((await b.app.inject({ method: 'GET', url: '/t/made-elsewhere/.well-known/oauth-authorization-server' })).statusCode).toBe(200);
      // A flood of made-up ids: a bounded number of tenant lookups, whatever its size.
      const calls: string[] = [];
      countCalls(b.store, 'store', calls);
      const started = Date.now();
      for (let i = 0; i < 300; i++) {
        const answer = await b.app.inject({ method: 'POST', url: `/t/flood-${randomBytes(6).toString('hex')}/token`, payload: 'grant_type=client_credentials', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        expect(answer.statusCode).toBe(404);
      }
      const seconds = Math.floor((Date.now() - started) / 1000) + 1;
      const lookups = calls.filter((call) => call === 'store.loadTenantRecord').length;
      expect(lookups).toBeGreaterThan(0);
      expect(lookups).toBeLessThanOrEqual(5 * seconds);
    } finally {
      await b?.close();
      await t.close();
    }
  });

  it('the change feed starts without waiting for the directory; until it is loaded, lookups take the usual path', async () => {
    const t = await createTestServer({ config: { cache: { pollInterval: 60_000, unknownTenantLookupsPerSecond: 0 } } });
    try {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const list = t.store.listTenantIds.bind(t.store);
      t.store.listTenantIds = async (afterId, limit) => {
        await gate;
        return list(afterId, limit);
      };
      let loads = 0;
      const load = t.store.loadTenantRecord.bind(t.store);
      t.store.loadTenantRecord = (id) => {
        loads++;
        return load(id);
      };
      await t.app.tessera.changeFeed.start();
      expect(t.app.tessera.tenantDirectory.loaded).toBe(false);
      expect((await t.app.inject({ method: 'GET', url: '/t/default/.well-known/oauth-authorization-server' })).statusCode).toBe(200);
      expect((await junkRequests(t, 'not-loaded-yet')).map((r) => r.statusCode)).toEqual([404, 404, 404]);
      expect(loads).toBe(2);
      release();
      await propagated('the directory loads', async () => t.app.tessera.tenantDirectory.loaded);
      expect((await junkRequests(t, 'loaded-now')).map((r) => r.statusCode)).toEqual([404, 404, 404]);
      expect(loads).toBe(2);
    } finally {
      await t.close();
    }
  });

  it('a token request to a made-up tenant costs one store query, once; creating the tenant makes it known at once', async () => {
    const t = await createTestServer();
    try {
      let loads = 0;
      const load = t.store.loadTenantRecord.bind(t.store);
      t.store.loadTenantRecord = (id) => {
        loads++;
        return load(id);
      };
      for (let i = 0; i < 5; i++) expect((await t.post('no-such-tenant', 'token', { grant_type: 'client_credentials' })).statusCode).toBe(404);
      expect(loads).toBe(1);
      expect((await t.manage('POST', '/tenants', { id: 'no-such-tenant', name: 'now it exists' })).status).toBe(201);
      const discovery = await t.app.inject({ method: 'GET', url: '/t/no-such-tenant/.well-known/oauth-authorization-server' });
      expect(discovery.statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});
