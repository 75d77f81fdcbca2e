/**
 * Compact JWS (RFC 7515 §7.1) parsing and signature verification with node:crypto.
 *
 * Parsing is strict on purpose: exactly three non-empty base64url segments, JSON objects
 * for header and payload, no `crit` extensions. Anything odd is ERR_MALFORMED before
 * any key is looked at.
 */
import { constants, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { InvalidTokenError } from './errors.js';

/** Asymmetric JWS algorithms the verifier can check. HMAC and `none` are never among them. */
export const SUPPORTED_ALGORITHMS = [
  'ES256', 'ES384', 'ES512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'EdDSA', 'Ed25519',
] as const;
export type Algorithm = (typeof SUPPORTED_ALGORITHMS)[number];

export interface AlgorithmProfile {
  /** JWK `kty` a key must have for this algorithm. */
  kty: 'EC' | 'RSA' | 'OKP';
  /** JWK `crv` values a key may have (EC and OKP). */
  curves?: readonly string[];
  /** Digest given to crypto.verify; null for EdDSA. */
  digest: string | null;
  /** Exact signature length in bytes when the algorithm fixes it (ECDSA in IEEE P1363 form). */
  signatureLength?: number;
  pss?: boolean;
  saltLength?: number;
}

export const ALGORITHM_PROFILES: Readonly<Record<Algorithm, AlgorithmProfile>> = {
  ES256: { kty: 'EC', curves: ['P-256'], digest: 'sha256', signatureLength: 64 },
  ES384: { kty: 'EC', curves: ['P-384'], digest: 'sha384', signatureLength: 96 },
  ES512: { kty: 'EC', curves: ['P-521'], digest: 'sha512', signatureLength: 132 },
  RS256: { kty: 'RSA', digest: 'sha256' },
  RS384: { kty: 'RSA', digest: 'sha384' },
  RS512: { kty: 'RSA', digest: 'sha512' },
  PS256: { kty: 'RSA', digest: 'sha256', pss: true, saltLength: 32 },
  PS384: { kty: 'RSA', digest: 'sha384', pss: true, saltLength: 48 },
  PS512: { kty: 'RSA', digest: 'sha512', pss: true, saltLength: 64 },
  EdDSA: { kty: 'OKP', curves: ['Ed25519', 'Ed448'], digest: null },
  Ed25519: { kty: 'OKP', curves: ['Ed25519'], digest: null },
};

export function isSupportedAlgorithm(alg: unknown): alg is Algorithm {
  return typeof alg === 'string' && Object.hasOwn(ALGORITHM_PROFILES, alg);
}

export interface JwsHeader {
  alg: string;
  kid?: string;
  typ?: string;
  [parameter: string]: unknown;
}

export interface ParsedJws {
  header: JwsHeader;
  payload: Record<string, unknown>;
  /** The ASCII bytes the signature covers: `base64url(header) "." base64url(payload)`. */
  signingInput: Buffer;
  signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

function malformed(message: string): InvalidTokenError {
  return new InvalidTokenError('ERR_MALFORMED', message);
}

function decodeSegment(segment: string, name: string): Buffer {
  // Buffer's decoder skips characters it does not know; check the alphabet first so
  // that "a.b.c" and "a.b!.c" are not the same token. Length 4n+1 cannot be base64.
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) {
    throw malformed(`the ${name} is not base64url`);
  }
  return Buffer.from(segment, 'base64url');
}

function decodeJsonObject(segment: string, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decodeSegment(segment, name).toString('utf8'));
  } catch (error) {
    if (error instanceof InvalidTokenError) throw error;
    throw malformed(`the ${name} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`the ${name} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Splits and decodes a compact JWS; throws ERR_MALFORMED for anything that is not one. */
export function parseCompactJws(token: string, maxLength: number): ParsedJws {
  if (token.length === 0) throw malformed('the token is empty');
  if (token.length > maxLength) throw malformed(`the token is longer than ${maxLength} characters`);
  const first = token.indexOf('.');
  const second = first === -1 ? -1 : token.indexOf('.', first + 1);
  if (second === -1 || token.indexOf('.', second + 1) !== -1) {
    throw malformed('a JWS in compact serialization has exactly three segments');
  }
  const header = decodeJsonObject(token.slice(0, first), 'header');
  if (typeof header.alg !== 'string') throw malformed('the header has no "alg"');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw malformed('the header "kid" is not a string');
  if (header.typ !== undefined && typeof header.typ !== 'string') throw malformed('the header "typ" is not a string');
  // RFC 7515 §4.1.11: a recipient that does not understand a critical extension must
  // reject the JWS. This verifier understands none (b64:false included).
  if (header.crit !== undefined) throw malformed('the header lists critical extensions ("crit") this verifier does not support');
  if (header.b64 !== undefined) throw malformed('the "b64" header parameter is not supported');
  const payload = decodeJsonObject(token.slice(first + 1, second), 'payload');
  const signatureSegment = token.slice(second + 1);
  if (signatureSegment.length === 0) throw malformed('the signature is empty');
  const signature = decodeSegment(signatureSegment, 'signature');
  return {
    header: header as JwsHeader,
    payload,
    signingInput: Buffer.from(token.slice(0, second), 'latin1'),
    signature,
  };
}

/** A public key prepared for one algorithm, so the hot path is a single crypto.verify call. */
export interface PreparedKey {
  alg: Algorithm;
  digest: string | null;
  signatureLength: number | undefined;
  input: KeyObject | { key: KeyObject; dsaEncoding?: 'ieee-p1363'; padding?: number; saltLength?: number };
}

export function prepareKey(key: KeyObject, alg: Algorithm): PreparedKey {
  const profile = ALGORITHM_PROFILES[alg];
  let input: PreparedKey['input'] = key;
  if (profile.kty === 'EC') input = { key, dsaEncoding: 'ieee-p1363' };
  else if (profile.pss) input = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: profile.saltLength ?? 0 };
  return { alg, digest: profile.digest, signatureLength: profile.signatureLength, input };
}

export function verifySignature(key: PreparedKey, signingInput: Buffer, signature: Buffer): boolean {
  if (key.signatureLength !== undefined && signature.length !== key.signatureLength) return false;
  try {
    return cryptoVerify(key.digest, signingInput, key.input, signature);
  } catch {
    // OpenSSL throws on some structurally impossible signatures; those are just invalid.
    return false;
  }
}
