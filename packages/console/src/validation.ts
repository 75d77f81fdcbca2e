/**
 * Form values checked as the management API checks them, before they are sent, so a
 * mistake is named at its field in words instead of being sent (and, for a value the
 * API would read as "the default", silently accepted). The server stays the judge:
 * what it refuses is shown at the field too (`fieldMessage`).
 */
import { ApiError, type Scope } from './api.js';

/** The API's scope value rule. */
export const SCOPE_VALUE = /^[A-Za-z0-9_.:\-/]{1,128}$/;
export const LIFETIME = { min: 60, max: 86_400 };
const LIFETIME_RULE = `must be a whole number of seconds from ${LIFETIME.min} to ${LIFETIME.max}, or empty for the default`;

/** A field's mistake, thrown as the API would answer it, so forms route it to the field. */
export function fieldError(field: string, message: string): ApiError {
  return new ApiError(422, 'validation_failed', `${field} ${message}`);
}

/** An access token lifetime field: empty is the default (null); anything else a whole number in range. */
export function lifetimeOf(value: string, field = 'accessTokenLifetime'): number | null {
  const text = value.trim();
  if (text === '') return null;
  if (!/^\d+$/.test(text) || Number(text) < LIFETIME.min || Number(text) > LIFETIME.max) {
    throw fieldError(field, `${LIFETIME_RULE}; "${text}" is not`);
  }
  return Number(text);
}

/** Token requests per minute: empty is the default (null); 0 is no quota. */
export function quotaOf(value: string, field = 'tokenQuotaPerMinute'): number | null {
  const text = value.trim();
  if (text === '') return null;
  if (!/^\d+$/.test(text) || Number(text) > 1_000_000) throw fieldError(field, `must be a whole number of token requests per minute from 0 (no quota) to 1000000, or empty for the default; "${text}" is not`);
  return Number(text);
}

/**
 * Scope lines: `value` or `value - description`. A value cannot hold spaces, so a line
 * with spaces and no ` - ` is refused rather than cut at its first space.
 */
export function parseScopes(text: string): Scope[] {
  const scopes: Scope[] = [];
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  for (const [i, line] of lines.entries()) {
    const separator = line.indexOf(' - ');
    const value = (separator === -1 ? line : line.slice(0, separator)).trim();
    const description = separator === -1 ? '' : line.slice(separator + 3).trim();
    if (!SCOPE_VALUE.test(value)) {
      const why = /\s/.test(value) ? 'a scope value has no spaces (write a description after " - ")' : 'a scope value is 1 to 128 letters, digits and _ . : - /';
      throw fieldError('scopes', `line ${i + 1}, "${line}": ${why}`);
    }
    if (scopes.some((s) => s.value === value)) throw fieldError('scopes', `line ${i + 1}: "${value}" is listed twice`);
    scopes.push(description === '' ? { value } : { value, description });
  }
  return scopes;
}

export const scopesText = (scopes: readonly Scope[]): string => scopes.map((s) => (s.description ? `${s.value} - ${s.description}` : s.value)).join('\n');

/**
 * A server message for one field, in words: without the field's name in front (it is
 * shown at the field) and, for a value the schema refused in every branch of a union
 * (Ajv lists each: `must be >= 60, must be null, must match a schema in anyOf`), the rule.
 */
export function fieldMessage(field: string, message: string): string {
  if (/Lifetime$/.test(field) && /anyOf|must be (>=|<=|integer|null)|must be an integer/.test(message)) return LIFETIME_RULE;
  const first = message.split(/, (?=body\/)/)[0] ?? message;
  const rest = first.replace(/^(?:body\/)?[A-Za-z]+(?:\/\S*)?\s+/, '');
  return rest === '' ? message : rest;
}

/**
 * Claim names the server sets itself or that readers would mistake for its own
 * (registered JWT claims, RFC 7519 §4.1; RFC 9068 §2.2; RFC 8693 §4; RFC 7662 §2.2 members).
 */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  'iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti',
  'client_id', 'scope', 'cnf', 'act', 'may_act', 'typ',
  'azp', 'auth_time', 'acr', 'amr', 'nonce', 'at_hash', 'c_hash', 'sid',
  'active', 'token_type', 'username',
]);
export const CLAIM_LIMITS = { maxCount: 20, maxNameLength: 64, maxJsonBytes: 4096 } as const;
const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_.:\-/]*$/;

/**
 * A custom claims field (a client's or a grant's): a JSON object, empty for none (null),
 * checked by the rules the server applies: at most 20 claims, names of 1 to 64 letters,
 * digits and `_ . : - /` not starting with a digit, no registered name, 4096 bytes of JSON.
 */
export function customClaimsOf(text: string, field = 'customClaims'): Record<string, unknown> | null {
  if (text.trim() === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw fieldError(field, 'must be a JSON object of claims, such as {"team": "billing"}; empty for none');
  const claims = parsed as Record<string, unknown>;
  const names = Object.keys(claims);
  if (names.length > CLAIM_LIMITS.maxCount) throw fieldError(field, `must hold at most ${CLAIM_LIMITS.maxCount} claims (got ${names.length})`);
  for (const name of names) {
    if (name.length > CLAIM_LIMITS.maxNameLength || !CLAIM_NAME.test(name)) {
      throw fieldError(field, `claim name ${JSON.stringify(name)} must be 1 to ${CLAIM_LIMITS.maxNameLength} characters: letters, digits, _ . : - / (not starting with a digit)`);
    }
    if (RESERVED_CLAIMS.has(name)) throw fieldError(field, `claim ${JSON.stringify(name)} is a registered claim that Tessera sets itself; choose another name`);
  }
  const bytes = new TextEncoder().encode(JSON.stringify(claims)).length;
  if (bytes > CLAIM_LIMITS.maxJsonBytes) throw fieldError(field, `must be at most ${CLAIM_LIMITS.maxJsonBytes} bytes as JSON (got ${bytes})`);
  return claims;
}

export const claimsText = (claims: Readonly<Record<string, unknown>>): string => (Object.keys(claims).length === 0 ? '' : JSON.stringify(claims, null, 2));
