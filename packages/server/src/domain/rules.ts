/** The naming and range rules of SPEC §2 and §5, shared by every domain service. */
import { ValidationError } from './errors.js';
import { type OutboundPolicy, OutboundUrlRefused } from '../outbound/policy.js';

export const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const SCOPE_VALUE = /^[A-Za-z0-9_.:\-/]{1,128}$/;

export function assertTenantId(id: string): void {
  if (!TENANT_ID.test(id)) {
    throw new ValidationError('tenant id must match ^[a-z0-9][a-z0-9-]{0,62}$ (lower-case letters, digits and dashes)');
  }
}

export function assertName(name: string, what: string, max = 100): void {
  if (name.trim().length === 0 || name.length > max) throw new ValidationError(`${what} must be 1 to ${max} characters`);
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new ValidationError(`${what} must not contain control characters`);
}

export function assertScopeValues(values: string[]): void {
  for (const value of values) {
    if (!SCOPE_VALUE.test(value)) {
      throw new ValidationError(`scope ${JSON.stringify(value)} must match ^[A-Za-z0-9_.:\\-/]{1,128}$`);
    }
  }
  const duplicate = values.find((v, i) => values.indexOf(v) !== i);
  if (duplicate !== undefined) throw new ValidationError(`scope ${JSON.stringify(duplicate)} is listed twice`);
}

export function assertLifetime(value: number | null | undefined, bounds: { minLifetime: number; maxLifetime: number }, what: string): void {
  if (value == null) return;
  if (!Number.isInteger(value) || value < bounds.minLifetime || value > bounds.maxLifetime) {
    throw new ValidationError(`${what} must be an integer from ${bounds.minLifetime} to ${bounds.maxLifetime} seconds`);
  }
}

/** An API identifier is an absolute URI (RFC 8707 §2) or a URN-like name without whitespace. */
export function assertApiIdentifier(identifier: string): void {
  if (identifier.length === 0 || identifier.length > 512 || /\s/.test(identifier)) {
    throw new ValidationError('identifier must be 1 to 512 characters without whitespace');
  }
  if (identifier.includes('#')) throw new ValidationError('identifier must not contain a fragment (RFC 8707 §2)');
}

/**
 * Where a client's or a federation's public keys come from: https, or plain http only
 * on loopback (a key set fetched over the network in clear could be swapped).
 */
/** A URL the server will fetch: the outbound policy (outbound/policy.ts) decides, 422 when it refuses. */
export function assertKeySetUrl(value: string, what: string, policy: OutboundPolicy): void {
  try {
    policy.checkUrl(value);
  } catch (error) {
    if (error instanceof OutboundUrlRefused) throw new ValidationError(`${what}: ${error.message}`);
    throw error;
  }
}

/**
 * A federation's `issuer`: an issuer identifier as RFC 8414 §2 defines it, a URL with
 * the `https` scheme and no query or fragment, so that `<issuer>#<sub>` names one
 * subject of one issuer. `http` only for a host `--outbound-allow` names, as for every
 * URL the server fetches. Throws ValidationError.
 */
export function assertIssuerIdentifier(value: string, policy: OutboundPolicy): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationError('issuer must be an absolute https URL (RFC 8414 §2)');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ValidationError(`issuer must be an https URL (RFC 8414 §2), not ${url.protocol}`);
  if (value.includes('#') || value.includes('?')) throw new ValidationError('issuer must not have a query or fragment (RFC 8414 §2)');
  if (url.username !== '' || url.password !== '') throw new ValidationError('issuer must not carry credentials (user:password@)');
  if (url.protocol === 'http:') assertKeySetUrl(value, 'issuer', policy);
}
