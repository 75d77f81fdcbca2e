import { describe, expect, it } from 'vitest';
import type { Store } from '../store/types.js';
import { SecretUsageTracker } from './secret-usage.js';

/** A store that records what it is asked to write, and fails when told to. */
function fakeStore() {
  const writes: { secretId: string; at: number }[][] = [];
  let failing = false;
  const store = {
    async touchClientSecrets(used: { secretId: string; at: number }[]) {
      if (failing) throw new Error('store unreachable');
      writes.push(used);
    },
  } as unknown as Store;
  return { store, writes, fail: (on: boolean) => (failing = on) };
}

describe('SecretUsageTracker', () => {
  it('writes each secret at most once a minute, in one batch per flush', async () => {
    let now = 1_000_000;
    const { store, writes } = fakeStore();
    const tracker = new SecretUsageTracker(store, () => now);
    tracker.record('s1');
    tracker.record('s2');
    now += 30_000;
    tracker.record('s1'); // within the minute: not written again
    await tracker.flush();
    expect(writes).toEqual([
      [
        { secretId: 's1', at: 1_000_000 },
        { secretId: 's2', at: 1_000_000 },
      ],
    ]);
    now += 30_000;
    tracker.record('s1');
    await tracker.flush();
    expect(writes[1]).toEqual([{ secretId: 's1', at: 1_060_000 }]);
    await tracker.flush(); // nothing pending: no write
    expect(writes).toHaveLength(2);
  });

  it('remembers only the secrets written within the last minute', async () => {
    let now = 0;
    const { store } = fakeStore();
    const tracker = new SecretUsageTracker(store, () => now);
    for (let i = 0; i < 100; i++) tracker.record(`s${i}`);
    await tracker.flush();
    expect(tracker.remembered).toBe(100);
    now += 59_999;
    tracker.record('late');
    await tracker.flush();
    expect(tracker.remembered).toBe(101);
    now += 1;
    await tracker.flush();
    expect(tracker.remembered).toBe(1);
  });

  it('keeps what a failed flush could not write for the next one', async () => {
    let now = 0;
    const { store, writes, fail } = fakeStore();
    const tracker = new SecretUsageTracker(store, () => now);
    tracker.record('s1');
    fail(true);
    await expect(tracker.flush()).rejects.toThrow('store unreachable');
    fail(false);
    now += 120_000;
    tracker.record('s2');
    await tracker.flush();
    expect(writes).toEqual([
      [
        { secretId: 's1', at: 0 },
        { secretId: 's2', at: 120_000 },
      ],
    ]);
  });
});
