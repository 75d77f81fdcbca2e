/**
 * Token cache with refresh-ahead and single flight.
 *
 * - A token is served from cache until `usableUntil` (expiry minus a small skew).
 * - From `refreshAt` (a jittered 80–90 % of its lifetime by default) the cached token is
 *   still served, and one background refresh replaces it; the jitter keeps replicas that
 *   started together from refreshing together.
 * - Callers asking for the same key while a fetch is running share that fetch.
 */
import type { Clock } from './runtime.js';

export interface CacheableToken {
  accessToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

export interface RefreshPolicy {
  /** Start refreshing at this fraction of the lifetime. Default 0.8. */
  ratio: number;
  /** Plus a random share of the lifetime up to this. Default 0.1 (so 80–90 %). */
  jitter: number;
  /** Stop serving a token this many ms before it expires (capped at 10 % of its lifetime). Default 5000. */
  skewMs: number;
  /** After a failed background refresh, wait this long before the next one. Default 5000. */
  retryDelayMs: number;
}

export const defaultRefreshPolicy: Readonly<RefreshPolicy> = Object.freeze({
  ratio: 0.8,
  jitter: 0.1,
  skewMs: 5_000,
  retryDelayMs: 5_000,
});

interface Entry<T> {
  value: T;
  refreshAt: number;
  usableUntil: number;
}

export interface TokenCacheOptions {
  clock: Clock;
  random: () => number;
  policy: RefreshPolicy;
  /** Called when a background refresh fails (the cached token keeps being served). */
  onBackgroundError?: ((error: unknown) => void) | undefined;
}

export class TokenCache<T extends CacheableToken> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #inFlight = new Map<string, Promise<T>>();
  readonly #options: TokenCacheOptions;

  constructor(options: TokenCacheOptions) {
    this.#options = options;
  }

  /** The cached value if it is usable now, else the shared result of `fetcher`. */
  get(key: string, fetcher: () => Promise<T>, forceRefresh = false): Promise<T> {
    const entry = forceRefresh ? undefined : this.#entries.get(key);
    if (entry) {
      const now = this.#options.clock.now();
      if (now < entry.usableUntil) {
        if (now >= entry.refreshAt) this.#refreshInBackground(key, entry, fetcher);
        return Promise.resolve(entry.value);
      }
    }
    return this.#fetchShared(key, fetcher);
  }

  /**
   * Drops the entry for `key`; with `accessToken`, only if that is still the cached token,
   * so a caller holding an old token cannot evict a newer one.
   */
  invalidate(key: string, accessToken?: string): void {
    const entry = this.#entries.get(key);
    if (entry && (accessToken === undefined || entry.value.accessToken === accessToken)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #fetchShared(key: string, fetcher: () => Promise<T>): Promise<T> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    const promise = (async () => {
      try {
        const value = await fetcher();
        this.#store(key, value);
        return value;
      } finally {
        this.#inFlight.delete(key);
      }
    })();
    this.#inFlight.set(key, promise);
    return promise;
  }

  #refreshInBackground(key: string, entry: Entry<T>, fetcher: () => Promise<T>): void {
    if (this.#inFlight.has(key)) return;
    this.#fetchShared(key, fetcher).catch((error: unknown) => {
      const { clock, policy, onBackgroundError } = this.#options;
      // Keep serving the old token; try again a little later rather than on every call.
      entry.refreshAt = Math.min(entry.usableUntil, clock.now() + policy.retryDelayMs);
      onBackgroundError?.(error);
    });
  }

  #store(key: string, value: T): void {
    const { clock, random, policy } = this.#options;
    const now = clock.now();
    const lifetime = Math.max(0, value.expiresAt - now);
    const usableUntil = value.expiresAt - Math.min(policy.skewMs, lifetime / 10);
    const refreshAt = Math.min(usableUntil, now + lifetime * (policy.ratio + random() * policy.jitter));
    this.#entries.set(key, { value, refreshAt, usableUntil });
  }
}
