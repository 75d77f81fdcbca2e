/**
 * Bounded retries: exponential backoff with jitter on network errors, timeouts, 5xx and
 * 429; `Retry-After` (seconds or HTTP date) replaces the backoff when the server sends it.
 * Every attempt has its own timeout and all attempts together a total budget; a wait that
 * would overrun the budget is not started.
 */
import { AbortError, TimeoutError, TokenClientError } from './errors.js';
import type { Clock, Sleep } from './runtime.js';

export interface RetryPolicy {
  /** Attempts in total, the first included. Default 4. */
  maxAttempts: number;
  /** Backoff before the 2nd attempt; doubles each time. Default 250 ms. */
  baseDelayMs: number;
  /** Upper bound of one backoff. Default 5 s. */
  maxDelayMs: number;
  /** Timeout of one attempt (request and body). Default 10 s. */
  attemptTimeoutMs: number;
  /** Budget for all attempts and waits together. Default 30 s. */
  totalTimeoutMs: number;
}

export const defaultRetryPolicy: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 5_000,
  attemptTimeoutMs: 10_000,
  totalTimeoutMs: 30_000,
});

export interface RetryRuntime {
  clock: Clock;
  sleep: Sleep;
  random: () => number;
}

/** `Retry-After` as milliseconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** "Equal jitter": half the exponential delay fixed, half random, so replicas spread out. */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

function retryAfterOf(error: unknown): string | undefined {
  const value = (error as { retryAfter?: unknown }).retryAfter;
  return typeof value === 'string' ? value : undefined;
}

export async function withRetry<T>(
  operation: (signal: AbortSignal) => Promise<T>,
  policy: RetryPolicy,
  runtime: RetryRuntime,
  signal?: AbortSignal,
): Promise<T> {
  const { clock, sleep, random } = runtime;
  const deadline = clock.now() + policy.totalTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new AbortError('the operation was aborted', { cause: signal.reason });
    const remaining = deadline - clock.now();
    if (remaining <= 0) {
      throw new TimeoutError(`gave up after ${policy.totalTimeoutMs} ms`, { retryable: false });
    }
    const attemptTimeout = AbortSignal.timeout(Math.min(policy.attemptTimeoutMs, remaining));
    const attemptSignal = signal ? AbortSignal.any([signal, attemptTimeout]) : attemptTimeout;
    let error: unknown;
    try {
      return await operation(attemptSignal);
    } catch (caught) {
      error = caught;
    }
    if (signal?.aborted) throw new AbortError('the operation was aborted', { cause: signal.reason });
    if (attemptTimeout.aborted) {
      error = new TimeoutError(`attempt ${attempt} timed out`, { retryable: true, cause: error });
    }
    if (!(error instanceof TokenClientError) || !error.retryable || attempt >= policy.maxAttempts) throw error;

    const delay = parseRetryAfter(retryAfterOf(error), clock.now()) ?? backoffDelay(attempt, policy, random);
    // A server asking us to wait past our budget gets its error reported now, not later.
    if (clock.now() + delay >= deadline) throw error;
    try {
      await sleep(delay, signal);
    } catch (reason) {
      throw new AbortError('the operation was aborted', { cause: reason });
    }
  }
}
