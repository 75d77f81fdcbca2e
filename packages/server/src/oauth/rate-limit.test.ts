import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../store/index.js';
import type { StateStore } from '../store/state/types.js';
import { createTestDatabase } from '../../test/helpers/postgres.js';
import { makeTempDir } from '../../test/helpers/temp-dir.js';
import { resolveConfig } from '../config/config.js';
import { Protection } from './protection.js';
import { aggregateKeyOf, MAX_TRACKED_KEYS, SharedCounters } from './rate-limit.js';

/** A Protection with a client quota of `limit` per minute, as every replica would build it. */
function quotaOf(limit: number, now: () => number): { consume(key: string): number; sync(store: StateStore): Promise<void> } {
  const protection = new Protection(resolveConfig({ rateLimit: { tokenRequestsPerWindow: limit } }).rateLimit, now);
  const tenant = { id: 't', name: 't', signingAlg: 'ES256' as const, accessTokenLifetime: null, createdAt: 0 };
  return {
    consume: (clientId) => protection.quota(tenant, { clientId }),
    sync: (store) => protection.sync(store),
  };
}

const pg = await createTestDatabase();
const backends: [string, () => Promise<{ store: StateStore; done: () => Promise<void> }>][] = [
  ['SQLite', async () => {
    const dir = await makeTempDir();
    const registry = await createStore({ dataDir: dir.path });
    const store = registry.state();
    return { store, done: async () => { await registry.close(); await dir.cleanup(); } };
  }],
];
if (pg !== null) {
  backends.push(['PostgreSQL', async () => {
    const dir = await makeTempDir();
    const registry = await createStore({ dataDir: dir.path, databaseUrl: pg.url });
    const store = registry.state();
    return { store, done: async () => { await registry.close(); await dir.cleanup(); } };
  }]);
}
afterAll(() => pg?.drop());

// Without TESSERA_TEST_DATABASE_URL only SQLite runs; test/postgres-notice.ts says so once per run.
describe.each(backends)('quotas shared through %s', (_name, open) => {
  it('two replicas together never let a client far past its limit', async () => {
    const { store, done } = await open();
    try {
      let now = 1_000_000_020_000;
      const a = quotaOf(5, () => now);
      const b = quotaOf(5, () => now);
      for (let i = 0; i < 3; i++) expect(a.consume('c')).toBe(0);
      for (let i = 0; i < 3; i++) expect(b.consume('c')).toBe(0); // b has not heard of a yet
      await a.sync(store);
      await b.sync(store);
      expect(b.consume('c')).toBeGreaterThan(0);
      await a.sync(store);
      expect(a.consume('c')).toBeGreaterThan(0);
      expect(a.consume('other')).toBe(0);
      now += 60_000; // the next window starts from zero
      expect(a.consume('c')).toBe(0);
      expect(await store.purgeExpired(now + 3_700_000)).toBeGreaterThanOrEqual(1);
    } finally {
      await done();
    }
  });

  it('shares 66,000 distinct back-off keys of one minute: bounded per process, synced in chunks, never an error', async () => {
    const { store, done } = await open();
    try {
      const now = 1_000_000_020_000;
      const a = new SharedCounters(60, () => now);
      const b = new SharedCounters(60, () => now);
      for (let i = 0; i < 66_000; i++) a.add(`af:s:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      expect(a.trackedKeys).toBeLessThanOrEqual(MAX_TRACKED_KEYS + 256);
      await a.sync(store);
      // The long tail still counts, per source network: 10.0.255.0/24 saw 256 failures.
      expect(a.count('af:s:10.0.255.7')).toBe(256);
      b.add('af:s:10.0.255.7');
      await b.sync(store);
      expect(b.count('af:s:10.0.255.7')).toBe(1);
      await a.sync(store);
      expect(a.count('af:s:10.0.0.1')).toBe(1);
    } finally {
      await done();
    }
  }, 60_000);
});

describe('aggregate keys of the long tail', () => {
  it('group sources by network and claimed clients by kind; quotas are never aggregated', () => {
    expect(aggregateKeyOf('af:s:203.0.113.9')).toBe('af:s:~203.0.113.0/24');
    expect(aggregateKeyOf('af:s:::ffff:203.0.113.9')).toBe('af:s:~203.0.113.0/24');
    expect(aggregateKeyOf('af:s:2001:db8:1:2::5')).toBe('af:s:~2001:db8:1::/48');
    expect(aggregateKeyOf('af:cs:t:client:with:colons:198.51.100.4')).toBe('af:cs:~198.51.100.0/24');
    expect(aggregateKeyOf('m:s:198.51.100.4')).toBe('m:s:~198.51.100.0/24');
    expect(aggregateKeyOf('af:c:t:random-client')).toBe('af:c:~');
    expect(aggregateKeyOf('q:c:t:client')).toBeNull();
  });

  it('count a new key under its aggregate once the bound is reached', () => {
    const counters = new SharedCounters(60, () => 0, 2);
    counters.add('af:s:192.0.2.1');
    counters.add('af:s:192.0.2.2');
    counters.add('af:s:192.0.2.3');
    counters.add('af:s:192.0.2.4');
    expect(counters.count('af:s:192.0.2.1')).toBe(1);
    expect(counters.count('af:s:192.0.2.3')).toBe(2);
    expect(counters.count('af:s:198.51.100.1')).toBe(0);
    expect(counters.trackedKeys).toBe(3);
  });
});

describe('shared counters', () => {
  it('never limit when the quota is 0', () => {
    const limiter = quotaOf(0, () => 0);
    for (let i = 0; i < 100; i++) expect(limiter.consume('k')).toBe(0);
  });

  it('keeps the hits a failed sync could not hand over', async () => {
    const limiter = quotaOf(2, () => 0);
    const failing = { addRateLimitHits: async () => { throw new Error('store down'); } } as unknown as StateStore;
    expect(limiter.consume('k')).toBe(0);
    expect(limiter.consume('k')).toBe(0);
    await expect(limiter.sync(failing)).rejects.toThrow('store down');
    expect(limiter.consume('k')).toBeGreaterThan(0);
  });

  it('tells how long until the window ends', () => {
    const limiter = quotaOf(1, () => 30_000);
    expect(limiter.consume('k')).toBe(0);
    expect(limiter.consume('k')).toBe(30);
  });
});
