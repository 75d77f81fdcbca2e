/**
 * SQLite under `serve --workers N`: every worker writes to one file, and a writer that
 * meets another's write lock must wait without blocking its event loop (a blocking
 * `busy_timeout` once stalled a whole worker for 818 ms). Another connection — as
 * another worker would — holds the write lock for 300 ms; meanwhile this process's
 * state and registry writes wait on timers and the event loop keeps turning.
 */
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import { SQLITE_FILE_NAME } from '../src/store/sqlite.js';
import type { Store } from '../src/store/types.js';
import { makeTempDir } from './helpers/temp-dir.js';

describe('SQLite lock waits', () => {
  let dir: Awaited<ReturnType<typeof makeTempDir>>;
  let store: Store;
  let other: BetterSqlite3.Database;
  beforeAll(async () => {
    dir = await makeTempDir();
    store = await createStore({ dataDir: dir.path });
    other = new BetterSqlite3(join(dir.path, SQLITE_FILE_NAME));
  });
  afterAll(async () => {
    other.close();
    await store.close();
    await dir.cleanup();
  });

  it('wait for another connection\'s write transaction without stalling the event loop', async () => {
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
    // Generous for a loaded machine; a blocking wait would be the whole 300 ms (or 5 s).
    expect(longestGap).toBeLessThan(100);
  });
});
