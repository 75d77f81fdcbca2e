/**
 * Verifying a JWT of a federated (external) issuer, shared by the jwt-bearer grant
 * (workload assertions, RFC 7523) and token exchange (user subject tokens, RFC 8693),
 * on the JOSE core the verifier uses (`@tessera/verifier/core`: one compact-JWS
 * parser, one algorithm table, one key-set cache):
 *
 * - keys: the federation's inline `jwks`, its `jwksUri`, or, with neither, the
 *   `jwks_uri` of the issuer's discovery document (whose `issuer` must be the
 *   federation's), all fetched through the server's outbound fetch (URL policy,
 *   bounded, no redirects) and cached with back-off on failure;
 * - signature with a supported asymmetric algorithm, `iss`, `sub`, `exp` (required,
 *   not too far ahead), `nbf` and `iat` not in the future, `aud` when the caller
 *   names the accepted values;
 * - checkReplay(): the federation's replay protection (single use of `jti` across
 *   replicas through the state store's single-use keys, or a maximum age since `iat`),
 *   run once the token has been matched, so a token refused for another reason does
 *   not use up its jti.
 */
import {
  type Algorithm,
  type CachedKey,
  type FetchLike,
  InvalidTokenError,
  IssuerUnavailableError,
  isSupportedAlgorithm,
  type JwksCache,
  type ParsedJws,
  parseCompactJws,
  SUPPORTED_ALGORITHMS,
  verifySignature,
} from '@tessera/verifier/core';
import { discoveredKeySet, type KeySetTimings, remoteKeySet, staticKeySet } from '../../outbound/key-sets.js';
import { useAssertionJti } from '../../store/state/single-use.js';
import type { StateStore } from '../../store/state/types.js';
import type { Federation } from '../../store/types.js';

const MAX_TOKEN_LENGTH = 16 * 1024;

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

export interface FederatedJwtOptions {
  /** Replay protection (single-use `jti`s), shared by every replica. */
  state: Pick<StateStore, 'useOnce'>;
  now: () => number;
  /** Clock skew allowed on exp/nbf/iat (seconds). */
  clockTolerance: number;
  /** The server's outbound fetch (outbound/fetch.ts). */
  fetch: FetchLike;
  keySetTimings?: Partial<KeySetTimings>;
}

export interface VerifyOptions {
  /** `aud` must hold one of these; omitted: the caller applies its own audience rule. */
  audience?: string[];
  /** `exp` at most this far ahead (seconds). */
  maxLifetime: number;
}

export class FederatedJwtVerifier {
  readonly #options: FederatedJwtOptions;
  /** federation id -> its key set, rebuilt when the federation's key source changes. */
  readonly #keySets = new Map<string, { source: string; keys: JwksCache | Promise<JwksCache> }>();

  constructor(options: FederatedJwtOptions) {
    this.#options = options;
  }

  /** The verified payload, or a FederatedJwtError. */
  async verify(federation: Federation, token: string, options: VerifyOptions): Promise<Record<string, unknown>> {
    let jws: ParsedJws;
    try {
      jws = parseCompactJws(token, MAX_TOKEN_LENGTH);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw new FederatedJwtError('invalid', `it must be a signed JWT (compact serialization): ${error.message}`);
      throw error;
    }
    const alg = jws.header.alg;
    if (!isSupportedAlgorithm(alg)) throw new FederatedJwtError('invalid', `its alg must be one of ${SUPPORTED_ALGORITHMS.join(', ')}`);
    const keys = await this.#candidateKeys(federation, alg, jws.header.kid);
    if (keys.length === 0) throw new FederatedJwtError('invalid', 'no key of the issuer matches its kid and alg');
    const signed = keys.some((key) => {
      const prepared = key.prepared.get(alg);
      return prepared !== undefined && verifySignature(prepared, jws.signingInput, jws.signature);
    });
    if (!signed) throw new FederatedJwtError('invalid', 'the signature does not verify');
    this.#checkClaims(jws.payload, federation, options);
    return jws.payload;
  }

  /** RFC 7519 §4.1 / RFC 7523 §3 items 1 to 6 for a verified token. */
  #checkClaims(payload: Record<string, unknown>, federation: Federation, options: VerifyOptions): void {
    const { iss, sub, aud, exp, nbf, iat } = payload;
    const now = this.#options.now() / 1000;
    const skew = this.#options.clockTolerance;
    function fail(message: string): never {
      throw new FederatedJwtError('invalid', message);
    }
    if (iss !== federation.issuer) fail('claim "iss" is not the federation\'s issuer');
    if (typeof sub !== 'string' || sub === '') fail('claim "sub" is required');
    if (options.audience !== undefined) {
      const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
      if (!audiences.some((a) => options.audience?.includes(a))) fail('claim "aud" does not name this authorization server (RFC 7523 §3 item 3)');
    }
    if (!isNumericDate(exp)) fail('claim "exp" is required');
    if (exp <= now - skew) throw new FederatedJwtError('expired', 'it has expired');
    if (exp > now + options.maxLifetime + skew) fail(`claim "exp" is too far ahead: at most ${options.maxLifetime} seconds`);
    if (nbf !== undefined && (!isNumericDate(nbf) || nbf > now + skew)) fail('it is not valid yet: "nbf" is in the future');
    if (iat !== undefined && (!isNumericDate(iat) || iat > now + skew)) fail('claim "iat" is in the future');
  }

  /** The federation's replay protection; throws FederatedJwtError('replayed' | 'too-old' | 'invalid'). */
  async checkReplay(federation: Federation, payload: Record<string, unknown>): Promise<void> {
    const replay = federation.replayProtection;
    const { iat, jti, exp } = payload;
    if (replay.mode === 'max-age') {
      if (!isNumericDate(iat)) throw new FederatedJwtError('invalid', 'this issuer\'s tokens must carry iat (the federation limits their age)');
      if (this.#options.now() / 1000 - iat > replay.maxAgeSeconds + this.#options.clockTolerance) {
        throw new FederatedJwtError('too-old', `it was issued more than ${replay.maxAgeSeconds} s ago`);
      }
    } else if (replay.mode === 'single-use') {
      if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) {
        throw new FederatedJwtError('invalid', 'this issuer\'s tokens must carry a jti (the federation accepts each token once)');
      }
      // Keyed by issuer, not federation: two federations of one issuer share one use.
      const fresh = await useAssertionJti(this.#options.state, federation.tenantId, `iss:${federation.issuer}`, jti, Number(exp) * 1000);
      if (!fresh) throw new FederatedJwtError('replayed', 'it was already used (this federation accepts each token once)');
    }
  }

  /** The federation's keys that may have signed; [] when none; 'keys-unavailable' on an outage. */
  async #candidateKeys(federation: Federation, alg: Algorithm, kid: string | undefined): Promise<CachedKey[]> {
    try {
      return await (await this.#keySetOf(federation)).getKeys(alg, kid);
    } catch (error) {
      if (error instanceof InvalidTokenError) return [];
      if (error instanceof IssuerUnavailableError) throw new FederatedJwtError('keys-unavailable', 'the issuer\'s keys could not be fetched');
      throw error;
    }
  }

  #keySetOf(federation: Federation): JwksCache | Promise<JwksCache> {
    const source = federation.jwksUri ?? (federation.jwks !== null ? JSON.stringify(federation.jwks) : `discovery:${federation.issuer}`);
    const cached = this.#keySets.get(federation.id);
    if (cached !== undefined && cached.source === source) return cached.keys;
    const from = { fetch: this.#options.fetch, now: this.#options.now, ...(this.#options.keySetTimings ? { timings: this.#options.keySetTimings } : {}) };
    const keys = federation.jwksUri !== null
      ? remoteKeySet(federation.jwksUri, from)
      : federation.jwks !== null
        ? staticKeySet(federation.jwks)
        : discoveredKeySet(federation.issuer, from);
    this.#keySets.set(federation.id, { source, keys });
    return keys;
  }
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** A JWT's `iss` and header `typ` before it is verified: only to route it; null if it is no JWT. */
export function peekJwt(token: string): { iss: string | null; typ: string | null } | null {
  try {
    const { header, payload } = parseCompactJws(token, MAX_TOKEN_LENGTH);
    return { iss: typeof payload['iss'] === 'string' ? payload['iss'] : null, typ: typeof header.typ === 'string' ? header.typ : null };
  } catch {
    return null;
  }
}
