/**
 * The injectable pieces of the outside world: network, time and randomness.
 * Tests replace them; production code uses the defaults below.
 */

/** A WHATWG `fetch`. `init.dispatcher` is passed through for undici (used by mTLS). */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** Resolves after `ms` milliseconds, or rejects with the signal's reason when it aborts first. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const systemClock: Clock = { now: () => Date.now() };

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
