/**
 * The public keys a client registered for private_key_jwt and
 * self_signed_tls_client_auth: an inline `jwks` (imported once per client version)
 * or a remote `jwksUri` (fetched with a timeout, cached per Cache-Control within
 * bounds, one fetch in flight per URI, refetched on an unknown key at most once per
 * cooldown, stale keys kept while the client's server is down). Shape after jose
 * `src/jwks/remote.ts`, written against node:crypto so the clock and fetch are
 * injectable and Cache-Control is honoured.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Client } from '../../store/types.js';

export type FetchLike = (url: string, init: { signal: AbortSignal; headers: Record<string, string>; redirect: 'error' }) => Promise<Response>;

export interface ClientKey {
  /** The JWK as registered (public members only are used). */
  jwk: Readonly<Record<string, unknown>>;
  key: KeyObject;
}

export interface ClientKeysOptions {
  /** Injectable for tests; default globalThis.fetch. */
  fetch?: FetchLike;
  /** Epoch milliseconds; the server's clock. */
  now?: () => number;
  /** Per fetch (ms). */
  timeout?: number;
  /** Cache lifetime without a usable Cache-Control max-age (ms). */
  defaultMaxAge?: number;
  /** Bounds on a Cache-Control max-age (ms). */
  minMaxAge?: number;
  maxMaxAge?: number;
  /** At most one refetch for an unknown key per this long (ms). */
  cooldown?: number;
  /** Largest accepted JWKS body (bytes). */
  maxBytes?: number;
}

/** The client's remote key set could not be fetched and no earlier copy exists. */
export class ClientKeySetUnavailable extends Error {
  override readonly name = 'ClientKeySetUnavailable';
  readonly code = 'ERR_CLIENT_JWKS_UNAVAILABLE';
}

interface RemoteEntry {
  keys: ClientKey[] | null;
  /** When the keys stop being fresh (epoch ms). */
  freshUntil: number;
  /** Start of the last fetch attempt, successful or not (epoch ms). */
  lastAttempt: number;
  inFlight: Promise<void> | null;
}

export const CLIENT_KEYS_DEFAULTS = {
  timeout: 3000,
  defaultMaxAge: 5 * 60_000,
  minMaxAge: 30_000,
  maxMaxAge: 60 * 60_000,
  cooldown: 30_000,
  maxBytes: 256 * 1024,
} as const;

export class ClientKeys {
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #options: Required<Omit<ClientKeysOptions, 'fetch' | 'now'>>;
  /** `${tenantId}\n${clientId}` -> keys of the inline jwks at one client version. */
  readonly #inline = new Map<string, { updatedAt: number; source: unknown; keys: ClientKey[] }>();
  /** jwksUri -> cache entry, shared by every client that registered that URI. */
  readonly #remote = new Map<string, RemoteEntry>();

  constructor(options: ClientKeysOptions = {}) {
    this.#fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.#now = options.now ?? Date.now;
    this.#options = {
      timeout: options.timeout ?? CLIENT_KEYS_DEFAULTS.timeout,
      defaultMaxAge: options.defaultMaxAge ?? CLIENT_KEYS_DEFAULTS.defaultMaxAge,
      minMaxAge: options.minMaxAge ?? CLIENT_KEYS_DEFAULTS.minMaxAge,
      maxMaxAge: options.maxMaxAge ?? CLIENT_KEYS_DEFAULTS.maxMaxAge,
      cooldown: options.cooldown ?? CLIENT_KEYS_DEFAULTS.cooldown,
      maxBytes: options.maxBytes ?? CLIENT_KEYS_DEFAULTS.maxBytes,
    };
  }

  /**
   * The client's keys that satisfy `match`. When none does and the keys come from a
   * jwksUri, the set is refetched once (unless it was fetched within the cooldown):
   * that is how a client's key rotation is picked up before the cache expires.
   * Throws ClientKeySetUnavailable when a remote set was never fetched successfully.
   */
  async find(client: Client, match: (key: ClientKey) => boolean): Promise<ClientKey[]> {
    if (client.jwksUri === null) return this.#inlineKeys(client).filter(match);
    return this.findAt(client.jwksUri, match);
  }

  /** The keys at a key-set URI that satisfy `match` (a federated issuer's, say), cached as above. */
  async findAt(uri: string, match: (key: ClientKey) => boolean): Promise<ClientKey[]> {
    const found = (await this.#remoteKeys(uri)).filter(match);
    if (found.length > 0) return found;
    const entry = this.#remote.get(uri);
    if (entry !== undefined && this.#now() - entry.lastAttempt >= this.#options.cooldown) {
      await this.#refresh(uri, entry);
    }
    return (this.#remote.get(uri)?.keys ?? []).filter(match);
  }

  #inlineKeys(client: Client): ClientKey[] {
    const id = `${client.tenantId}\n${client.clientId}`;
    const cached = this.#inline.get(id);
    if (cached !== undefined && cached.updatedAt === client.updatedAt && cached.source === client.jwks) return cached.keys;
    const keys = importJwks(client.jwks);
    this.#inline.set(id, { updatedAt: client.updatedAt, source: client.jwks, keys });
    return keys;
  }

  async #remoteKeys(uri: string): Promise<ClientKey[]> {
    let entry = this.#remote.get(uri);
    if (entry === undefined) {
      entry = { keys: null, freshUntil: 0, lastAttempt: Number.NEGATIVE_INFINITY, inFlight: null };
      this.#remote.set(uri, entry);
    }
    const now = this.#now();
    // Stale or missing keys are refetched, but after a failed fetch not before the
    // cooldown: a client whose JWKS host is down does not turn each request into a fetch.
    if (entry.inFlight !== null) {
      await entry.inFlight;
    } else if ((entry.keys === null || now >= entry.freshUntil) && now - entry.lastAttempt >= this.#options.cooldown) {
      await this.#refresh(uri, entry);
    }
    if (entry.keys === null) throw new ClientKeySetUnavailable(`the key set at ${uri} could not be fetched`);
    return entry.keys;
  }

  /** One fetch in flight per URI: concurrent callers share it. Failures keep the old keys. */
  #refresh(uri: string, entry: RemoteEntry): Promise<void> {
    if (entry.inFlight !== null) return entry.inFlight;
    entry.lastAttempt = this.#now();
    entry.inFlight = this.#download(uri)
      .then(
        ({ keys, maxAge }) => {
          entry.keys = keys;
          entry.freshUntil = this.#now() + maxAge;
        },
        () => {
          // Keep whatever we had; the next attempt waits for the cooldown.
        },
      )
      .finally(() => {
        entry.inFlight = null;
      });
    return entry.inFlight;
  }

  async #download(uri: string): Promise<{ keys: ClientKey[]; maxAge: number }> {
    const response = await this.#fetch(uri, {
      signal: AbortSignal.timeout(this.#options.timeout),
      headers: { accept: 'application/jwk-set+json, application/json' },
      // A redirect could lead around the https-or-loopback rule of the registered URL.
      redirect: 'error',
    });
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`GET ${uri}: HTTP ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > this.#options.maxBytes) throw new Error(`GET ${uri}: the key set is too large`);
    const text = await readAtMost(response, this.#options.maxBytes, uri);
    const keys = importJwks(JSON.parse(text) as unknown);
    return { keys, maxAge: this.#maxAge(response.headers.get('cache-control')) };
  }

  #maxAge(cacheControl: string | null): number {
    const { defaultMaxAge, minMaxAge, maxMaxAge } = this.#options;
    if (cacheControl === null) return defaultMaxAge;
    if (/(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)/i.test(cacheControl)) return minMaxAge;
    const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(cacheControl);
    if (match === null) return defaultMaxAge;
    return Math.min(maxMaxAge, Math.max(minMaxAge, Number(match[1]) * 1000));
  }
}

/** The body as text, stopping as soon as it grows past `maxBytes` (no Content-Length is trusted). */
export async function readAtMost(response: Response, maxBytes: number, uri: string): Promise<string> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      await response.body.cancel().catch(() => {});
      throw new Error(`GET ${uri}: the key set is too large`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Public signature keys of a JWK Set. Keys that cannot be imported, that carry
 * private members, that are symmetric, or that are marked for encryption only are
 * skipped rather than failing the whole set: one odd key must not lock a client out.
 */
export function importJwks(jwks: unknown): ClientKey[] {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) return [];
  const keys: ClientKey[] = [];
  for (const jwk of (jwks as { keys: unknown[] }).keys) {
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) continue;
    const record = jwk as Record<string, unknown>;
    if (!['EC', 'RSA', 'OKP'].includes(String(record['kty']))) continue;
    if ('d' in record) continue;
    if (record['use'] !== undefined && record['use'] !== 'sig') continue;
    try {
      keys.push({ jwk: record, key: createPublicKey({ key: record as import('node:crypto').JsonWebKey, format: 'jwk' }) });
    } catch {
      // not an importable public key
    }
  }
  return keys;
}
