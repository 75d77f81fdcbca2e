/**
 * The public keys a client registered for private_key_jwt and
 * self_signed_tls_client_auth: an inline `jwks` (imported once per client version)
 * or a remote `jwksUri`. Both are the JOSE core's key-set cache
 * (`@tessera/verifier/core` JwksCache: Cache-Control max-age within bounds, one fetch
 * in flight, refetch on a miss at most once per cooldown, stale keys kept while the
 * client's server is down, failure back-off), fetched through the server's outbound
 * fetch (URL policy, no redirects, bounded in time and size while it streams).
 */
import { type CachedKey, type FetchLike, IssuerUnavailableError, type JwksCache } from '@tessera/verifier/core';
import { type KeySetSource, type KeySetTimings, remoteKeySet, staticKeySet } from '../../outbound/key-sets.js';
import type { Client } from '../../store/types.js';

export type ClientKey = CachedKey;

export interface ClientKeysOptions extends Partial<KeySetTimings> {
  /** The server's outbound fetch (outbound/fetch.ts); default globalThis.fetch, for tests. */
  fetch?: FetchLike;
  /** Epoch milliseconds; the server's clock. */
  now?: () => number;
}

/** The client's remote key set could not be fetched and no earlier copy exists. */
export class ClientKeySetUnavailable extends Error {
  override readonly name = 'ClientKeySetUnavailable';
  readonly code = 'ERR_CLIENT_JWKS_UNAVAILABLE';
}

export class ClientKeys {
  readonly #source: KeySetSource;
  /** `${tenantId}\n${clientId}` -> keys of the inline jwks at one client version. */
  readonly #inline = new Map<string, { updatedAt: number; source: unknown; keys: Promise<JwksCache> }>();
  /** jwksUri -> cache, shared by every client that registered that URI. */
  readonly #remote = new Map<string, JwksCache>();

  constructor(options: ClientKeysOptions = {}) {
    const { fetch, now, ...timings } = options;
    this.#source = {
      fetch: fetch ?? ((url, init) => globalThis.fetch(url, init)),
      now: now ?? Date.now,
      timings: Object.fromEntries(Object.entries(timings).filter(([, v]) => v !== undefined)),
    };
  }

  /**
   * The client's keys that satisfy `match`. When none does and the keys come from a
   * jwksUri, the set is refetched once (unless it was fetched within the cooldown):
   * that is how a client's key rotation is picked up before the cache expires.
   * Throws ClientKeySetUnavailable when a remote set was never fetched successfully.
   */
  async find(client: Client, match: (key: ClientKey) => boolean): Promise<ClientKey[]> {
    const cache = client.jwksUri === null ? await this.#inlineKeys(client) : this.#remoteKeys(client.jwksUri);
    try {
      return await cache.findKeys(match);
    } catch (error) {
      if (error instanceof IssuerUnavailableError) {
        throw new ClientKeySetUnavailable(`the client's key set could not be fetched: ${error.message}`, { cause: error });
      }
      throw error;
    }
  }

  #inlineKeys(client: Client): Promise<JwksCache> {
    const id = `${client.tenantId}\n${client.clientId}`;
    const cached = this.#inline.get(id);
    if (cached !== undefined && cached.updatedAt === client.updatedAt && cached.source === client.jwks) return cached.keys;
    const keys = staticKeySet(client.jwks);
    this.#inline.set(id, { updatedAt: client.updatedAt, source: client.jwks, keys });
    return keys;
  }

  #remoteKeys(uri: string): JwksCache {
    let cache = this.#remote.get(uri);
    if (cache === undefined) {
      cache = remoteKeySet(uri, this.#source);
      this.#remote.set(uri, cache);
    }
    return cache;
  }
}
