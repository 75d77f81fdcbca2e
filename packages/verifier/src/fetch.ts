/** The one place the verifier talks to the network: injectable fetch, bounded time and size. */
import { IssuerUnavailableError } from './errors.js';
import type { IssuerUnavailableCode } from './errors.js';

/** The subset of the WHATWG fetch signature the verifier uses; pass your own to add proxies, logging or mocks. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** Responses larger than this are refused: metadata, key sets and introspection answers are small. */
export const MAX_BODY_BYTES = 512 * 1024;

export interface JsonResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON body; undefined for 304 and non-2xx answers. */
  body: unknown;
}

export interface FetchJsonInit extends RequestInit {
  /** The whole exchange, body included, must finish within this long. */
  timeoutMs: number;
  /** Largest body read, counted while it streams (default MAX_BODY_BYTES). */
  maxBytes?: number;
}

/**
 * GET (or POST) a JSON document, bounded in time and size while it streams: a body
 * larger than `maxBytes` is abandoned as soon as it passes the limit, whatever its
 * Content-Length says, and redirects are refused (a redirect could lead around the
 * caller's URL policy).
 */
export async function fetchJson(
  fetchImpl: FetchLike,
  url: string,
  init: FetchJsonInit,
  failure: IssuerUnavailableCode,
): Promise<JsonResponse> {
  const { timeoutMs, maxBytes = MAX_BODY_BYTES, ...requestInit } = init;
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetchImpl(url, { ...requestInit, redirect: 'error', signal });
  } catch (error) {
    throw new IssuerUnavailableError(failure, `${url} could not be fetched: ${describe(error)}`, { cause: error });
  }
  if (response.status < 200 || response.status >= 300) {
    // Drain so the connection can be reused; the body of an error answer is not needed.
    await response.body?.cancel().catch(() => undefined);
    return { status: response.status, headers: response.headers, body: undefined };
  }
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new IssuerUnavailableError(failure, `${url} answered with more than ${maxBytes} bytes`);
  }
  let bytes: Buffer;
  try {
    bytes = await readAtMost(response, maxBytes);
  } catch (error) {
    if (error instanceof BodyTooLarge) throw new IssuerUnavailableError(failure, `${url} answered with more than ${maxBytes} bytes`);
    throw new IssuerUnavailableError(failure, `${url} could not be read: ${describe(signal.aborted ? signal.reason : error)}`, { cause: error });
  }
  try {
    return { status: response.status, headers: response.headers, body: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch (error) {
    throw new IssuerUnavailableError(failure, `${url} did not answer with JSON`, { cause: error });
  }
}

class BodyTooLarge extends Error {}

/** The body, read chunk by chunk and abandoned as soon as it grows past `maxBytes`. */
async function readAtMost(response: Response, maxBytes: number): Promise<Buffer> {
  if (response.body === null) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
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
