/**
 * DPoP at a resource server (RFC 9449 §7): a token bound to a key (`cnf.jkt`) is good
 * only with `Authorization: DPoP <token>` and a `DPoP` proof that passes the checks of
 * RFC 9449 §4.3 (dpop-proof.ts) for this request, hashes this token (`ath`), is signed
 * by the key the token is bound to, and was not seen before. A bound token presented
 * as a Bearer token is refused: accepting it would make the binding worthless (the
 * trap of CVE-2024-49755).
 *
 * Single use of proofs is remembered in a replay cache, bounded in memory by default
 * and pluggable (a shared store for several instances of one resource server).
 */
import { randomBytes } from 'node:crypto';
import type { CheckedClaims } from './claims.js';
import { checkDpopProof, DpopProofError } from './dpop-proof.js';
import { DpopNonceRequiredError, DpopProofInvalidError, InvalidTokenError } from './errors.js';
import { NonceIssuer } from './nonces.js';

/** Remembers used proofs. `use` answers true the first time a key is seen, false for a replay. */
export interface DpopReplayCache {
  /** `key` is jkt and jti; `iat` the proof's (epoch s); `expiresAt` when it can be forgotten (epoch ms). */
  use(key: string, iat: number, expiresAt: number): boolean | Promise<boolean>;
}

/** Server nonces of a resource server (RFC 9449 §9). */
export interface DpopNonceSource {
  /** The nonce to hand out now (in `DPoP-Nonce`). */
  current(): string;
  accepts(nonce: string): boolean;
}

export interface DpopOptions {
  /** Accepted proof algorithms. Default: the verifier's asymmetric algorithms. */
  algorithms?: readonly string[];
  /** How old a proof's `iat` may be, seconds. Default 60. */
  maxAge?: number;
  /** Where used proofs are remembered. Default: in memory, `maxReplayEntries` at most. */
  replay?: DpopReplayCache;
  /** Bound of the default in-memory replay cache. Default 100000. */
  maxReplayEntries?: number;
  /**
   * Require server nonces: `true` for nonces made with a random per-process secret (one
   * instance), or a secret of at least 32 bytes shared by every instance, or a source of your own.
   */
  requireNonce?: boolean | Uint8Array | DpopNonceSource;
}

/** How a request presented its token: the adapters fill this in from the request. */
export interface DpopPresentation {
  /**
   * The Authorization scheme the token came with. Default `DPoP`: a caller that passes a
   * proof presents the token as DPoP. The adapters always say, so a Bearer request with a
   * proof attached is still refused.
   */
  scheme?: 'Bearer' | 'DPoP';
  /** The `DPoP` header (undefined when absent). */
  proof: string | undefined;
  /** The request method (`htm`). */
  method: string;
  /** The request URL as the client addressed it (`htu`; query and fragment are ignored). */
  url: string;
}

export interface DpopChecker {
  readonly algorithms: readonly string[];
  check(checked: CheckedClaims, token: string, presentation: DpopPresentation | undefined, nowMs: number): Promise<void> | undefined;
}

export const DPOP_DEFAULTS = { maxAge: 60, maxReplayEntries: 100_000, nonceWindow: 60 } as const;

export function createDpopChecker(options: DpopOptions | false | undefined, verifierAlgorithms: readonly string[], clockTolerance: number): DpopChecker | null {
  if (options === false) return null;
  const settings = options ?? {};
  const algorithms = [...(settings.algorithms ?? verifierAlgorithms)].filter((alg) => verifierAlgorithms.includes(alg));
  const allowed = new Set(algorithms);
  const maxAge = settings.maxAge ?? DPOP_DEFAULTS.maxAge;
  const replay = settings.replay ?? new MemoryDpopReplayCache(settings.maxReplayEntries ?? DPOP_DEFAULTS.maxReplayEntries);
  const nonces = nonceSourceOf(settings.requireNonce);

  return {
    algorithms,
    check(checked, token, presentation, nowMs) {
      if (checked.boundJkt === undefined) {
        if (presentation !== undefined && (presentation.scheme ?? 'DPoP') === 'DPoP') throw new InvalidTokenError('ERR_DPOP_UNBOUND', 'the token was sent with the DPoP scheme but is not DPoP-bound (no "cnf.jkt", RFC 9449 §7.1)', { claim: 'cnf' });
        return undefined;
      }
      if (presentation === undefined || (presentation.scheme ?? 'DPoP') !== 'DPoP') {
        throw new InvalidTokenError('ERR_DPOP_REQUIRED', 'the token is DPoP-bound ("cnf.jkt"): it must be sent as Authorization: DPoP with a DPoP proof (RFC 9449 §7.1)', { claim: 'cnf' });
      }
      if (presentation.proof === undefined) throw new DpopProofInvalidError('ERR_DPOP_MALFORMED', 'the request has no DPoP proof (RFC 9449 §7.1)');
      let proof;
      try {
        proof = checkDpopProof(presentation.proof, { method: presentation.method, urls: [presentation.url], now: nowMs, maxAge, clockTolerance, algorithms: allowed, accessToken: token });
      } catch (error) {
        if (error instanceof DpopProofError) throw new DpopProofInvalidError(error.code, error.message);
        throw error;
      }
      if (proof.jkt !== checked.boundJkt) throw new DpopProofInvalidError('ERR_DPOP_BINDING', 'the DPoP proof is signed by another key than the token is bound to ("cnf.jkt", RFC 9449 §7.1)');
      if (nonces !== null && (proof.nonce === undefined || !nonces.accepts(proof.nonce))) {
        throw new DpopNonceRequiredError(nonces.current(), 'this resource server requires a DPoP nonce (RFC 9449 §9)');
      }
      const used = replay.use(`${proof.jkt}:${proof.jti}`, proof.iat, (proof.iat + maxAge + 2 * clockTolerance) * 1000);
      const refuse = (fresh: boolean) => {
        if (!fresh) throw new DpopProofInvalidError('ERR_DPOP_REPLAY', 'the DPoP proof was already used ("jti", RFC 9449 §11.1)');
      };
      if (typeof used === 'boolean') {
        refuse(used);
        return undefined;
      }
      return used.then(refuse);
    },
  };
}

/**
 * Used proofs in memory, at most `maxEntries`, forgotten once they could not pass the
 * `iat` check any more. When full, the oldest entry goes and no proof issued at or
 * before the evicted one's `iat` is accepted any more: under a flood the acceptable
 * window narrows instead of letting a forgotten proof be replayed.
 */
export class MemoryDpopReplayCache implements DpopReplayCache {
  readonly #entries = new Map<string, { iat: number; expiresAt: number }>();
  #floor = -Infinity;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxReplayEntries must be a positive integer');
  }

  use(key: string, iat: number, expiresAt: number): boolean {
    const now = this.now();
    this.#sweep(now);
    if (iat <= this.#floor || this.#entries.has(key)) return false;
    if (this.#entries.size >= this.maxEntries) {
      const [oldestKey, oldest] = this.#entries.entries().next().value as [string, { iat: number }];
      this.#entries.delete(oldestKey);
      this.#floor = Math.max(this.#floor, oldest.iat);
      if (iat <= this.#floor) return false;
    }
    this.#entries.set(key, { iat, expiresAt });
    return true;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Entries are in insertion order, which is nearly expiry order: stop at the first live one. */
  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(key);
    }
  }
}

function nonceSourceOf(option: DpopOptions['requireNonce']): DpopNonceSource | null {
  if (option === undefined || option === false) return null;
  if (option === true) return hmacNonces(randomBytes(32));
  if (option instanceof Uint8Array) {
    if (option.length < 32) throw new TypeError('dpop.requireNonce: a shared nonce secret must be at least 32 bytes');
    return hmacNonces(Buffer.from(option));
  }
  return option;
}

function hmacNonces(secret: Buffer): DpopNonceSource {
  const issuer = new NonceIssuer(secret, DPOP_DEFAULTS.nonceWindow);
  return { current: () => issuer.issue(), accepts: (nonce) => issuer.accepts(nonce) };
}
