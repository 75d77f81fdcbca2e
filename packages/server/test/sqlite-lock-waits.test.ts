/**
 * SQLite under `serve --workers N`: every worker writes to one file, and a writer that
 * meets another's write lock must wait without blocking its event loop (a blocking
 * `busy_timeout` once stalled a whole worker for 818 ms). Another connection — as
 * another worker would — holds the write lock for 300 ms; meanwhile this process's
 * state and registry writes wait on timers and the event loop keeps turning, and the
 * waits are reported (`tessera_store_lock_wait_seconds`). A write transaction never
 * holds the lock across slow work of its own: signing keys are generated before it.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MasterKey } from '../src/crypto/master-key.js';
import { KeyService } from '../src/domain/keys.js';
import { createStore } from '../src/store/index.js';
import { SQLITE_FILE_NAME } from '../src/store/sqlite.js';
import type { StoreConnectionName, Store } from '../src/store/types.js';
import { makeTempDir } from './helpers/temp-dir.js';

/** Whether another connection could take the write lock at the moment each signing key was generated. */
const lockProbe = vi.hoisted(() => ({ probe: null as (() => boolean) | null, results: [] as boolean[] }));
vi.mock('../src/crypto/signing.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/crypto/signing.js')>();
  return {
    ...original,
    generateSigningKey: (...args: Parameters<typeof original.generateSigningKey>) => {
      if (lockProbe.probe !== null) lockProbe.results.push(lockProbe.probe());
      return original.generateSigningKey(...args);
    },
  };
});

describe('SQLite lock waits', () => {
  let dir: Awaited<ReturnType<typeof makeTempDir>>;
  let store: Store;
  let other: BetterSqlite3.Database;
  beforeAll(async () => {
    dir = await makeTempDir();
    store = await createStore({ dataDir: dir.path });
    other = new BetterSqlite3(join(dir.path, SQLITE_FILE_NAME));
    other.pragma('busy_timeout = 0');
  });
  afterAll(async () => {
    other.close();
    await store.close();
    await dir.cleanup();
  });

  it('wait for another connection\'s write transaction without stalling the event loop, and report the waits', async () => {
    const waits: [StoreConnectionName, number][] = [];
    store.observeLockWaits((connection, seconds) => waits.push([connection, seconds]));
    other.exec('begin immediate');
    const released = new Promise<number>((resolve) =>
      setTimeout(() => {
        other.exec('commit');
        resolve(Date.now());
      }, 300),
    );
    // The loop's longest gap between 5 ms ticks while the writes wait.
    let last = performance.now();
    let longestGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 5);
    try {
      const state = store.state();
      const writes = Promise.all([
        state.useOnce('assertion:c', 't', 'lock-wait', Date.now() + 60_000),
        state.addRateLimitHits(0, [{ key: 'k', count: 1 }]),
        store.setMeta('lock-wait', 'v'),
        store.transaction(async (tx) => tx.setMeta('lock-wait-tx', 'v')),
      ]);
      const [first] = await writes;
      const done = Date.now();
      expect(first).toBe(true);
      // The writes finished after the lock was released, not by failing early.
      expect(done).toBeGreaterThanOrEqual(await released);
      expect(await store.getMeta('lock-wait-tx')).toBe('v');
    } finally {
      clearInterval(ticker);
    }
    // A blocking wait would be the whole 300 ms (or 5 s); 200 ms leaves room for a GC pause
    // or a descheduled process on a loaded 2-core CI host, where the ticks run late too.
    expect(longestGap).toBeLessThan(200);
    // Both connections waited about as long as the other held the lock, and said so.
    const longest = (name: StoreConnectionName) => Math.max(0, ...waits.filter(([c]) => c === name).map(([, s]) => s));
    expect(longest('state')).toBeGreaterThan(0.25);
    expect(longest('registry')).toBeGreaterThan(0.25);
  });

  it('a key rotation generates its keys before it takes the write lock, never while holding it', async () => {
    await store.createTenant({ id: 'rsa', name: 'rsa', signingAlg: 'RS256', accessTokenLifetime: null, tokenQuotaPerMinute: null, trustDomain: null, dpopNonceRequired: false, createdAt: Date.now() });
    const keys = new KeyService({ store, masterKey: MasterKey.fromBase64(randomBytes(32).toString('base64')), policy: { rotationInterval: 86_400, publishLeadTime: 0, maxTokenLifetime: 3600 }, now: Date.now });
    // Could another process begin a write transaction right now?
    lockProbe.probe = () => {
      try {
        other.exec('begin immediate');
        other.exec('rollback');
        return true;
      } catch {
        return false;
      }
    };
    try {
      await keys.rotate('rsa', { emergency: false, actor: 'test' });
      await keys.rotate('rsa', { emergency: false, actor: 'test' });
      await keys.runSchedule(['rsa']);
    } finally {
      lockProbe.probe = null;
    }
    // A store without keys gets an active and a next key, then one new next key a rotation;
    // the schedule repairs nothing here, so generates nothing.
    expect(lockProbe.results).toEqual([true, true, true]);
    expect((await store.listSigningKeys('rsa')).map((k) => k.status).sort()).toEqual(['active', 'next', 'retired']);
  });
});
