/**
 * The issuer's JSON Web Key Set, cached the way a resource server under load needs:
 *
 * - the whole set is kept for the response's `Cache-Control: max-age`, clamped to
 *   [minMaxAge, maxMaxAge], or `defaultMaxAge` when the issuer says nothing;
 * - only one fetch is ever in flight; everyone waiting shares it;
 * - a `kid` that is not in the set triggers a refetch at most once per `cooldown`, and
 *   kids still unknown afterwards are remembered so garbage tokens cost a map lookup;
 * - when the set is past its max-age it is still used while a refresh runs in the
 *   background, and kept while the issuer is unreachable (stale-if-error) for up to
 *   `maxStale` beyond its max-age;
 * - revalidation sends `If-None-Match` when the issuer gave an ETag.
 */
import { KeyObject } from 'node:crypto';
import { importJWK } from 'jose';
import type { JWK } from 'jose';
import { InvalidTokenError, IssuerUnavailableError } from './errors.js';
import { fetchJson, isPlainObject } from './fetch.js';
import type { FetchLike } from './fetch.js';
import { ALGORITHM_PROFILES, prepareKey } from './jws.js';
import type { Algorithm, PreparedKey } from './jws.js';

export interface JwksCacheTimings {
  /** Max-age when the answer has no usable Cache-Control, ms. */
  defaultMaxAgeMs: number;
  minMaxAgeMs: number;
  maxMaxAgeMs: number;
  /** Minimum time between two fetches caused by unknown kids, ms. */
  cooldownMs: number;
  /** How long past its max-age a set stays usable while the issuer cannot be reached, ms. */
  maxStaleMs: number;
  /** After a failed fetch, no new fetch for this long, ms. */
  failureBackoffMs: number;
  timeoutMs: number;
  /** Largest key-set body, counted while it streams (bytes; default 512 KiB). */
  maxBytes?: number;
}

export interface JwksCacheOptions extends JwksCacheTimings {
  /** Where the set lives; resolved lazily (discovery) on the first fetch. */
  resolveUri: () => Promise<string>;
  fetch: FetchLike;
  now: () => number;
  algorithms: readonly Algorithm[];
}

/** One usable public key of the set, prepared for every allowed algorithm it fits. */
export interface CachedKey {
  kid: string | undefined;
  prepared: ReadonlyMap<Algorithm, PreparedKey>;
  /** The JWK as published (public members), e.g. for its `x5c`. */
  jwk: Readonly<Record<string, unknown>>;
  key: KeyObject;
}

interface KeySet {
  keys: CachedKey[];
  /** `alg \0 kid` -> key, the hot-path lookup. */
  byAlgAndKid: Map<string, CachedKey>;
  /** alg -> keys usable for it, for tokens without kid. */
  byAlg: Map<Algorithm, CachedKey[]>;
  /** Canonical JWK JSON -> key, so unchanged keys keep their identity across refreshes. */
  byJwk: Map<string, CachedKey>;
}

const MAX_REMEMBERED_UNKNOWN_KIDS = 1000;
const NO_KID = '\u0000';

export class JwksCache {
  private set: KeySet | undefined;
  private freshUntil = 0;
  private etag: string | undefined;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private failure: { error: IssuerUnavailableError; until: number } | undefined;
  private inflight: Promise<void> | undefined;
  private readonly unknownKids = new Map<string, number>();
  /** Number of HTTP requests made for the key set (for tests and metrics). */
  fetchCount = 0;

  constructor(private readonly options: JwksCacheOptions) {}

  /** A key set that never fetches (the `jwks` option). */
  static async fromStatic(jwks: unknown, algorithms: readonly Algorithm[]): Promise<JwksCache> {
    const cache = new JwksCache({
      resolveUri: () => Promise.reject(new Error('static key set')),
      fetch: () => Promise.reject(new Error('static key set')),
      now: () => 0,
      algorithms,
      defaultMaxAgeMs: Infinity, minMaxAgeMs: Infinity, maxMaxAgeMs: Infinity,
      cooldownMs: Infinity, maxStaleMs: Infinity, failureBackoffMs: Infinity, timeoutMs: 0,
    });
    cache.set = await cache.buildKeySet(jwks);
    cache.freshUntil = Infinity;
    cache.lastAttemptAt = Infinity;
    return cache;
  }

  /** True while `key` is still published in the current set (cached tokens die with their key). */
  holds(key: CachedKey): boolean {
    this.refreshIfStale();
    return this.set !== undefined && this.set.keys.includes(key);
  }

  /** The key that verifies a token with this `alg` and `kid`, fetching the set as the rules above allow. */
  async getKey(alg: Algorithm, kid: string | undefined): Promise<CachedKey> {
    const candidates = await this.getKeys(alg, kid);
    // RFC 7515 §4.1.4 makes kid optional; without one, only an unambiguous key is used.
    if (candidates.length > 1) {
      throw new InvalidTokenError(
        'ERR_KID_UNKNOWN',
        `the token has no "kid" and ${candidates.length} keys of the issuer fit ${alg}`,
        { claim: 'header.kid' },
      );
    }
    return candidates[0] as CachedKey;
  }

  /**
   * Every key that may have signed with this `alg` and `kid` (all keys for `alg` when
   * there is no kid), never empty; the same fetch rules as getKey. For callers that
   * try each candidate, like client authentication.
   */
  async getKeys(alg: Algorithm, kid: string | undefined): Promise<CachedKey[]> {
    const found = await this.lookup(() => this.select(alg, kid), kid ?? NO_KID + alg);
    if (found.length === 0) throw unknownKey(kid, alg);
    return found;
  }

  /**
   * The keys that satisfy `match` (possibly none), with the same fetch rules: a miss
   * refetches the set at most once per cooldown. For callers that match keys on
   * something else than alg and kid, like a client certificate.
   */
  findKeys(match: (key: CachedKey) => boolean): Promise<CachedKey[]> {
    return this.lookup(() => this.set?.keys.filter(match) ?? [], undefined);
  }

  private async lookup(select: () => CachedKey[], rememberKey: string | undefined): Promise<CachedKey[]> {
    const now = this.options.now();
    if (this.set === undefined || now >= this.freshUntil + this.options.maxStaleMs) {
      await this.load();
    } else {
      this.refreshIfStale();
    }
    const found = select();
    if (found.length > 0) return found;

    const rememberedUntil = rememberKey === undefined ? undefined : this.unknownKids.get(rememberKey);
    if (rememberedUntil !== undefined && now < rememberedUntil) return [];

    if (this.inflight !== undefined || now >= this.lastAttemptAt + this.options.cooldownMs) {
      await this.load();
      const refetched = select();
      if (refetched.length > 0) return refetched;
    }
    if (rememberKey !== undefined) this.rememberUnknown(rememberKey, this.lastAttemptAt + this.options.cooldownMs);
    return [];
  }

  /** Every key of the set (loading it first when there is none), e.g. to match a certificate. */
  async allKeys(): Promise<readonly CachedKey[]> {
    if (this.set === undefined || this.options.now() >= this.freshUntil + this.options.maxStaleMs) await this.load();
    else this.refreshIfStale();
    return this.set?.keys ?? [];
  }

  private select(alg: Algorithm, kid: string | undefined): CachedKey[] {
    const set = this.set;
    if (set === undefined) return [];
    if (kid !== undefined) {
      const key = set.byAlgAndKid.get(alg + NO_KID + kid);
      return key === undefined ? [] : [key];
    }
    return set.byAlg.get(alg) ?? [];
  }

  private rememberUnknown(key: string, until: number): void {
    if (this.unknownKids.size >= MAX_REMEMBERED_UNKNOWN_KIDS) {
      const oldest = this.unknownKids.keys().next();
      if (!oldest.done) this.unknownKids.delete(oldest.value);
    }
    this.unknownKids.set(key, until);
  }

  private refreshIfStale(): void {
    if (this.inflight === undefined && this.options.now() >= this.freshUntil) {
      // Serve the current keys now; a failed background refresh keeps them (stale-if-error).
      this.load().catch(() => undefined);
    }
  }

  /** Fetches the set; one request in flight; failures back off and keep the previous keys. */
  private load(): Promise<void> {
    if (this.inflight) return this.inflight;
    const now = this.options.now();
    if (this.failure && now < this.failure.until) {
      if (this.set !== undefined && now < this.freshUntil + this.options.maxStaleMs) return Promise.resolve();
      return Promise.reject(this.failure.error);
    }
    this.lastAttemptAt = now;
    this.inflight = this.fetchSet().then(
      () => {
        this.failure = undefined;
        this.inflight = undefined;
      },
      (error: unknown) => {
        const wrapped = error instanceof IssuerUnavailableError
          ? error
          : new IssuerUnavailableError('ERR_JWKS_UNAVAILABLE', 'the JWKS could not be loaded', { cause: error });
        this.failure = { error: wrapped, until: this.options.now() + this.options.failureBackoffMs };
        this.inflight = undefined;
        if (this.set !== undefined && this.options.now() < this.freshUntil + this.options.maxStaleMs) return;
        throw wrapped;
      },
    );
    return this.inflight;
  }

  private async fetchSet(): Promise<void> {
    const uri = await this.options.resolveUri();
    const headers: Record<string, string> = { accept: 'application/jwk-set+json, application/json' };
    if (this.etag !== undefined && this.set !== undefined) headers['if-none-match'] = this.etag;
    this.fetchCount++;
    const response = await fetchJson(
      this.options.fetch,
      uri,
      { headers, timeoutMs: this.options.timeoutMs, ...(this.options.maxBytes !== undefined ? { maxBytes: this.options.maxBytes } : {}) },
      'ERR_JWKS_UNAVAILABLE',
    );
    if (response.status === 304 && this.set !== undefined) {
      this.freshUntil = this.options.now() + this.maxAge(response.headers);
      return;
    }
    if (response.status !== 200) {
      throw new IssuerUnavailableError('ERR_JWKS_UNAVAILABLE', `${uri} answered ${response.status}`);
    }
    const set = await this.buildKeySet(response.body);
    if (set.keys.length === 0) {
      throw new IssuerUnavailableError('ERR_JWKS_UNAVAILABLE', `${uri} holds no key usable with the allowed algorithms`);
    }
    this.set = set;
    this.etag = response.headers.get('etag') ?? undefined;
    this.freshUntil = this.options.now() + this.maxAge(response.headers);
    this.unknownKids.clear();
  }

  private maxAge(headers: Headers): number {
    const { defaultMaxAgeMs, minMaxAgeMs, maxMaxAgeMs } = this.options;
    const cacheControl = headers.get('cache-control') ?? '';
    let maxAgeMs = defaultMaxAgeMs;
    if (/(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|$)/i.test(cacheControl)) maxAgeMs = 0;
    const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(cacheControl);
    if (match?.[1] !== undefined) maxAgeMs = Number(match[1]) * 1000;
    return Math.min(Math.max(maxAgeMs, minMaxAgeMs), maxMaxAgeMs);
  }

  private async buildKeySet(body: unknown): Promise<KeySet> {
    if (!isPlainObject(body) || !Array.isArray(body.keys)) {
      throw new IssuerUnavailableError('ERR_JWKS_UNAVAILABLE', 'the JWKS is not an object with a "keys" array');
    }
    const previous = this.set?.byJwk;
    const set: KeySet = { keys: [], byAlgAndKid: new Map(), byAlg: new Map(), byJwk: new Map() };
    const imported = await Promise.all(
      body.keys.filter(isPlainObject).map(async (jwk) => {
        const canonical = JSON.stringify(jwk);
        const key = previous?.get(canonical) ?? (await this.importKey(jwk as JWK));
        return { canonical, key };
      }),
    );
    for (const { canonical, key } of imported) {
      if (key === undefined || set.byJwk.has(canonical)) continue;
      set.keys.push(key);
      set.byJwk.set(canonical, key);
      for (const alg of key.prepared.keys()) {
        const list = set.byAlg.get(alg) ?? [];
        list.push(key);
        set.byAlg.set(alg, list);
        // First key wins when a set repeats a kid, like a JWKS lookup in most libraries.
        if (key.kid !== undefined && !set.byAlgAndKid.has(alg + NO_KID + key.kid)) {
          set.byAlgAndKid.set(alg + NO_KID + key.kid, key);
        }
      }
    }
    return set;
  }

  /**
   * Imports one JWK for every allowed algorithm it fits, or undefined for keys that are
   * not for signature verification (RFC 7517 §5: ignore what is not understood).
   */
  private async importKey(jwk: JWK): Promise<CachedKey | undefined> {
    if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
    if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return undefined;
    if (jwk.d !== undefined) return undefined; // a private key has no business in a published set
    const fitting = this.options.algorithms.filter((alg) => {
      const profile = ALGORITHM_PROFILES[alg];
      if (jwk.alg !== undefined && jwk.alg !== alg) return false;
      if (jwk.kty !== profile.kty) return false;
      return profile.curves === undefined || (typeof jwk.crv === 'string' && profile.curves.includes(jwk.crv));
    });
    const first = fitting[0];
    if (first === undefined) return undefined;
    let keyObject: KeyObject;
    try {
      // jose validates the JWK; Node's KeyObject is what crypto.verify wants on the hot path.
      const imported = await importJWK({ ...jwk, ext: true }, first === 'Ed25519' ? 'EdDSA' : first);
      keyObject = imported instanceof Uint8Array ? undefinedKey() : KeyObject.from(imported);
    } catch {
      return undefined;
    }
    if (keyObject.type !== 'public') return undefined;
    const modulusLength = keyObject.asymmetricKeyDetails?.modulusLength;
    if (jwk.kty === 'RSA' && (modulusLength === undefined || modulusLength < 2048)) return undefined;
    const prepared = new Map<Algorithm, PreparedKey>();
    for (const alg of fitting) prepared.set(alg, prepareKey(keyObject, alg));
    return { kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, prepared, jwk: publicMembers(jwk), key: keyObject };
  }
}

function publicMembers(jwk: JWK): Readonly<Record<string, unknown>> {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, k: _k, ...rest } = jwk as Record<string, unknown>;
  return rest;
}

function undefinedKey(): never {
  throw new Error('symmetric keys are never used');
}

function unknownKey(kid: string | undefined, alg: Algorithm): InvalidTokenError {
  return new InvalidTokenError(
    'ERR_KID_UNKNOWN',
    kid === undefined
      ? `the token has no "kid" and the issuer publishes no ${alg} key`
      : `the issuer publishes no ${alg} key with kid ${JSON.stringify(kid)}`,
    { claim: 'header.kid' },
  );
}
