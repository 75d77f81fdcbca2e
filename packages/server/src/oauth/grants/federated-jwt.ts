/**
 * Verifying a JWT of a federated (external) issuer, shared by the jwt-bearer grant
 * (workload assertions, RFC 7523) and token exchange (user subject tokens, RFC 8693):
 *
 * - keys: the federation's inline `jwks`, its `jwksUri`, or, with neither, the
 *   `jwks_uri` of the issuer's OpenID discovery document
 *   (`<issuer>/.well-known/openid-configuration`, whose `issuer` must be the
 *   federation's, OpenID Connect Discovery §4.3), cached;
 * - signature with an asymmetric algorithm only, `iss`, `exp` (required), `nbf` and
 *   `iat` not in the future, `aud` when the caller names one;
 * - checkReplay(): the federation's replay protection (single use of `jti` across replicas through
 *   the store's assertion-jti table, or a maximum age since `iat`).
 *
 * Outbound fetches (discovery, key sets) go through one injectable fetch with a
 * timeout, a size bound and no redirects (ClientKeys' download).
 */
import type { KeyObject } from 'node:crypto';
import { errors as joseErrors, type JWTPayload, jwtVerify } from 'jose';
import { ACCEPTED_ASYMMETRIC_ALGS } from '../../crypto/signing.js';
import type { Federation, Store } from '../../store/types.js';
import { type ClientKey, type ClientKeys, type FetchLike, importJwks, readAtMost } from '../client-auth/client-keys.js';

export const DISCOVERY_DEFAULTS = {
  /** How long a discovery document's jwks_uri is used before it is read again (ms). */
  maxAge: 60 * 60_000,
  /** After a failed discovery, no new attempt before this (ms); a stale jwks_uri stays in use. */
  cooldown: 30_000,
  timeout: 3000,
  maxBytes: 64 * 1024,
} as const;

/** Why a federated JWT was refused, with a stable code and a description safe to return. */
export class FederatedJwtError extends Error {
  override readonly name = 'FederatedJwtError';
  constructor(
    readonly code: 'invalid' | 'expired' | 'replayed' | 'too-old' | 'keys-unavailable',
    message: string,
  ) {
    super(message);
  }
}

interface DiscoveryEntry {
  jwksUri: string | null;
  freshUntil: number;
  lastAttempt: number;
  inFlight: Promise<void> | null;
}

export interface FederatedJwtOptions {
  keys: ClientKeys;
  store: Store;
  now: () => number;
  clockTolerance: number;
  fetch?: FetchLike;
  discovery?: Partial<typeof DISCOVERY_DEFAULTS>;
}

export class FederatedJwtVerifier {
  readonly #keys: ClientKeys;
  readonly #store: Store;
  readonly #now: () => number;
  readonly #clockTolerance: number;
  readonly #fetch: FetchLike;
  readonly #discovery: typeof DISCOVERY_DEFAULTS;
  /** issuer -> its discovered jwks_uri. */
  readonly #discovered = new Map<string, DiscoveryEntry>();
  /** federation id -> its inline keys, per version of the jwks. */
  readonly #inline = new Map<string, { source: unknown; keys: ClientKey[] }>();

  constructor(options: FederatedJwtOptions) {
    this.#keys = options.keys;
    this.#store = options.store;
    this.#now = options.now;
    this.#clockTolerance = options.clockTolerance;
    this.#fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.#discovery = { ...DISCOVERY_DEFAULTS, ...options.discovery };
  }

  /**
   * The verified payload, or a FederatedJwtError. `audience`: the values of which
   * `aud` must hold one (omit to leave the audience to the caller's own rule).
   */
  async verify(federation: Federation, token: string, options: { audience?: string[] } = {}): Promise<JWTPayload> {
    const header = decodeHeader(token);
    const alg = typeof header['alg'] === 'string' ? header['alg'] : '';
    if (!(ACCEPTED_ASYMMETRIC_ALGS as readonly string[]).includes(alg)) throw new FederatedJwtError('invalid', 'its alg is not an accepted asymmetric algorithm');
    const kid = typeof header['kid'] === 'string' ? header['kid'] : undefined;
    const candidates = await this.#candidateKeys(federation, kid);
    if (candidates.length === 0) throw new FederatedJwtError('invalid', 'no key of the issuer matches its kid');
    let payload: JWTPayload | undefined;
    let lastError: unknown;
    for (const candidate of candidates) {
      try {
        ({ payload } = await jwtVerify(token, candidate.key as KeyObject, {
          issuer: federation.issuer,
          ...(options.audience !== undefined ? { audience: options.audience } : {}),
          algorithms: [...ACCEPTED_ASYMMETRIC_ALGS],
          clockTolerance: this.#clockTolerance,
          currentDate: new Date(this.#now()),
          requiredClaims: ['exp', 'sub'],
        }));
        break;
      } catch (error) {
        lastError = error;
        // Another key may verify it; any other failure is the token's, whatever the key.
        if (!(error instanceof joseErrors.JWSSignatureVerificationFailed) && !(error instanceof joseErrors.JOSENotSupported) && !(error instanceof TypeError)) break;
      }
    }
    if (payload === undefined) throw new FederatedJwtError(lastError instanceof joseErrors.JWTExpired ? 'expired' : 'invalid', describeJoseError(lastError));
    // jose checks nbf; iat in the future is as suspicious (RFC 7519 §4.1.6 leaves it to us).
    if (typeof payload.iat === 'number' && payload.iat * 1000 > this.#now() + this.#clockTolerance * 1000) {
      throw new FederatedJwtError('invalid', 'its iat is in the future');
    }
    return payload;
  }

  /**
   * The federation's replay protection, once the token has been matched to a rule:
   * a token refused for another reason does not use up its jti.
   */
  async checkReplay(federation: Federation, payload: JWTPayload): Promise<void> {
    const replay = federation.replayProtection;
    if (replay.mode === 'max-age') {
      if (typeof payload.iat !== 'number') throw new FederatedJwtError('invalid', 'this issuer\'s tokens must carry iat (the federation limits their age)');
      if (this.#now() - payload.iat * 1000 > replay.maxAgeSeconds * 1000 + this.#clockTolerance * 1000) {
        throw new FederatedJwtError('too-old', `it was issued more than ${replay.maxAgeSeconds} s ago`);
      }
    } else if (replay.mode === 'single-use') {
      if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) {
        throw new FederatedJwtError('invalid', 'this issuer\'s tokens must carry a jti (the federation accepts each token once)');
      }
      // Keyed by issuer, not federation: two federations of one issuer share one use.
      const fresh = await this.#store.useAssertionJti(federation.tenantId, `iss:${federation.issuer}`, payload.jti, (payload.exp ?? 0) * 1000);
      if (!fresh) throw new FederatedJwtError('replayed', 'it was already used (this federation accepts each token once)');
    }
  }

  async #candidateKeys(federation: Federation, kid: string | undefined): Promise<ClientKey[]> {
    const match = (key: ClientKey) => kid === undefined || key.jwk['kid'] === kid;
    if (federation.jwks !== null) return this.#inlineKeys(federation).filter(match);
    const uri = federation.jwksUri ?? (await this.#discoveredJwksUri(federation.issuer));
    try {
      return await this.#keys.findAt(uri, match);
    } catch {
      throw new FederatedJwtError('keys-unavailable', 'the issuer\'s keys could not be fetched');
    }
  }

  #inlineKeys(federation: Federation): ClientKey[] {
    const cached = this.#inline.get(federation.id);
    if (cached !== undefined && cached.source === federation.jwks) return cached.keys;
    const keys = importJwks(federation.jwks);
    this.#inline.set(federation.id, { source: federation.jwks, keys });
    return keys;
  }

  /** The issuer's jwks_uri from its discovery document: cached, one fetch in flight, stale kept on failure. */
  async #discoveredJwksUri(issuer: string): Promise<string> {
    let entry = this.#discovered.get(issuer);
    if (entry === undefined) {
      entry = { jwksUri: null, freshUntil: 0, lastAttempt: Number.NEGATIVE_INFINITY, inFlight: null };
      this.#discovered.set(issuer, entry);
    }
    const now = this.#now();
    if (entry.inFlight !== null) await entry.inFlight;
    else if ((entry.jwksUri === null || now >= entry.freshUntil) && now - entry.lastAttempt >= this.#discovery.cooldown) {
      const current = entry;
      current.lastAttempt = now;
      current.inFlight = this.#discover(issuer)
        .then((uri) => {
          current.jwksUri = uri;
          current.freshUntil = this.#now() + this.#discovery.maxAge;
        }, () => {})
        .finally(() => {
          current.inFlight = null;
        });
      await current.inFlight;
    }
    if (entry.jwksUri === null) throw new FederatedJwtError('keys-unavailable', 'the issuer\'s discovery document could not be read');
    return entry.jwksUri;
  }

  async #discover(issuer: string): Promise<string> {
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await this.#fetch(url, {
      signal: AbortSignal.timeout(this.#discovery.timeout),
      headers: { accept: 'application/json' },
      redirect: 'error',
    });
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`GET ${url}: HTTP ${response.status}`);
    }
    const document = JSON.parse(await readAtMost(response, this.#discovery.maxBytes, url)) as { issuer?: unknown; jwks_uri?: unknown };
    // OpenID Connect Discovery §4.3: the document must be the issuer's own.
    if (document.issuer !== issuer) throw new Error(`${url} names issuer ${JSON.stringify(document.issuer)}`);
    if (typeof document.jwks_uri !== 'string' || !isKeySetUrl(document.jwks_uri)) throw new Error(`${url} has no usable jwks_uri`);
    return document.jwks_uri;
  }
}

/** https, or http on loopback only (the registration rule for explicit jwksUri). */
function isKeySetUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
  } catch {
    return false;
  }
}

/** The JOSE header, unverified: only to pick the key. */
function decodeHeader(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new FederatedJwtError('invalid', 'it must be a signed JWT (compact serialization)');
  try {
    const header: unknown = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8'));
    if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('not an object');
    return header as Record<string, unknown>;
  } catch {
    throw new FederatedJwtError('invalid', 'its header is not a JSON object');
  }
}

/** The unverified payload of a compact JWS: to find which issuer (federation) to verify it with. */
export function decodeUnverifiedPayload(token: string): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? (payload as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'it has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim "${error.claim}" ${error.reason === 'check_failed' ? 'is not acceptable' : error.reason}`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'its alg is not allowed';
  if (error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWSInvalid) return 'it is not a well-formed JWT';
  if (error instanceof joseErrors.JOSEError) return error.code;
  return 'it could not be verified';
}
