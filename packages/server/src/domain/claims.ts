/**
 * Claims that administrators add to issued tokens (static, per client and per grant)
 * or copy from a federated JWT (a federation's claim mappings), and the claim
 * conditions of federation rules. The rules of both live here, in one place.
 */
import type { ClaimCondition, ClaimValue, CustomClaims } from '../store/types.js';
import { ValidationError } from './errors.js';

/**
 * Names a custom or copied claim may never take: the claims Tessera itself sets
 * (RFC 9068 §2.2, RFC 8693 §4, RFC 8705 §3.1), the other registered JWT claims
 * (RFC 7519 §4.1), the OpenID ID-token claims a resource server could mistake for
 * authentication facts, and the members of an RFC 7662 introspection response
 * (which lists a token's claims beside them).
 */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  'iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti',
  'client_id', 'scope', 'cnf', 'act', 'may_act', 'typ',
  'azp', 'auth_time', 'acr', 'amr', 'nonce', 'at_hash', 'c_hash', 'sid',
  'active', 'token_type', 'username',
]);

export const CLAIM_LIMITS = {
  /** Custom claims per client or grant, and claim mappings per federation. */
  maxCount: 20,
  maxNameLength: 64,
  /** The serialised JSON of one set of static claims. */
  maxJsonBytes: 4096,
  /** One claim copied from an external JWT; larger values are left out. */
  maxCopiedValueBytes: 1024,
} as const;

/** Plain names and collision-resistant URI names (RFC 7519 §4.2), e.g. `https://example.com/roles`. */
const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_.:\-/]*$/;

function assertClaimName(name: string, what: string): void {
  if (name.length === 0 || name.length > CLAIM_LIMITS.maxNameLength || !CLAIM_NAME.test(name)) {
    throw new ValidationError(`${what} name ${JSON.stringify(name)} must be 1 to ${CLAIM_LIMITS.maxNameLength} characters: letters, digits, _ . : - / (not starting with a digit)`);
  }
  if (RESERVED_CLAIMS.has(name)) {
    throw new ValidationError(`${what} ${JSON.stringify(name)} is a registered claim that Tessera sets itself; choose another name`);
  }
}

/** Checks static custom claims (a client's or a grant's) and returns them. */
export function assertCustomClaims(claims: unknown, what = 'custom claim'): CustomClaims {
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new ValidationError('customClaims must be a JSON object');
  const entries = Object.entries(claims as Record<string, unknown>);
  if (entries.length > CLAIM_LIMITS.maxCount) throw new ValidationError(`at most ${CLAIM_LIMITS.maxCount} custom claims`);
  for (const [name, value] of entries) {
    assertClaimName(name, what);
    if (value === undefined) throw new ValidationError(`${what} ${JSON.stringify(name)} has no value`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(claims), 'utf8');
  if (bytes > CLAIM_LIMITS.maxJsonBytes) throw new ValidationError(`customClaims must be at most ${CLAIM_LIMITS.maxJsonBytes} bytes as JSON (got ${bytes})`);
  return claims as CustomClaims;
}

/** Checks a federation's claim mappings: issued-token name -> external claim name. */
export function assertClaimMappings(mappings: Record<string, string>): void {
  const entries = Object.entries(mappings);
  if (entries.length > CLAIM_LIMITS.maxCount) throw new ValidationError(`at most ${CLAIM_LIMITS.maxCount} claim mappings`);
  for (const [target, source] of entries) {
    assertClaimName(target, 'mapped claim');
    if (typeof source !== 'string' || source.length === 0 || source.length > 256) {
      throw new ValidationError(`claim mapping ${JSON.stringify(target)} must name the external claim to copy (1 to 256 characters)`);
    }
  }
}

/**
 * The claims a federation copies from a verified external JWT. Values that are not
 * JSON-sized for a token (over maxCopiedValueBytes) or absent are left out rather
 * than failing the request: the token is still right, just without that claim.
 */
export function copyMappedClaims(mappings: Record<string, string>, source: Record<string, unknown>): CustomClaims {
  const copied: CustomClaims = {};
  for (const [target, from] of Object.entries(mappings)) {
    if (!Object.hasOwn(source, from)) continue;
    const value = source[from];
    if (value === undefined) continue;
    const json = JSON.stringify(value);
    if (json === undefined || Buffer.byteLength(json, 'utf8') > CLAIM_LIMITS.maxCopiedValueBytes) continue;
    defineClaim(copied, target, value as ClaimValue);
  }
  return copied;
}

/** An own, enumerable property even for a name such as `__proto__`. */
function defineClaim(claims: CustomClaims, name: string, value: ClaimValue): void {
  Object.defineProperty(claims, name, { value, enumerable: true, writable: true, configurable: true });
}

// ----------------------------------------------------------- claim conditions

const CONDITION_KINDS = ['equals', 'prefix', 'oneOf'] as const;

/** Checks the claim conditions of a federation rule; `where` names the rule in errors. */
export function assertClaimConditions(conditions: Record<string, unknown>, where: string): asserts conditions is Record<string, ClaimCondition> {
  const entries = Object.entries(conditions);
  if (entries.length > CLAIM_LIMITS.maxCount) throw new ValidationError(`${where}: at most ${CLAIM_LIMITS.maxCount} claim conditions`);
  for (const [claim, condition] of entries) {
    const at = `${where}, claim ${JSON.stringify(claim)}`;
    if (claim.length === 0 || claim.length > 256) throw new ValidationError(`${at}: a claim name must be 1 to 256 characters`);
    if (typeof condition === 'string') continue;
    if (typeof condition !== 'object' || condition === null || Array.isArray(condition)) {
      throw new ValidationError(`${at}: a condition is a string (exact) or one of {"equals": s}, {"prefix": s}, {"oneOf": [s, ...]}`);
    }
    const kinds = Object.keys(condition);
    const kind = kinds[0];
    if (kinds.length !== 1 || kind === undefined || !(CONDITION_KINDS as readonly string[]).includes(kind)) {
      throw new ValidationError(`${at}: give exactly one of equals, prefix, oneOf (got ${kinds.join(', ') || 'none'})`);
    }
    const value: unknown = (condition as Record<string, unknown>)[kind];
    if (kind === 'oneOf') {
      if (!Array.isArray(value) || value.length === 0 || value.length > 100 || !value.every((v) => typeof v === 'string')) {
        throw new ValidationError(`${at}: oneOf must be a list of 1 to 100 strings`);
      }
    } else if (typeof value !== 'string' || (kind === 'prefix' && value.length === 0)) {
      throw new ValidationError(`${at}: ${kind} must be a ${kind === 'prefix' ? 'non-empty ' : ''}string`);
    }
  }
}

/** One condition against one claim value: only a string claim can match. */
export function conditionMatches(condition: ClaimCondition, value: unknown): boolean {
  if (typeof value !== 'string') return false;
  if (typeof condition === 'string') return value === condition;
  if ('equals' in condition) return value === condition.equals;
  if ('prefix' in condition) return value.startsWith(condition.prefix);
  if ('oneOf' in condition) return condition.oneOf.includes(value);
  return false;
}

/** Every condition holds for the claims (own properties only: `__proto__` is just a name). */
export function claimsMatch(conditions: Record<string, ClaimCondition> | undefined, claims: Record<string, unknown>): boolean {
  return Object.entries(conditions ?? {}).every(([name, condition]) => Object.hasOwn(claims, name) && conditionMatches(condition, claims[name]));
}

/**
 * A token's extra claims, merged in order of authority: copied from the subject
 * first, then the client's static claims, then the grant's (an administrator's
 * setting beats what an external issuer said).
 */
export function mergeCustomClaims(...sets: (CustomClaims | undefined)[]): CustomClaims {
  const merged: CustomClaims = {};
  for (const set of sets) {
    for (const [name, value] of Object.entries(set ?? {})) {
      if (!RESERVED_CLAIMS.has(name)) defineClaim(merged, name, value);
    }
  }
  return merged;
}
