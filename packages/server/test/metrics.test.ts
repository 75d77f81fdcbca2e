/**
 * Prometheus metrics (docs/metrics.md): each metric moves when its event happens,
 * labels stay bounded, /metrics can move to its own port, and /readyz says why.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serve } from '../src/main.js';
import { instrumentStore } from '../src/observability/store-instrumentation.js';
import { Metrics } from '../src/observability/metrics.js';
import type { Store } from '../src/store/types.js';
import { basic, createTestServer, type TestServer } from './helpers/app.js';
import { makeTempDir } from './helpers/temp-dir.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function scrape(server: TestServer): Promise<string> {
  const response = await server.app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.body;
}

/** The value of one sample, e.g. value(text, 'tessera_tokens_issued_total{tenant="default",...}'); 0 when absent. */
function value(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

describe('/metrics', () => {
  it('counts tokens issued and refused by tenant, grant type, auth method and error code, with their latency', async () => {
    t = await createTestServer();
    const c = await t.setupClient('default');
    const before = await scrape(t);
    const issued = 'tessera_tokens_issued_total{tenant="default",grant_type="client_credentials",auth_method="client_secret_basic"}';
    await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret));
    await t.post('default', 'token', { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret });
    await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, 'wrong'));
    await t.post('default', 'token', { grant_type: 'password' }, basic(c.clientId, c.clientSecret));
    await t.post('default', 'token', {}, basic(c.clientId, c.clientSecret));
    await t.post('default', 'token', { grant_type: 'client_credentials', audience: 'https://nope' }, basic(c.clientId, c.clientSecret));
    const after = await scrape(t);
    expect(value(after, issued) - value(before, issued)).toBe(1);
    expect(value(after, 'tessera_tokens_issued_total{tenant="default",grant_type="client_credentials",auth_method="client_secret_post"}')).toBe(1);
    expect(value(after, 'tessera_token_requests_refused_total{tenant="default",grant_type="client_credentials",error="invalid_client"}')).toBe(1);
    expect(value(after, 'tessera_token_requests_refused_total{tenant="default",grant_type="unsupported",error="unsupported_grant_type"}')).toBe(1);
    expect(value(after, 'tessera_token_requests_refused_total{tenant="default",grant_type="none",error="invalid_request"}')).toBe(1);
    expect(value(after, 'tessera_token_requests_refused_total{tenant="default",grant_type="client_credentials",error="invalid_target"}')).toBe(1);
    expect(value(after, 'tessera_client_auth_failures_total{tenant="default",endpoint="token"}')).toBe(1);
    expect(value(after, 'tessera_token_request_duration_seconds_count{outcome="refused"}')).toBe(4);
    expect(value(after, 'tessera_token_request_duration_seconds_count{outcome="issued"}') - value(before, 'tessera_token_request_duration_seconds_count{outcome="issued"}')).toBe(2);
    // Never a client id in a label.
    expect(after).not.toContain(c.clientId);
  });

  it('an unknown tenant is counted as tenant="unknown", not as a new label', async () => {
    t = await createTestServer();
    await t.post('no-such-tenant', 'token', { grant_type: 'client_credentials' });
    const text = await scrape(t);
    expect(value(text, 'tessera_token_requests_refused_total{tenant="unknown",grant_type="none",error="not_found"}')).toBe(1);
    expect(text).not.toContain('no-such-tenant');
  });

  it('bounds the tenant label: past maxTenantLabels tenants, the others share tenant="other"', async () => {
    t = await createTestServer({ config: { metrics: { maxTenantLabels: 2 } } });
    await t.adminToken(); // labels "admin"
    const d = await t.setupClient('default'); // "default"
    expect((await t.manage('POST', '/tenants', { id: 'third' })).status).toBe(201);
    const third = await t.setupClient('third');
    await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(d.clientId, d.clientSecret));
    await t.post('third', 'token', { grant_type: 'client_credentials' }, basic(third.clientId, third.clientSecret));
    const text = await scrape(t);
    expect(value(text, 'tessera_tokens_issued_total{tenant="other",grant_type="client_credentials",auth_method="client_secret_basic"}')).toBe(1);
    expect(text).not.toMatch(/tenant="third"/);
  });

  it('counts rate-limit rejections', async () => {
    t = await createTestServer({ config: { rateLimit: { tokenRequestsPerWindow: 1 } } });
    const c = await t.setupClient('default');
    await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret));
    await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret));
    const text = await scrape(t);
    expect(value(text, 'tessera_rate_limit_rejections_total{limit="client_quota",mode="enforce"}')).toBe(1);
    expect(value(text, 'tessera_token_requests_refused_total{tenant="default",grant_type="client_credentials",error="slow_down"}')).toBe(1);
  });

  it('reports cache hits, misses, loads, evictions and the change-feed lag through the cache-events interface', async () => {
    t = await createTestServer();
    const metrics = t.app.tessera.metrics as Metrics;
    metrics.hit('clients');
    metrics.hit('clients');
    metrics.miss('clients');
    metrics.load('clients', 0.003);
    metrics.evict('clients', 5);
    metrics.feedLag(1.5);
    const text = await scrape(t);
    expect(value(text, 'tessera_cache_hits_total{cache="clients"}')).toBe(2);
    expect(value(text, 'tessera_cache_misses_total{cache="clients"}')).toBe(1);
    expect(value(text, 'tessera_cache_load_duration_seconds_count{cache="clients"}')).toBe(1);
    expect(value(text, 'tessera_cache_evictions_total{cache="clients"}')).toBe(5);
    expect(value(text, 'tessera_change_feed_lag_seconds')).toBe(1.5);
  });

  it('times store operations at the store boundary', async () => {
    t = await createTestServer();
    const before = value(await scrape(t), 'tessera_store_query_duration_seconds_count{operation="listTenants"}');
    await t.manage('GET', '/tenants');
    expect(value(await scrape(t), 'tessera_store_query_duration_seconds_count{operation="listTenants"}')).toBeGreaterThan(before);
  });

  it('counts store errors by operation', async () => {
    const metrics = new Metrics({ maxTenantLabels: 10, processMetrics: false });
    class FailingStore {
      readonly kind = 'sqlite';
      async ping(): Promise<void> {
        throw new Error('down');
      }
    }
    const store = instrumentStore(new FailingStore() as unknown as Store, metrics);
    expect(store.kind).toBe('sqlite');
    await expect(store.ping()).rejects.toThrow('down');
    const text = await metrics.registry.metrics();
    expect(value(text, 'tessera_store_errors_total{operation="ping"}')).toBe(1);
    expect(value(text, 'tessera_store_query_duration_seconds_count{operation="ping"}')).toBe(1);
  });

  it('reports signing-key age and time to the next rotation per tenant, read when scraped', async () => {
    t = await createTestServer();
    const rotation = t.app.tessera.config.keys.rotationInterval;
    t.clock.advance(86_400_000);
    const text = await scrape(t);
    expect(value(text, 'tessera_signing_key_age_seconds{tenant="default"}')).toBe(86_400);
    expect(value(text, 'tessera_signing_key_next_rotation_seconds{tenant="default"}')).toBe(rotation - 86_400);
    expect(value(text, 'tessera_signing_key_age_seconds{tenant="admin"}')).toBe(86_400);
  });

  it('includes process and event-loop metrics', async () => {
    t = await createTestServer();
    const text = await scrape(t);
    expect(text).toContain('tessera_process_cpu_user_seconds_total');
    expect(text).toContain('tessera_nodejs_eventloop_lag_seconds');
    expect(text).toContain('tessera_process_resident_memory_bytes');
  });

  it('can be turned off', async () => {
    t = await createTestServer({ config: { metrics: { enabled: false } } });
    expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
  });
});

describe('--metrics-port', () => {
  it('serves /metrics on its own port and not on the main one', async () => {
    const dir = await makeTempDir();
    const server = await serve({ port: 0, dataDir: dir.path, logLevel: 'silent', masterKey: Buffer.alloc(32, 3).toString('base64'), metrics: { port: 0 } }, () => {});
    try {
      expect(server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const own = await fetch(server.metricsUrl as string);
      expect(own.status).toBe(200);
      expect(await own.text()).toContain('tessera_tokens_issued_total');
      expect((await fetch(`${(server.metricsUrl as string).replace(/\/metrics$/, '')}/healthz`)).status).toBe(404);
    } finally {
      await server.close();
      await dir.cleanup();
    }
  });
});

describe('/readyz and /healthz', () => {
  for (const metricsEnabled of [true, false]) {
    it(`/readyz answers JSON with each check; a change feed too far behind makes it not ready and says why (metrics ${metricsEnabled ? 'on' : 'off'})`, async () => {
      t = await createTestServer({ config: { metrics: { enabled: metricsEnabled } } });
      await t.app.tessera.changeFeed.start();
      const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ready', checks: { store: { ok: true }, keys: { ok: true }, feed: { ok: true } } });
      // The feed cannot be read for two minutes: the lag is the feed's own, not a metric's.
      const store = t.app.tessera.store;
      const readChanges = store.readChanges.bind(store);
      (store as { readChanges: Store['readChanges'] }).readChanges = async () => {
        throw new Error('connection refused');
      };
      const wallClock = Date.now();
      const now = vi.spyOn(Date, 'now').mockReturnValue(wallClock + 120_000);
      try {
        await t.app.tessera.changeFeed.poll();
        const behind = await t.app.inject({ method: 'GET', url: '/readyz' });
        expect(behind.statusCode).toBe(503);
        expect(behind.json()).toMatchObject({ status: 'not ready', reason: expect.stringMatching(/change feed 12\d s behind/), checks: { feed: { ok: false } } });
        expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
      } finally {
        now.mockRestore();
        (store as { readChanges: Store['readChanges'] }).readChanges = readChanges;
        await t.app.tessera.changeFeed.stop();
      }
    });
  }

  it('/readyz says the store is unreachable when it is', async () => {
    t = await createTestServer();
    const store = t.app.tessera.store;
    const ping = store.ping.bind(store);
    (store as { ping: () => Promise<void> }).ping = async () => {
      throw new Error('connection refused');
    };
    const down = await t.app.inject({ method: 'GET', url: '/readyz' });
    (store as { ping: () => Promise<void> }).ping = ping;
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ status: 'not ready', reason: 'store unreachable', checks: { store: { ok: false, reason: 'store unreachable' } } });
  });
});
