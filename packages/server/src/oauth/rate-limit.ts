/**
 * Token-endpoint rate limit per client, in fixed windows, shared by every replica
 * without a store round trip per request: each replica counts in memory and, once a
 * second, adds its new hits to the store's counters and learns the totals of every
 * replica (Store.addRateLimitHits). A client can overshoot the limit only by what
 * the other replicas let through since their last sync.
 */
import type { Store } from '../store/types.js';

export class RateLimiter {
  /** Hits of the current window not yet added to the store. */
  readonly #unsynced = new Map<string, number>();
  /** Totals of every replica for the current window, as of the last sync. */
  readonly #shared = new Map<string, number>();
  #windowStart = 0;

  constructor(
    private readonly limit: number,
    private readonly windowSeconds: number,
    private readonly now: () => number,
  ) {}

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** Counts one request for `key`; returns how many seconds to wait (0: go ahead). */
  consume(key: string): number {
    if (!this.enabled) return 0;
    const now = this.now();
    this.#roll(now);
    const unsynced = (this.#unsynced.get(key) ?? 0) + 1;
    if ((this.#shared.get(key) ?? 0) + unsynced > this.limit) {
      return (this.#windowStart + this.windowSeconds * 1000 - now) / 1000;
    }
    this.#unsynced.set(key, unsynced);
    return 0;
  }

  /** Adds this replica's new hits to the shared counters and learns every replica's totals. */
  async sync(store: Store): Promise<void> {
    if (!this.enabled) return;
    this.#roll(this.now());
    const windowStart = this.#windowStart;
    const keys = new Set([...this.#unsynced.keys(), ...this.#shared.keys()]);
    const hits = [...keys].map((key) => ({ key, count: this.#unsynced.get(key) ?? 0 }));
    this.#unsynced.clear();
    let totals: Map<string, number>;
    try {
      totals = await store.addRateLimitHits(windowStart, hits);
    } catch (error) {
      // Keep counting what the store did not take, so an outage does not reset the limit.
      if (this.#windowStart === windowStart) {
        for (const { key, count } of hits) if (count > 0) this.#unsynced.set(key, (this.#unsynced.get(key) ?? 0) + count);
      }
      throw error;
    }
    if (this.#windowStart !== windowStart) return; // the window rolled meanwhile
    for (const [key, total] of totals) this.#shared.set(key, total);
  }

  #roll(now: number): void {
    const windowMs = this.windowSeconds * 1000;
    const start = now - (now % windowMs);
    if (start !== this.#windowStart) {
      this.#windowStart = start;
      this.#unsynced.clear();
      this.#shared.clear();
    }
  }
}
