/**
 * `lastUsedAt` of client secrets, recorded in memory on the hot path and written to
 * the store in batches: a token request never waits for a write.
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

  record(secretId: string): void {
    const now = this.now();
    const last = this.#lastRecorded.get(secretId);
    if (last !== undefined && now - last < RECORD_GRANULARITY_MS) return;
    this.#lastRecorded.set(secretId, now);
    this.#pending.set(secretId, now);
  }

  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const used = [...this.#pending].map(([secretId, at]) => ({ secretId, at }));
    this.#pending.clear();
    await this.store.touchClientSecrets(used);
  }
}
