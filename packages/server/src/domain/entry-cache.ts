/**
 * A bounded cache of entries loaded from the store, one per key, used by the
 * registry (domain/tenant-context.ts):
 *
 * - LRU over at most `maxEntries` present entries and `maxAbsent` known-absent keys
 *   (negative entries: "no such client"), each bounded on its own;
 * - concurrent first loads of one key share one store round trip;
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
  load(key: string): Promise<V | null>;
  now(): number;
  events?: CacheEvents | undefined;
  /** After a failed reload, how long an entry serves before the next attempt (ms). */
  retryDelay?: number;
}

interface Slot<V> {
  value: V;
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

export class EntryCache<V> {
  readonly #options: EntryCacheOptions<V>;
  readonly #entries = new Map<string, Slot<V>>();
  readonly #absent = new Set<string>();
  readonly #loading = new Map<string, Flight<V>>();

  constructor(options: EntryCacheOptions<V>) {
    this.#options = options;
  }

  get size(): { entries: number; absent: number } {
    return { entries: this.#entries.size, absent: this.#absent.size };
  }

  /** The entry, from memory when there is one (stale or not), else loaded once for all callers. */
  get(key: string): Promise<V | null> {
    const slot = this.#entries.get(key);
    if (slot !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, slot);
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

  /** The entry in memory, without loading or touching LRU order (undefined: not cached). */
  peek(key: string): V | null | undefined {
    const slot = this.#entries.get(key);
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
    const slot = this.#entries.get(key);
    if (slot === undefined) return flight === undefined ? Promise.resolve() : flight.promise.then(noop, noop);
    slot.stale = true;
    slot.retryAt = 0;
    return this.#reloadUntilFresh(key);
  }

  /** Forgets one key (e.g. every client of a deleted tenant). */
  delete(key: string): void {
    this.#absent.delete(key);
    this.#entries.delete(key);
    const flight = this.#loading.get(key);
    if (flight !== undefined) flight.dirty = true;
  }

  /** Forgets every key that starts with `prefix`: O(cache size), for rare bulk changes only. */
  deleteByPrefix(prefix: string): void {
    for (const key of this.#entries.keys()) if (key.startsWith(prefix)) this.#entries.delete(key);
    for (const key of this.#absent) if (key.startsWith(prefix)) this.#absent.delete(key);
    for (const [key, flight] of this.#loading) if (key.startsWith(prefix)) flight.dirty = true;
  }

  clear(): void {
    this.#entries.clear();
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
      const slot = this.#entries.get(key);
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
        if (this.#entries.get(key) !== slot) return true;
        if (value === null) {
          this.#entries.delete(key);
          this.#putAbsent(key);
        } else {
          slot.value = value;
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
    const events = this.#options.events;
    if (events === undefined) return this.#options.load(key);
    const started = performance.now();
    const value = await this.#options.load(key);
    events.load(this.#options.name, (performance.now() - started) / 1000);
    return value;
  }

  #put(key: string, value: V | null, stale: boolean): void {
    if (value === null) {
      this.#entries.delete(key);
      // A negative entry that overlapped a change is simply not kept.
      if (!stale) this.#putAbsent(key);
      return;
    }
    this.#absent.delete(key);
    this.#entries.delete(key);
    this.#entries.set(key, { value, stale, reloading: null, retryAt: 0 });
    this.#evict(this.#entries, this.#options.maxEntries);
  }

  #putAbsent(key: string): void {
    this.#absent.delete(key);
    if (this.#options.maxAbsent <= 0) return;
    this.#absent.add(key);
    this.#evict(this.#absent, this.#options.maxAbsent);
  }

  #evict(items: Map<string, unknown> | Set<string>, max: number): void {
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
