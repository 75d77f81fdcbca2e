/**
 * Counters in fixed windows, shared by every replica and worker without a store round
 * trip per request: each process counts in memory and, once a second, adds its new
 * hits to the store's counters and learns the totals of every process
 * (StateStore.addRateLimitHits). A key can overshoot a limit only by what the other
 * processes let through since their last sync.
 */
import type { StateStore } from '../store/state/types.js';

export class SharedCounters {
  /** Hits of the current window not yet added to the store. */
  readonly #unsynced = new Map<string, number>();
  /** Totals of every process for the current window, as of the last sync. */
  readonly #shared = new Map<string, number>();
  #windowStart = 0;

  constructor(
    readonly windowSeconds: number,
    protected readonly now: () => number,
  ) {}

  /** Whether nothing at all was counted in this window: the hot path's early exit. */
  get idle(): boolean {
    this.#roll(this.now());
    return this.#unsynced.size === 0 && this.#shared.size === 0;
  }

  /** Hits of `key` in this window, every process's as of the last sync plus this one's since. */
  count(key: string): number {
    this.#roll(this.now());
    return (this.#shared.get(key) ?? 0) + (this.#unsynced.get(key) ?? 0);
  }

  add(key: string): void {
    this.#roll(this.now());
    this.#unsynced.set(key, (this.#unsynced.get(key) ?? 0) + 1);
  }

  /** Seconds until the current window ends (what `Retry-After` says). */
  secondsLeft(): number {
    return (this.#windowStart + this.windowSeconds * 1000 - this.now()) / 1000;
  }

  /** Adds this process's new hits to the shared counters and learns every process's totals. */
  async sync(store: Pick<StateStore, 'addRateLimitHits'>): Promise<void> {
    this.#roll(this.now());
    const windowStart = this.#windowStart;
    if (this.#unsynced.size === 0 && this.#shared.size === 0) return;
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
