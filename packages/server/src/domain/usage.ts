/**
 * Usage recording (docs/usage.md). The token endpoint counts in memory: one Map
 * entry per minute × tenant × client × API × scope set × outcome, no store write per
 * token. Every replica flushes its counts in one batch every `flushInterval` with
 * additive upserts, so counts from all replicas add up; a crash loses at most one
 * interval. Last uses of clients, grants and scopes are derived from the counts at
 * flush time, so the hot path does one Map update per token.
 */
import { BUCKET_MS, ISSUED, type LastUse, type LastUseKind, SUBJECT_SEPARATOR, type UsageCount, type UsageStore } from '../store/usage-store.js';

interface PendingCount extends UsageCount {
  /** Latest time counted into this entry. */
  lastAt: number;
}

const MINUTE = BUCKET_MS.minute;
/**
 * Rows per flush transaction: a flush of many keys is several short transactions, so
 * on SQLite (one connection) other queries get their turn between them.
 */
const FLUSH_SLICE = 2000;

/** What the token path calls; `null` methods when recording is off cost nothing. */
export interface UsageRecording {
  issued(tenantId: string, clientId: string, audience: string, scopes: readonly string[]): void;
  refused(tenantId: string, clientId: string, audience: string, error: string): void;
  keyUsed(tenantId: string, clientId: string, kid: string): void;
}

export class UsageRecorder implements UsageRecording {
  #pending = new Map<string, PendingCount>();
  #lastUses = new Map<string, LastUse>();

  constructor(
    private readonly store: UsageStore,
    private readonly now: () => number,
  ) {}

  /** A token was issued: counted under its scope set (sorted, so "b a" and "a b" are one key). */
  issued(tenantId: string, clientId: string, audience: string, scopes: readonly string[]): void {
    const scope = scopes.length < 2 ? (scopes[0] ?? '') : [...scopes].sort().join(' ');
    this.#count(tenantId, clientId, audience, scope, ISSUED);
  }

  /** A token request was refused with `error`, by a client of the tenant ('' when no client was identified). */
  refused(tenantId: string, clientId: string, audience: string, error: string): void {
    this.#count(tenantId, clientId, audience, '', error);
  }

  /** A private_key_jwt assertion was verified with the client's key `kid`. */
  keyUsed(tenantId: string, clientId: string, kid: string): void {
    this.#touch(tenantId, 'key', `${clientId}${SUBJECT_SEPARATOR}${kid}`, this.now());
  }

  /** Distinct keys waiting for the next flush. */
  get pendingKeys(): number {
    return this.#pending.size;
  }

  #count(tenantId: string, clientId: string, audience: string, scope: string, outcome: string): void {
    const now = this.now();
    const bucketStart = now - (now % MINUTE);
    const key = `${bucketStart}\u0000${tenantId}\u0000${clientId}\u0000${audience}\u0000${scope}\u0000${outcome}`;
    const entry = this.#pending.get(key);
    if (entry !== undefined) {
      entry.count += 1;
      entry.lastAt = now;
    } else {
      this.#pending.set(key, { tenantId, bucketStart, clientId, audience, scope, outcome, count: 1, lastAt: now });
    }
  }

  #touch(tenantId: string, kind: LastUseKind, subject: string, at: number): void {
    const key = `${tenantId}\u0000${kind}\u0000${subject}`;
    const entry = this.#lastUses.get(key);
    if (entry === undefined) this.#lastUses.set(key, { tenantId, kind, subject, at });
    else if (entry.at < at) entry.at = at;
  }

  /**
   * Writes everything counted since the last flush, in transactions of FLUSH_SLICE rows.
   * On failure, what was not written goes back into memory (counts are additive) for
   * the next attempt; what was written stays written, so nothing counts twice.
   */
  async flush(): Promise<void> {
    if (this.#pending.size === 0 && this.#lastUses.size === 0) return;
    const pending = this.#pending;
    this.#pending = new Map();
    for (const entry of pending.values()) {
      if (entry.outcome !== ISSUED) continue;
      const grant = `${entry.clientId}${SUBJECT_SEPARATOR}${entry.audience}`;
      this.#touch(entry.tenantId, 'client', entry.clientId, entry.lastAt);
      this.#touch(entry.tenantId, 'grant', grant, entry.lastAt);
      if (entry.scope === '') continue;
      for (const scope of entry.scope.split(' ')) this.#touch(entry.tenantId, 'scope', `${grant}${SUBJECT_SEPARATOR}${scope}`, entry.lastAt);
    }
    const counts = [...pending];
    const lastUses = [...this.#lastUses.values()];
    this.#lastUses = new Map();
    let countsDone = 0;
    let lastUsesDone = 0;
    try {
      while (countsDone < counts.length) {
        const slice = counts.slice(countsDone, countsDone + FLUSH_SLICE);
        await this.store.record(slice.map(([, { lastAt: _lastAt, ...count }]) => count), []);
        countsDone += slice.length;
      }
      while (lastUsesDone < lastUses.length) {
        const slice = lastUses.slice(lastUsesDone, lastUsesDone + FLUSH_SLICE);
        await this.store.record([], slice);
        lastUsesDone += slice.length;
      }
    } catch (error) {
      this.#restore(counts.slice(countsDone), lastUses.slice(lastUsesDone));
      throw error;
    }
  }

  #restore(pending: readonly [string, PendingCount][], lastUses: readonly LastUse[]): void {
    for (const [key, entry] of pending) {
      const current = this.#pending.get(key);
      if (current === undefined) this.#pending.set(key, entry);
      else {
        current.count += entry.count;
        current.lastAt = Math.max(current.lastAt, entry.lastAt);
      }
    }
    for (const entry of lastUses) this.#touch(entry.tenantId, entry.kind, entry.subject, entry.at);
  }
}

/** Recording switched off (usage.enabled = false): the token path pays nothing. */
export const noUsageRecording: UsageRecording = {
  issued() {},
  refused() {},
  keyUsed() {},
};

const floorTo = (t: number, size: number) => t - (((t % size) + size) % size);
const ceilTo = (t: number, size: number) => floorTo(t + size - 1, size);

/**
 * Roll-up and retention, run by every replica on a timer. Each step is idempotent
 * (a roll-up replaces a bucket by the sum of its finer buckets; a purge deletes by
 * age), so replicas need no coordination: the last writer writes the same sums.
 * The first run recomputes every bucket whose finer data is still complete; later
 * runs recompute from an hour (for hours) or a day (for days) before the previous run.
 */
export class UsageMaintenance {
  #lastRun: number | null = null;

  constructor(
    private readonly store: UsageStore,
    private readonly retention: { minutes: number; hours: number; days: number },
    private readonly now: () => number,
  ) {}

  async run(): Promise<void> {
    const now = this.now();
    const { hour, day } = BUCKET_MS;
    // Only buckets whose finer data is all still kept: a bucket whose first minutes were
    // already deleted would be replaced by a partial sum.
    const since = (keptFrom: number, size: number) => {
      const complete = ceilTo(keptFrom, size);
      return this.#lastRun === null ? complete : Math.max(complete, floorTo(this.#lastRun - size, size));
    };
    await this.store.rollUp('minute', 'hour', since(now - this.retention.minutes, hour), floorTo(now, hour) + hour);
    await this.store.rollUp('hour', 'day', since(now - this.retention.hours, day), floorTo(now, day) + day);
    await this.store.purge('minute', now - this.retention.minutes);
    await this.store.purge('hour', now - this.retention.hours);
    await this.store.purge('day', now - this.retention.days);
    await this.store.purgeLastUses(now - this.retention.days);
    this.#lastRun = now;
  }
}
