/**
 * Every claim check in one place (RFC 9068 §4, RFC 7519 §4.1, RFC 8705 §3). Each failure
 * names the claim and says why.
 *
 * The checks are split by when they can change: `checkClaimSet` (issuer, audience,
 * types, confirmation method) holds for the token's whole life and runs once per token;
 * `checkTime`, `checkScopes` and `checkBinding` depend on the clock or on the call and run
 * on every call, also for tokens answered from the cache.
 */
import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { InsufficientScopeError, InvalidTokenError } from './errors.js';

/** The claims of an RFC 9068 access token (members other issuers add are kept). */
export interface AccessTokenClaims {
  iss: string;
  aud: string | string[];
  exp: number;
  sub?: string;
  iat?: number;
  nbf?: number;
  jti?: string;
  client_id?: string;
  /** Space-separated scopes (RFC 9068 §2.2.3, RFC 8693 §4.2). */
  scope?: string;
  /** Confirmation (RFC 7800); `x5t#S256` for mTLS-bound tokens (RFC 8705 §3.1). */
  cnf?: { 'x5t#S256'?: string; [method: string]: unknown };
  /** The acting party after token exchange (RFC 8693 §4.1), nested for chains. */
  act?: { sub?: string; client_id?: string; act?: unknown; [claim: string]: unknown };
  [claim: string]: unknown;
}

export interface ClaimRules {
  issuer: string;
  audiences: readonly string[];
  clockToleranceS: number;
  maxTokenAgeS: number | undefined;
  requiredClaims: readonly string[];
}

/** A claim set that passed the per-token checks, with what the per-call checks need. */
export interface CheckedClaims {
  claims: Readonly<AccessTokenClaims>;
  exp: number | undefined;
  nbf: number | undefined;
  iat: number | undefined;
  scopes: ReadonlySet<string>;
  /** base64url SHA-256 certificate thumbprint the token is bound to, if any. */
  boundThumbprint: string | undefined;
  /** RFC 9449 §6.1 thumbprint of the DPoP key the token is bound to, if any. */
  boundJkt: string | undefined;
}

/** What `verify` may require per call. */
export interface ScopeRequirement {
  /** All of these scopes (an array, or one space-separated string). */
  scopes?: readonly string[] | string;
  /** At least one of these scopes. */
  anyScopes?: readonly string[] | string;
}

/** A client certificate as DER bytes, PEM text or an X509Certificate. */
export type CertificateInput = Uint8Array | string | X509Certificate;

function invalid(code: ConstructorParameters<typeof InvalidTokenError>[0], claim: string, message: string): InvalidTokenError {
  return new InvalidTokenError(code, message, { claim });
}

function numericDate(payload: Record<string, unknown>, claim: string): number | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid('ERR_CLAIM_INVALID', claim, `"${claim}" is not a NumericDate`);
  }
  return value;
}

/** Per-token checks: iss, aud, claim types, required claims, cnf method. Used for JWTs and introspection answers. */
export function checkClaimSet(
  payload: Record<string, unknown>,
  rules: ClaimRules,
  options: { expRequired: boolean; issRequired: boolean },
): CheckedClaims {
  const { iss, aud } = payload;
  if (iss === undefined ? options.issRequired : iss !== rules.issuer) {
    throw invalid(
      'ERR_ISSUER_MISMATCH', 'iss',
      iss === undefined ? 'the token has no "iss"' : `"iss" is ${JSON.stringify(iss)}, expected ${JSON.stringify(rules.issuer)}`,
    );
  }
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
  if (audiences === undefined) {
    throw invalid('ERR_AUDIENCE_MISMATCH', 'aud', aud === undefined ? 'the token has no "aud"' : '"aud" is neither a string nor an array');
  }
  if (!audiences.some((value) => typeof value === 'string' && rules.audiences.includes(value))) {
    throw invalid('ERR_AUDIENCE_MISMATCH', 'aud', `"aud" ${JSON.stringify(aud)} does not include ${JSON.stringify(rules.audiences.join(' or '))}`);
  }
  const exp = numericDate(payload, 'exp');
  if (exp === undefined && options.expRequired) throw invalid('ERR_CLAIM_INVALID', 'exp', 'the token has no "exp" (RFC 9068 §2.2)');
  const nbf = numericDate(payload, 'nbf');
  const iat = numericDate(payload, 'iat');
  if (rules.maxTokenAgeS !== undefined && iat === undefined) throw invalid('ERR_CLAIM_INVALID', 'iat', 'the token has no "iat" and a maximum age is configured');
  for (const claim of ['sub', 'jti', 'client_id'] as const) {
    if (payload[claim] !== undefined && typeof payload[claim] !== 'string') throw invalid('ERR_CLAIM_INVALID', claim, `"${claim}" is not a string`);
  }
  for (const claim of rules.requiredClaims) {
    if (payload[claim] === undefined) throw invalid('ERR_CLAIM_INVALID', claim, `the token has no "${claim}", which is required`);
  }
  return {
    claims: deepFreeze(payload) as Readonly<AccessTokenClaims>,
    exp, nbf, iat,
    scopes: parseScopes(payload),
    boundThumbprint: confirmationThumbprint(payload.cnf),
    boundJkt: confirmationJkt(payload.cnf),
  };
}

/** The token's scopes: `scope` (space-separated, RFC 9068), else `scp` (string or array, as some issuers send). */
function parseScopes(payload: Record<string, unknown>): ReadonlySet<string> {
  const { scope, scp } = payload;
  if (scope !== undefined) {
    if (typeof scope !== 'string') throw invalid('ERR_CLAIM_INVALID', 'scope', '"scope" is not a space-separated string');
    return new Set(splitScopes(scope));
  }
  if (typeof scp === 'string') return new Set(splitScopes(scp));
  if (Array.isArray(scp)) return new Set(scp.filter((value): value is string => typeof value === 'string'));
  return new Set();
}

export function splitScopes(value: string): string[] {
  return value.split(' ').filter((scope) => scope.length > 0);
}

/** RFC 9449 §6.1 `cnf.jkt`: checked per call against the DPoP proof (dpop.ts). */
function confirmationJkt(cnf: unknown): string | undefined {
  if (typeof cnf !== 'object' || cnf === null) return undefined;
  const jkt = (cnf as Record<string, unknown>)['jkt'];
  if (jkt === undefined) return undefined;
  if (typeof jkt !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jkt)) throw invalid('ERR_CLAIM_INVALID', 'cnf', '"cnf.jkt" is not a base64url SHA-256 JWK thumbprint');
  return jkt;
}

/**
 * A token bound to something this verifier cannot check must not be accepted as a plain
 * bearer token: `x5t#S256` and `jkt` are checked, other methods are refused.
 */
function confirmationThumbprint(cnf: unknown): string | undefined {
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw invalid('ERR_CLAIM_INVALID', 'cnf', '"cnf" is not an object');
  const thumbprint = (cnf as Record<string, unknown>)['x5t#S256'];
  if (thumbprint !== undefined) {
    if (typeof thumbprint !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(thumbprint)) {
      throw invalid('ERR_CLAIM_INVALID', 'cnf', '"cnf.x5t#S256" is not a base64url SHA-256 thumbprint');
    }
    return thumbprint;
  }
  const methods = Object.keys(cnf).filter((method) => method !== 'jkt');
  if (methods.length === 0) return undefined;
  throw invalid('ERR_CNF_MISMATCH', 'cnf', `the token is bound with ${methods.map((m) => `"cnf.${m}"`).join(', ')}, which this verifier cannot check`);
}

/** exp, nbf and iat against the clock, with the configured tolerance (RFC 7519 §4.1.4, §4.1.5). */
export function checkTime(checked: CheckedClaims, rules: ClaimRules, nowS: number): void {
  const tolerance = rules.clockToleranceS;
  if (checked.exp !== undefined && nowS - tolerance >= checked.exp) {
    throw invalid('ERR_TOKEN_EXPIRED', 'exp', `the token expired at ${checked.exp} ("exp"), ${Math.floor(nowS - checked.exp)} s ago`);
  }
  if (checked.nbf !== undefined && nowS + tolerance < checked.nbf) {
    throw invalid('ERR_TOKEN_NOT_YET_VALID', 'nbf', `the token is not valid before ${checked.nbf} ("nbf")`);
  }
  if (checked.iat !== undefined) {
    if (nowS + tolerance < checked.iat) {
      throw invalid('ERR_TOKEN_NOT_YET_VALID', 'iat', `the token was issued in the future ("iat" ${checked.iat})`);
    }
    if (rules.maxTokenAgeS !== undefined && nowS - tolerance > checked.iat + rules.maxTokenAgeS) {
      throw invalid('ERR_TOKEN_EXPIRED', 'iat', `the token is older than the maximum age of ${rules.maxTokenAgeS} s ("iat")`);
    }
  }
}

function asScopeList(value: readonly string[] | string): readonly string[] {
  return typeof value === 'string' ? splitScopes(value) : value;
}

/** RFC 6750 §3.1 insufficient_scope: all of `scopes`, and at least one of `anyScopes`. */
export function checkScopes(checked: CheckedClaims, requirement: ScopeRequirement): void {
  if (requirement.scopes !== undefined) {
    const required = asScopeList(requirement.scopes);
    const missing = required.filter((scope) => !checked.scopes.has(scope));
    if (missing.length > 0) {
      throw new InsufficientScopeError(required, false, `the token lacks scope ${missing.map((s) => JSON.stringify(s)).join(', ')}`);
    }
  }
  if (requirement.anyScopes !== undefined) {
    const acceptable = asScopeList(requirement.anyScopes);
    if (acceptable.length > 0 && !acceptable.some((scope) => checked.scopes.has(scope))) {
      throw new InsufficientScopeError(acceptable, true, `the token has none of the scopes ${acceptable.map((s) => JSON.stringify(s)).join(', ')}`);
    }
  }
}

/** RFC 8705 §3: a certificate-bound token is only good with the certificate it is bound to. */
export function checkBinding(checked: CheckedClaims, certificate: CertificateInput | null | undefined): void {
  if (checked.boundThumbprint === undefined) return;
  if (certificate === undefined || certificate === null) {
    throw invalid('ERR_CNF_MISMATCH', 'cnf', 'the token is bound to a client certificate ("cnf.x5t#S256") and none was presented');
  }
  const presented = Buffer.from(certificateThumbprint(certificate), 'latin1');
  const expected = Buffer.from(checked.boundThumbprint, 'latin1');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    throw invalid('ERR_CNF_MISMATCH', 'cnf', 'the presented client certificate is not the one the token is bound to ("cnf.x5t#S256")');
  }
}

/** base64url(SHA-256(DER)) of a certificate: the RFC 8705 §3.1 `x5t#S256` value. */
export function certificateThumbprint(certificate: CertificateInput): string {
  let der: Uint8Array;
  if (certificate instanceof X509Certificate) der = certificate.raw;
  else if (typeof certificate === 'string') der = new X509Certificate(certificate).raw;
  else if (certificate[0] === 0x30) der = certificate; // DER starts with a SEQUENCE
  else der = new X509Certificate(Buffer.from(certificate)).raw;
  return createHash('sha256').update(der).digest('base64url');
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
