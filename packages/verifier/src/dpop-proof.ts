/**
 * DPoP proofs (RFC 9449 §4): the checks of §4.3 that every receiver makes, shared by
 * the authorization server (token endpoint) and resource servers (this verifier).
 *
 * What is left to the caller: that the request has exactly one `DPoP` header, the
 * single use of `jti` (a replay store of the caller's choosing), the nonce policy, and
 * the binding to an access token's `cnf.jkt` (compare the returned thumbprint).
 */
import { createHash, createPublicKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { ALGORITHM_PROFILES, type Algorithm, isSupportedAlgorithm, parseCompactJws, prepareKey, verifySignature } from './jws.js';

/** RFC 9449 §4.2 `typ` of a proof. */
export const DPOP_PROOF_TYP = 'dpop+jwt';
/** A proof is a header, a few claims and a signature: well under this. */
const MAX_PROOF_LENGTH = 8 * 1024;
/** JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/** RSA keys below 2048 bits are not acceptable proof keys (RFC 7518 §3.3). */
const MIN_RSA_BITS = 2048;

export type DpopProofErrorCode =
  | 'ERR_DPOP_MALFORMED'
  | 'ERR_DPOP_TYP'
  | 'ERR_DPOP_ALG'
  | 'ERR_DPOP_JWK'
  | 'ERR_DPOP_SIGNATURE'
  | 'ERR_DPOP_CLAIM'
  | 'ERR_DPOP_HTM'
  | 'ERR_DPOP_HTU'
  | 'ERR_DPOP_IAT'
  | 'ERR_DPOP_ATH'
  | 'ERR_DPOP_NONCE'
  | 'ERR_DPOP_REPLAY'
  | 'ERR_DPOP_BINDING';

/** A proof that fails a check of RFC 9449 §4.3; `code` says which. */
export class DpopProofError extends Error {
  constructor(
    readonly code: DpopProofErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DpopProofError';
  }
}

export interface DpopProofExpectations {
  /** The request's method (compared case-sensitively, RFC 9449 §4.3 check 8). */
  method: string;
  /** The URLs the request may have been sent to; query and fragment are ignored (check 9). */
  urls: readonly string[];
  /** Clock, epoch milliseconds. */
  now: number;
  /** How old `iat` may be, seconds (check 11). */
  maxAge: number;
  /** How far in the future `iat` may be, seconds. */
  clockTolerance: number;
  /** Accepted `alg` values (asymmetric only). */
  algorithms: ReadonlySet<string>;
  /** The access token presented with the proof: `ath` is then required and checked (check 12). */
  accessToken?: string;
}

export interface CheckedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key: what `cnf.jkt` binds to. */
  jkt: string;
  jti: string;
  /** epoch seconds */
  iat: number;
  alg: Algorithm;
  /** The `nonce` claim, when present (the caller decides whether it is acceptable). */
  nonce: string | undefined;
}

/** RFC 9449 §4.3: every check that needs only the proof and the request. */
export function checkDpopProof(proof: string, expected: DpopProofExpectations): CheckedDpopProof {
  let jws;
  try {
    jws = parseCompactJws(proof, MAX_PROOF_LENGTH);
  } catch (error) {
    throw new DpopProofError('ERR_DPOP_MALFORMED', `the DPoP proof is not a JWS: ${(error as Error).message}`);
  }
  const { header, payload } = jws;
  if (header.typ !== DPOP_PROOF_TYP) {
    throw new DpopProofError('ERR_DPOP_TYP', `the DPoP proof's "typ" must be "${DPOP_PROOF_TYP}" (RFC 9449 §4.2)`);
  }
  const alg = header.alg;
  if (!isSupportedAlgorithm(alg) || !expected.algorithms.has(alg)) {
    throw new DpopProofError('ERR_DPOP_ALG', `the DPoP proof's "alg" ${JSON.stringify(alg)} is not an accepted asymmetric algorithm (RFC 9449 §4.2)`);
  }
  const { key, jkt } = proofKeyOf(proof.slice(0, proof.indexOf('.')), header['jwk'], alg);
  if (!verifySignature(prepareKey(key, alg), jws.signingInput, jws.signature)) {
    throw new DpopProofError('ERR_DPOP_SIGNATURE', 'the DPoP proof\'s signature does not verify with its "jwk" (RFC 9449 §4.3)');
  }

  const { jti, htm, htu, iat } = payload;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw new DpopProofError('ERR_DPOP_CLAIM', 'the DPoP proof needs a "jti" string of at most 256 characters (RFC 9449 §4.2)');
  if (typeof htm !== 'string') throw new DpopProofError('ERR_DPOP_CLAIM', 'the DPoP proof needs an "htm" claim (RFC 9449 §4.2)');
  if (typeof htu !== 'string') throw new DpopProofError('ERR_DPOP_CLAIM', 'the DPoP proof needs an "htu" claim (RFC 9449 §4.2)');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new DpopProofError('ERR_DPOP_CLAIM', 'the DPoP proof needs a numeric "iat" claim (RFC 9449 §4.2)');
  if (htm !== expected.method) throw new DpopProofError('ERR_DPOP_HTM', `the DPoP proof is for method ${JSON.stringify(htm)}, not ${expected.method} (RFC 9449 §4.3)`);
  const target = normaliseHtu(htu);
  if (target === null || !expected.urls.some((url) => normaliseHtu(url) === target)) {
    throw new DpopProofError('ERR_DPOP_HTU', 'the DPoP proof\'s "htu" is not the URL of this request (RFC 9449 §4.3)');
  }
  const nowS = expected.now / 1000;
  if (iat > nowS + expected.clockTolerance) throw new DpopProofError('ERR_DPOP_IAT', 'the DPoP proof was issued in the future ("iat", RFC 9449 §4.3)');
  if (iat < nowS - expected.maxAge - expected.clockTolerance) {
    throw new DpopProofError('ERR_DPOP_IAT', `the DPoP proof is older than ${expected.maxAge} s ("iat", RFC 9449 §4.3)`);
  }
  const nonce = payload['nonce'];
  if (nonce !== undefined && typeof nonce !== 'string') throw new DpopProofError('ERR_DPOP_CLAIM', 'the DPoP proof\'s "nonce" is not a string');

  if (expected.accessToken !== undefined) {
    const ath = payload['ath'];
    if (typeof ath !== 'string') throw new DpopProofError('ERR_DPOP_ATH', 'the DPoP proof has no "ath", the hash of the access token it is sent with (RFC 9449 §4.3)');
    if (!sameText(ath, accessTokenHash(expected.accessToken))) {
      throw new DpopProofError('ERR_DPOP_ATH', 'the DPoP proof\'s "ath" is not the hash of this access token (RFC 9449 §4.3)');
    }
  }
  return { jkt, jti, iat, alg, nonce };
}

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the ASCII access token. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url): the required members of the key type,
 * in lexicographic order, without whitespace.
 */
export function jwkThumbprint(jwk: Record<string, unknown>): string {
  const members = THUMBPRINT_MEMBERS[jwk['kty'] as string];
  if (members === undefined) throw new DpopProofError('ERR_DPOP_JWK', `a JWK of kty ${JSON.stringify(jwk['kty'])} has no thumbprint here`);
  const canonical: Record<string, unknown> = {};
  for (const member of members) {
    if (typeof jwk[member] !== 'string') throw new DpopProofError('ERR_DPOP_JWK', `the JWK has no "${member}"`);
    canonical[member] = jwk[member];
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}

const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};

/**
 * A client signs every proof with the same key, so its header repeats: the imported key
 * and its thumbprint are kept per header (a bounded map; a miss costs one import).
 */
const importedKeys = new Map<string, { key: KeyObject; jkt: string }>();
const MAX_IMPORTED_KEYS = 1024;

function proofKeyOf(encodedHeader: string, jwk: unknown, alg: Algorithm): { key: KeyObject; jkt: string } {
  const cached = importedKeys.get(encodedHeader);
  if (cached !== undefined) return cached;
  const key = proofKey(jwk, alg);
  const entry = { key, jkt: jwkThumbprint(jwk as Record<string, unknown>) };
  if (importedKeys.size >= MAX_IMPORTED_KEYS) importedKeys.delete(importedKeys.keys().next().value as string);
  importedKeys.set(encodedHeader, entry);
  return entry;
}

/** The public key of the proof's `jwk` header, if it is one that fits `alg` (RFC 9449 §4.3 checks 5-7). */
function proofKey(jwk: unknown, alg: Algorithm): KeyObject {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw new DpopProofError('ERR_DPOP_JWK', 'the DPoP proof\'s header needs a "jwk", the public key (RFC 9449 §4.2)');
  }
  const members = jwk as Record<string, unknown>;
  if (PRIVATE_MEMBERS.some((member) => member in members)) {
    throw new DpopProofError('ERR_DPOP_JWK', 'the DPoP proof\'s "jwk" holds private key material; it must be a public key (RFC 9449 §4.3)');
  }
  const profile = ALGORITHM_PROFILES[alg];
  if (members['kty'] !== profile.kty || (profile.curves !== undefined && !profile.curves.includes(members['crv'] as string))) {
    throw new DpopProofError('ERR_DPOP_JWK', `the DPoP proof's "jwk" is not a key for ${alg}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: members as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    throw new DpopProofError('ERR_DPOP_JWK', 'the DPoP proof\'s "jwk" is not a valid public key');
  }
  if (profile.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw new DpopProofError('ERR_DPOP_JWK', `the DPoP proof's RSA key is shorter than ${MIN_RSA_BITS} bits`);
  }
  return key;
}

/**
 * RFC 9449 §4.3 check 9: `htu` compared without query and fragment, after the syntax-
 * and scheme-based normalisation of RFC 3986 §6.2.2 and §6.2.3 (case of scheme and host,
 * default port, dot segments, percent-encoding). Null when it is no absolute http(s) URL.
 */
export function normaliseHtu(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  const path = (url.pathname === '' ? '/' : url.pathname).replace(/%[0-9A-Fa-f]{2}/g, (escape) => {
    const char = String.fromCharCode(Number.parseInt(escape.slice(1), 16));
    return /[A-Za-z0-9\-._~]/.test(char) ? char : escape.toUpperCase();
  });
  return `${url.protocol}//${url.host}${path}`;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
