import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { createTestDatabase } from '../../test/helpers/postgres.js';
import { makeTempDir } from '../../test/helpers/temp-dir.js';
import { resolveConfig } from '../config/config.js';
import { Protection } from './protection.js';

/** A Protection with a client quota of `limit` per minute, as every replica would build it. */
function quotaOf(limit: number, now: () => number): { consume(key: string): number; sync(store: Store): Promise<void> } {
  const protection = new Protection(resolveConfig({ rateLimit: { tokenRequestsPerWindow: limit } }).rateLimit, now);
  const tenant = { id: 't', name: 't', signingAlg: 'ES256' as const, accessTokenLifetime: null, createdAt: 0 };
  return {
    consume: (clientId) => protection.quota(tenant, { clientId }),
    sync: (store) => protection.sync(store),
  };
}

const pg = await createTestDatabase();
const backends: [string, () => Promise<{ store: Store; done: () => Promise<void> }>][] = [
  ['SQLite', async () => {
    const dir = await makeTempDir();
    const store = await createStore({ dataDir: dir.path });
    return { store, done: async () => { await store.close(); await dir.cleanup(); } };
  }],
];
if (pg !== null) {
  backends.push(['PostgreSQL', async () => {
    const dir = await makeTempDir();
    const store = await createStore({ dataDir: dir.path, databaseUrl: pg.url });
    return { store, done: async () => { await store.close(); await dir.cleanup(); } };
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
});

describe('shared counters', () => {
  it('never limit when the quota is 0', () => {
    const limiter = quotaOf(0, () => 0);
    for (let i = 0; i < 100; i++) expect(limiter.consume('k')).toBe(0);
  });

  it('keeps the hits a failed sync could not hand over', async () => {
    const limiter = quotaOf(2, () => 0);
    const failing = { addRateLimitHits: async () => { throw new Error('store down'); } } as unknown as Store;
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
