/**
 * A bounded cache of entries loaded from the store, one per key, used by the
 * registry (domain/tenant-context.ts):
 *
 * - at most `maxEntries` present entries, weighing at most `maxWeight` in all (an
 *   estimate of their bytes), and `maxAbsent` known-absent keys (negative entries:
 *   "no such client"), each bounded on its own;
 * - scan-resistant eviction, after W-TinyLFU: segmented LRU (a new entry starts on
 *   probation, at least a fifth of the bounds, and is protected once used again),
 *   and, once the cache is full, a new entry is admitted only if its key was asked
 *   for more often lately than the entry it would evict. A working set a little
 *   larger than the cache still mostly hits (plain LRU misses every time on N+1
 *   entries visited in turn), and a scan of one-off keys evicts nothing useful;
 * - concurrent first loads of one key share one store round trip;
 * - entries that never change once made (an unsealed key, by kid) can be computed
 *   synchronously instead (`getOrCompute`), under the same bounds and policy;
 * - an invalidated entry keeps serving while its reload runs; a failed reload keeps
 *   the old entry (retried after `retryDelay`);
 * - a load that overlaps an invalidation of its key is not trusted: it loads again.
 */

/** Cache events for metrics; the ops layer implements it (prom-client). */
export interface CacheEvents {
  hit(cache: string): void;
  miss(cache: string): void;
  load(cache: string, seconds: number): void;
  evict(cache: string, count: number): void;
  feedLag(seconds: number): void;
}

export interface EntryCacheOptions<V> {
  name: string;
  maxEntries: number;
  maxAbsent: number;
  /** Loads an entry for `get` (a cache used only through `getOrCompute` needs none). */
  load?: (key: string) => Promise<V | null>;
  /** Estimated bytes of one entry (default 1): bounded in all by `maxWeight`. */
  weigh?: (value: V) => number;
  maxWeight?: number;
  now(): number;
  events?: CacheEvents | undefined;
  /** After a failed reload, how long an entry serves before the next attempt (ms). */
  retryDelay?: number;
}

interface Slot<V> {
  value: V;
  weight: number;
  /** In the protected segment (used again since it was loaded). */
  protected: boolean;
  /** Invalidated: serve, but reload. */
  stale: boolean;
  reloading: Promise<boolean> | null;
  retryAt: number;
}

interface Flight<V> {
  promise: Promise<V | null>;
  /** The key was invalidated while this load ran. */
  dirty: boolean;
}

/** Loads that keep overlapping invalidations give up after this many tries (and stay stale). */
const MAX_LOAD_ATTEMPTS = 3;
/** The protected segment's share of the bounds. */
const PROTECTED_SHARE = 0.8;

export class EntryCache<V> {
  readonly #options: EntryCacheOptions<V>;
  /** Both segments, each in LRU order (first: least recently used). */
  readonly #probation = new Map<string, Slot<V>>();
  readonly #protected = new Map<string, Slot<V>>();
  #weight = 0;
  #protectedWeight = 0;
  /** How often each key was asked for lately (halved as it grows: recent counts weigh more). */
  readonly #frequency = new Map<string, number>();
  readonly #absent = new Set<string>();
  readonly #loading = new Map<string, Flight<V>>();

  constructor(options: EntryCacheOptions<V>) {
    this.#options = options;
  }

  get size(): { entries: number; absent: number; weight: number } {
    return { entries: this.#probation.size + this.#protected.size, absent: this.#absent.size, weight: this.#weight };
  }

  #slot(key: string): Slot<V> | undefined {
    return this.#protected.get(key) ?? this.#probation.get(key);
  }

  #remove(key: string): void {
    const slot = this.#slot(key);
    if (slot === undefined) return;
    (slot.protected ? this.#protected : this.#probation).delete(key);
    this.#weight -= slot.weight;
    if (slot.protected) this.#protectedWeight -= slot.weight;
  }

  /** A use: to the protected segment's most recent end (from probation: promoted). */
  #touch(key: string, slot: Slot<V>): void {
    if (slot.protected) {
      this.#protected.delete(key);
      this.#protected.set(key, slot);
      return;
    }
    this.#probation.delete(key);
    this.#protect(key, slot);
  }

  #protect(key: string, slot: Slot<V>): void {
    slot.protected = true;
    this.#protected.set(key, slot);
    this.#protectedWeight += slot.weight;
    // The protected segment's overflow goes back on probation, most recent first in line.
    const maxCount = Math.max(1, Math.floor(this.#options.maxEntries * PROTECTED_SHARE));
    const maxWeight = (this.#options.maxWeight ?? Infinity) * PROTECTED_SHARE;
    while (this.#protected.size > 1 && (this.#protected.size > maxCount || this.#protectedWeight > maxWeight)) {
      const [oldestKey, oldest] = this.#protected.entries().next().value as [string, Slot<V>];
      this.#protected.delete(oldestKey);
      this.#protectedWeight -= oldest.weight;
      oldest.protected = false;
      this.#probation.set(oldestKey, oldest);
    }
    this.#evictEntries();
  }

  /** The entry, from memory when there is one (stale or not), else loaded once for all callers. */
  get(key: string): Promise<V | null> {
    this.#count(key);
    const slot = this.#slot(key);
    if (slot !== undefined) {
      this.#touch(key, slot);
      this.#options.events?.hit(this.#options.name);
      if (slot.stale) void this.#reload(key, slot);
      return Promise.resolve(slot.value);
    }
    if (this.#absent.has(key)) {
      this.#absent.delete(key);
      this.#absent.add(key);
      this.#options.events?.hit(this.#options.name);
      return Promise.resolve(null);
    }
    const flight = this.#loading.get(key);
    if (flight !== undefined) return flight.promise;
    this.#options.events?.miss(this.#options.name);
    return this.#loadFirst(key);
  }

  /**
   * The entry, made by `compute` when it is not in memory, and kept if the admission
   * rule lets it in: for entries that are never invalidated, only deleted.
   */
  getOrCompute(key: string, compute: () => V): V {
    this.#count(key);
    const slot = this.#slot(key);
    if (slot !== undefined) {
      this.#touch(key, slot);
      this.#options.events?.hit(this.#options.name);
      return slot.value;
    }
    this.#options.events?.miss(this.#options.name);
    const value = compute();
    this.#put(key, value, false);
    return value;
  }

  /** The entry in memory, without loading or touching LRU order (undefined: not cached). */
  peek(key: string): V | null | undefined {
    const slot = this.#slot(key);
    if (slot !== undefined) return slot.value;
    return this.#absent.has(key) ? null : undefined;
  }

  /**
   * Marks the key changed: a negative entry goes, a present one keeps serving until
   * its reload (started here) replaces it. Resolves when the reload is done (or
   * failed, keeping the old entry); at once when the key was not cached.
   */
  invalidate(key: string): Promise<void> {
    this.#absent.delete(key);
    const flight = this.#loading.get(key);
    if (flight !== undefined) flight.dirty = true;
    const slot = this.#slot(key);
    if (slot === undefined) return flight === undefined ? Promise.resolve() : flight.promise.then(noop, noop);
    slot.stale = true;
    slot.retryAt = 0;
    return this.#reloadUntilFresh(key);
  }

  /** Forgets one key (e.g. every client of a deleted tenant). */
  delete(key: string): void {
    this.#absent.delete(key);
    this.#remove(key);
    const flight = this.#loading.get(key);
    if (flight !== undefined) flight.dirty = true;
  }

  /** Forgets every key that starts with `prefix`: O(cache size), for rare bulk changes only. */
  deleteByPrefix(prefix: string): void {
    for (const key of [...this.#probation.keys(), ...this.#protected.keys()]) if (key.startsWith(prefix)) this.#remove(key);
    for (const key of this.#absent) if (key.startsWith(prefix)) this.#absent.delete(key);
    for (const [key, flight] of this.#loading) if (key.startsWith(prefix)) flight.dirty = true;
  }

  clear(): void {
    this.#frequency.clear();
    this.#probation.clear();
    this.#protected.clear();
    this.#weight = 0;
    this.#protectedWeight = 0;
    this.#absent.clear();
    for (const flight of this.#loading.values()) flight.dirty = true;
  }

  #loadFirst(key: string): Promise<V | null> {
    const flight: Flight<V> = { promise: Promise.resolve(null), dirty: false };
    flight.promise = (async () => {
      try {
        let value: V | null;
        let attempts = 0;
        do {
          flight.dirty = false;
          value = await this.#timedLoad(key);
        } while (flight.dirty && ++attempts < MAX_LOAD_ATTEMPTS);
        this.#put(key, value, flight.dirty);
        return value;
      } finally {
        this.#loading.delete(key);
      }
    })();
    this.#loading.set(key, flight);
    return flight.promise;
  }

  async #reloadUntilFresh(key: string): Promise<void> {
    for (let attempt = 0; attempt < MAX_LOAD_ATTEMPTS; attempt++) {
      const slot = this.#slot(key);
      if (slot === undefined || !slot.stale) return;
      if (!(await this.#reload(key, slot))) return;
    }
  }

  /** Reloads a stale entry in place; the old value serves meanwhile and stays if the load fails. */
  #reload(key: string, slot: Slot<V>): Promise<boolean> {
    if (slot.reloading !== null) return slot.reloading;
    if (this.#options.now() < slot.retryAt) return Promise.resolve(false);
    // Cleared before loading: an invalidation while the load runs sets it again.
    slot.stale = false;
    slot.reloading = (async () => {
      try {
        const value = await this.#timedLoad(key);
        if (this.#slot(key) !== slot) return true;
        if (value === null) {
          this.#remove(key);
          this.#putAbsent(key);
        } else {
          const weight = this.#weigh(value);
          this.#weight += weight - slot.weight;
          if (slot.protected) this.#protectedWeight += weight - slot.weight;
          slot.value = value;
          slot.weight = weight;
          this.#evictEntries();
        }
        return true;
      } catch {
        slot.stale = true;
        slot.retryAt = this.#options.now() + (this.#options.retryDelay ?? 1000);
        return false;
      } finally {
        slot.reloading = null;
      }
    })();
    return slot.reloading;
  }

  async #timedLoad(key: string): Promise<V | null> {
    const { events, load, name } = this.#options;
    if (load === undefined) throw new Error(`the ${name} cache has no loader`);
    if (events === undefined) return load(key);
    const started = performance.now();
    const value = await load(key);
    events.load(name, (performance.now() - started) / 1000);
    return value;
  }

  #put(key: string, value: V | null, stale: boolean): void {
    if (value === null) {
      this.#remove(key);
      // A negative entry that overlapped a change is simply not kept.
      if (!stale) this.#putAbsent(key);
      return;
    }
    this.#absent.delete(key);
    this.#remove(key);
    const weight = this.#weigh(value);
    if (!this.#admits(key, weight)) return;
    this.#probation.set(key, { value, weight, protected: false, stale, reloading: null, retryAt: 0 });
    this.#weight += weight;
    this.#evictEntries();
  }

  #count(key: string): void {
    this.#frequency.set(key, (this.#frequency.get(key) ?? 0) + 1);
    const bound = 2 * Math.max(this.#options.maxEntries, 64);
    if (this.#frequency.size <= bound) return;
    // Ageing: halve every count, forget the zeros, and the oldest keys if still too many.
    for (const [k, n] of this.#frequency) {
      if (n <= 1) this.#frequency.delete(k);
      else this.#frequency.set(k, n >> 1);
    }
    for (const k of this.#frequency.keys()) {
      if (this.#frequency.size <= bound / 2) break;
      this.#frequency.delete(k);
    }
  }

  /** TinyLFU admission: with room, yes; when full, only a key asked for more often than the next victim. */
  #admits(key: string, weight: number): boolean {
    const count = this.#probation.size + this.#protected.size;
    const full = count >= this.#options.maxEntries || this.#weight + weight > (this.#options.maxWeight ?? Infinity);
    if (!full || count === 0) return true;
    const victim = (this.#probation.size > 0 ? this.#probation : this.#protected).keys().next().value as string;
    const admitted = (this.#frequency.get(key) ?? 0) > (this.#frequency.get(victim) ?? 0);
    if (!admitted) this.#options.events?.evict(this.#options.name, 1);
    return admitted;
  }

  #weigh(value: V): number {
    return this.#options.weigh?.(value) ?? 1;
  }

  /** Least recently used first: probation's, then (when probation is empty) protected's. */
  #evictEntries(): void {
    const maxWeight = this.#options.maxWeight ?? Infinity;
    let evicted = 0;
    while (this.#probation.size + this.#protected.size > this.#options.maxEntries || (this.#weight > maxWeight && this.#probation.size + this.#protected.size > 1)) {
      const segment = this.#probation.size > 0 ? this.#probation : this.#protected;
      const oldest = segment.keys().next();
      if (oldest.done === true) break;
      this.#remove(oldest.value);
      evicted++;
    }
    if (evicted > 0) this.#options.events?.evict(this.#options.name, evicted);
  }

  #putAbsent(key: string): void {
    this.#absent.delete(key);
    if (this.#options.maxAbsent <= 0) return;
    this.#absent.add(key);
    this.#evict(this.#absent, this.#options.maxAbsent);
  }

  #evict(items: Set<string>, max: number): void {
    let evicted = 0;
    while (items.size > max) {
      const oldest = items.keys().next();
      if (oldest.done === true) break;
      items.delete(oldest.value);
      evicted++;
    }
    if (evicted > 0) this.#options.events?.evict(this.#options.name, evicted);
  }
}

function noop(): void {}
