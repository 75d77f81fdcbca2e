import { fetch as undiciFetch } from 'undici';
import type { ClientAuth } from './auth/types.js';
import { NetworkError } from './errors.js';
import type { FetchLike } from './runtime.js';

/**
 * The fetch to use with a strategy: undici's own `fetch` when the strategy brings an undici
 * dispatcher (mTLS), because Node's built-in fetch bundles a different undici whose
 * dispatchers are not interchangeable; the global `fetch` otherwise.
 */
export function defaultFetchFor(auth: ClientAuth): FetchLike {
  if (auth.dispatcher) return undiciFetch as unknown as FetchLike;
  // Looked up per call, so code that patches globalThis.fetch (test mocks, tracing) is honoured.
  return (input, init) => globalThis.fetch(input, init);
}

/** Adds the strategy's dispatcher to a request init (undici-specific `dispatcher` field). */
export function withDispatcher(auth: ClientAuth, init: RequestInit): RequestInit {
  if (!auth.dispatcher || 'dispatcher' in init) return init;
  return { ...init, dispatcher: auth.dispatcher } as unknown as RequestInit;
}

/**
 * Runs a fetch and turns "no response at all" into a `NetworkError`. An abort (the
 * caller's or a timeout) is re-thrown as the signal's reason so the retry loop can tell
 * the two apart.
 */
export async function send(fetchImpl: FetchLike, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetchImpl(url, init);
  } catch (error) {
    if (init.signal?.aborted) throw init.signal.reason;
    const cause = (error as { cause?: unknown }).cause ?? error;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    throw new NetworkError(`request to ${url} failed${detail}`, { cause: error });
  }
}

/** Reads a body as text; a connection that dies mid-body is a network error. */
export async function readBody(response: Response, url: string, signal?: AbortSignal): Promise<string> {
  try {
    return await response.text();
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new NetworkError(`reading the response from ${url} failed`, { cause: error });
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
