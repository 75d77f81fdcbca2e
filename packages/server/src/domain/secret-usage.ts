/**
 * `lastUsedAt` of client secrets, recorded in memory on the hot path and written to
 * the store in batches: a token request never waits for a write. A secret's time is
 * written at most once a minute, and the store writes a batch in one statement per
 * few hundred secrets; what is remembered to skip the writes in between is only the
 * secrets used in the last minute, so memory does not grow with the registry.
 */
import type { Store } from '../store/types.js';

const RECORD_GRANULARITY_MS = 60_000;

export class SecretUsageTracker {
  readonly #pending = new Map<string, number>();
  readonly #lastRecorded = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  /** Secrets remembered as written within the last minute (for tests). */
  get remembered(): number {
    return this.#lastRecorded.size;
  }

  record(secretId: string): void {
    const now = this.now();
    const last = this.#lastRecorded.get(secretId);
    if (last !== undefined && now - last < RECORD_GRANULARITY_MS) return;
    this.#lastRecorded.set(secretId, now);
    this.#pending.set(secretId, now);
  }

  async flush(): Promise<void> {
    const now = this.now();
    for (const [secretId, at] of this.#lastRecorded) if (now - at >= RECORD_GRANULARITY_MS) this.#lastRecorded.delete(secretId);
    if (this.#pending.size === 0) return;
    const used = [...this.#pending].map(([secretId, at]) => ({ secretId, at }));
    this.#pending.clear();
    try {
      await this.store.touchClientSecrets(used);
    } catch (error) {
      // Not written: back for the next flush, unless a later use is already waiting.
      for (const { secretId, at } of used) if ((this.#pending.get(secretId) ?? -Infinity) < at) this.#pending.set(secretId, at);
      throw error;
    }
  }
}
