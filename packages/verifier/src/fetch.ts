/** The one place the verifier talks to the network: injectable fetch, bounded time and size. */
import { IssuerUnavailableError } from './errors.js';
import type { IssuerUnavailableCode } from './errors.js';

/** The subset of the WHATWG fetch signature the verifier uses; pass your own to add proxies, logging or mocks. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Responses larger than this are refused: metadata, key sets and introspection answers are small. */
const MAX_BODY_BYTES = 512 * 1024;

export interface JsonResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON body; undefined for 304 and non-2xx answers. */
  body: unknown;
}

export async function fetchJson(
  fetchImpl: FetchLike,
  url: string,
  init: RequestInit & { timeoutMs: number },
  failure: IssuerUnavailableCode,
): Promise<JsonResponse> {
  const { timeoutMs, ...requestInit } = init;
  let response: Response;
  try {
    response = await fetchImpl(url, { ...requestInit, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new IssuerUnavailableError(failure, `${url} could not be fetched: ${describe(error)}`, { cause: error });
  }
  if (response.status < 200 || response.status >= 300) {
    // Drain so the connection can be reused; the body of an error answer is not needed.
    await response.body?.cancel().catch(() => undefined);
    return { status: response.status, headers: response.headers, body: undefined };
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw new IssuerUnavailableError(failure, `${url} could not be read: ${describe(error)}`, { cause: error });
  }
  if (text.length > MAX_BODY_BYTES) {
    throw new IssuerUnavailableError(failure, `${url} answered with more than ${MAX_BODY_BYTES} bytes`);
  }
  try {
    return { status: response.status, headers: response.headers, body: JSON.parse(text) as unknown };
  } catch (error) {
    throw new IssuerUnavailableError(failure, `${url} did not answer with JSON`, { cause: error });
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
