/**
 * Counters in fixed windows, shared by every replica and worker without a store round
 * trip per request: each process counts in memory and, once a second, adds its new
 * hits to the store's counters and learns the totals of every process
 * (StateStore.addRateLimitHits). A key can overshoot a limit only by what the other
 * processes let through since their last sync.
 *
 * A process tracks at most `maxKeys` keys per window: past that, a new key whose kind
 * names a source address (`af:s:`, `af:cs:`, `m:s:`) or a claimed client (`af:c:`) is
 * counted under an aggregate of its kind and source prefix (IPv4 /24, IPv6 /48), so a
 * flood of distinct keys (every address of a botnet, random client ids) costs bounded
 * memory and a bounded sync, and still counts. Quota keys (`q:`) are per registered
 * client or tenant, bounded by the registry, and always tracked one by one.
 */
import { isIP } from 'node:net';
import type { StateStore } from '../store/state/types.js';

/** Default bound on the keys one process tracks per window and counter set. */
export const MAX_TRACKED_KEYS = 10_000;

export class SharedCounters {
  /** Hits of the current window not yet added to the store. */
  readonly #unsynced = new Map<string, number>();
  /** Totals of every process for the current window, as of the last sync. */
  readonly #shared = new Map<string, number>();
  #windowStart = 0;

  constructor(
    readonly windowSeconds: number,
    protected readonly now: () => number,
    readonly maxKeys: number = MAX_TRACKED_KEYS,
  ) {}

  /** How many keys this process tracks now (each key once, aggregates included, at most about maxKeys). */
  get trackedKeys(): number {
    this.#roll(this.now());
    let n = this.#shared.size;
    for (const key of this.#unsynced.keys()) if (!this.#shared.has(key)) n++;
    return n;
  }

  #tracks(key: string): boolean {
    return this.#unsynced.has(key) || this.#shared.has(key);
  }

  /** The key counted for `key`: itself, or its aggregate once the bound is reached. */
  #counted(key: string): string {
    if (this.#tracks(key) || this.#shared.size + this.#unsynced.size < this.maxKeys) return key;
    return aggregateKeyOf(key) ?? key;
  }

  /** Whether nothing at all was counted in this window: the hot path's early exit. */
  get idle(): boolean {
    this.#roll(this.now());
    return this.#unsynced.size === 0 && this.#shared.size === 0;
  }

  /** Hits of `key` in this window, every process's as of the last sync plus this one's since. */
  count(key: string): number {
    this.#roll(this.now());
    // A key not tracked on its own may have been counted in its aggregate.
    const counted = this.#tracks(key) ? key : (aggregateKeyOf(key) ?? key);
    return (this.#shared.get(counted) ?? 0) + (this.#unsynced.get(counted) ?? 0);
  }

  add(key: string): void {
    this.#roll(this.now());
    const counted = this.#counted(key);
    this.#unsynced.set(counted, (this.#unsynced.get(counted) ?? 0) + 1);
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

/**
 * The aggregate a key is counted under once a process tracks too many: its kind and
 * the network of its source address (`af:s:~203.0.113.0/24`), or its kind alone when
 * it names no address (`af:c:~`). Null for kinds that are always tracked (quotas).
 */
export function aggregateKeyOf(key: string): string | null {
  const kind = /^(af:s:|af:cs:|af:c:|m:s:)/.exec(key)?.[1];
  if (kind === undefined) return null;
  const rest = key.slice(kind.length);
  return `${kind}~${kind === 'af:c:' ? '' : (sourceNetwork(rest) ?? '')}`;
}

/** The /24 (IPv4) or /48 (IPv6) of the address that ends `text`, if one does. */
function sourceNetwork(text: string): string | null {
  const v4 = /(?:^|:)(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$/.exec(text);
  if (v4 !== null) return `${v4[1]}.0/24`;
  const parts = text.split(':');
  for (let start = 0; start < parts.length - 1; start++) {
    const candidate = parts.slice(start).join(':');
    if (isIP(candidate) === 6) return `${expandIpv6(candidate).slice(0, 3).join(':')}::/48`;
  }
  return null;
}

function expandIpv6(address: string): string[] {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...fill, ...right].map((part) => part.replace(/^0+(?=.)/, '').toLowerCase());
}
