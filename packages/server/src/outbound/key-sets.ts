/**
 * Key sets the server fetches from others (client `jwksUri`, federation key sets,
 * and key sets found through an issuer's discovery document), all built on the JOSE
 * core's one cache (`@tessera/verifier/core` JwksCache: Cache-Control max-age within
 * bounds, one fetch in flight, refetch on an unknown kid at most once per cooldown
 * with a negative cache, stale keys kept while the source is down, failure back-off)
 * and fetched through the server's outbound fetch (outbound/fetch.ts).
 */
import { Discovery, type FetchLike, IssuerUnavailableError, JwksCache, SUPPORTED_ALGORITHMS } from '@tessera/verifier/core';

export interface KeySetTimings {
  /** Per fetch, body included (ms). */
  timeout: number;
  /** Cache lifetime without a usable Cache-Control max-age (ms). */
  defaultMaxAge: number;
  /** Bounds on a Cache-Control max-age (ms). */
  minMaxAge: number;
  maxMaxAge: number;
  /** At most one refetch for an unknown key per this long (ms). */
  cooldown: number;
  /** After a failed fetch, no new one for this long; callers get the same error (ms). */
  failureBackoff: number;
  /** How long past its max-age a set is still used while its source is down (ms). */
  maxStale: number;
  /** Largest accepted body (bytes), counted while it streams. */
  maxBytes: number;
}

export const KEY_SET_DEFAULTS: KeySetTimings = {
  timeout: 3000,
  defaultMaxAge: 5 * 60_000,
  minMaxAge: 30_000,
  maxMaxAge: 60 * 60_000,
  cooldown: 30_000,
  failureBackoff: 30_000,
  maxStale: 24 * 60 * 60_000,
  maxBytes: 256 * 1024,
};

export interface KeySetSource {
  /** The server's outbound fetch. */
  fetch: FetchLike;
  now: () => number;
  timings?: Partial<KeySetTimings>;
}

/** A remote key set at `uri` (or at a URI found lazily, e.g. through discovery). */
export function remoteKeySet(uri: string | (() => Promise<string>), source: KeySetSource): JwksCache {
  const t = { ...KEY_SET_DEFAULTS, ...source.timings };
  return new JwksCache({
    resolveUri: typeof uri === 'string' ? () => Promise.resolve(uri) : uri,
    fetch: source.fetch,
    now: source.now,
    algorithms: SUPPORTED_ALGORITHMS,
    defaultMaxAgeMs: t.defaultMaxAge,
    minMaxAgeMs: t.minMaxAge,
    maxMaxAgeMs: t.maxMaxAge,
    cooldownMs: t.cooldown,
    failureBackoffMs: t.failureBackoff,
    maxStaleMs: t.maxStale,
    timeoutMs: t.timeout,
    maxBytes: t.maxBytes,
  });
}

/** An inline key set (registered `jwks`): never fetches. */
export function staticKeySet(jwks: unknown): Promise<JwksCache> {
  return JwksCache.fromStatic(jwks ?? { keys: [] }, SUPPORTED_ALGORITHMS);
}

/**
 * The key set of an issuer found through its discovery document (OpenID Connect
 * Discovery, then RFC 8414), both fetched through the outbound fetch; the document's
 * `issuer` must equal `issuer` (RFC 8414 §3.3).
 */
export function discoveredKeySet(issuer: string, source: KeySetSource): JwksCache {
  const t = { ...KEY_SET_DEFAULTS, ...source.timings };
  const discovery = new Discovery({ issuer, fetch: source.fetch, timeoutMs: t.timeout, failureBackoffMs: t.failureBackoff, now: source.now });
  return remoteKeySet(async () => {
    const metadata = await discovery.get();
    if (typeof metadata.jwks_uri !== 'string') throw new IssuerUnavailableError('ERR_JWKS_UNAVAILABLE', `the discovery document of ${issuer} has no jwks_uri`);
    return metadata.jwks_uri;
  }, source);
}
