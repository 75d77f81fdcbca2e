/**
 * Transaction Tokens (draft-ietf-oauth-transaction-tokens): a token-exchange request
 * (RFC 8693) with `requested_token_type` txn_token and `audience` = the tenant's trust
 * domain. The tenant is the trust domain, so the Txn-Token Service is the tenant's
 * token endpoint, and only clients registered with `txnTokenService` may ask.
 *
 * - The subject token is an access token of this tenant, for any of its APIs (the edge
 *   service exchanges the token it received), a user's token from an external issuer
 *   that a subject federation lets this client exchange (its own `scope`/`scp` is the
 *   ceiling, its replay protection applies), or a transaction token of this tenant
 *   (replacement: same `txn`, same subject and context, scope narrowed or equal, never
 *   outliving the token it replaces).
 * - `scope` never exceeds the subject token's; without it, the subject token's scope.
 * - `request_context` becomes `rctx` and `request_details` becomes `tctx` (JSON
 *   objects, sent as JSON text or base64url of it).
 * - The token is a JWT with header `typ: txntoken+jwt` and the claims `iss`, `iat`,
 *   `aud`, `exp`, `txn`, `sub`, `scope`, `req_wl` (the requesting workload: the client
 *   id), `rctx` and `tctx`; it lives `lifetime` seconds (at most 5 minutes) and never
 *   beyond its subject token. The answer has `token_type: N_A` and `issued_token_type`
 *   txn_token, and no refresh token.
 */
import { randomUUID } from 'node:crypto';
import { verifyTenantJws } from '../../domain/tokens.js';
import type { TenantContext } from '../../domain/tenant-context.js';
import type { AuthenticatedClient } from '../client-auth/types.js';
import { InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient } from '../errors.js';
import { parseScope } from '../params.js';
import { peekJwt } from './federated-jwt.js';
import type { Subject } from './token-exchange.js';
import type { GrantContext, TokenResponse } from './types.js';

export const TXN_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:txn_token';
/** Media type of a transaction token's JWS header `typ`. */
export const TXN_TOKEN_TYP = 'txntoken+jwt';
/** Transaction tokens are short-lived by design: at most this (seconds). */
export const MAX_TXN_TOKEN_LIFETIME = 300;
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
/** `rctx` and `tctx` are context, not payload: bounded. */
const MAX_CONTEXT_BYTES = 4096;

export interface TxnTokenOptions {
  /** Lifetime of a transaction token (seconds, 1 to 300). */
  lifetime: number;
  now: () => number;
}

/** Claims of a transaction token, as issued. */
export interface TxnTokenClaims {
  iss: string;
  iat: number;
  aud: string;
  exp: number;
  txn: string;
  sub: string;
  scope: string;
  req_wl: string;
  rctx?: Record<string, unknown>;
  tctx?: Record<string, unknown>;
  [claim: string]: unknown;
}

/** The trust domain a tenant's transaction tokens are addressed to: its setting, or its issuer. */
export function trustDomainOf(tenant: TenantContext): string {
  return tenant.tenant.trustDomain ?? tenant.issuer;
}

/** What a replacement or a first issuance starts from. */
interface TxnSubject {
  sub: string;
  scopes: ReadonlySet<string>;
  exp: number;
  /** Set when the subject token is itself a transaction token (replacement). */
  replaces?: TxnTokenClaims;
  /** Runs once the request is otherwise acceptable (an external token's replay protection). */
  commit?: () => Promise<void>;
}

/** Resolves a subject token of an external issuer that a subject federation trusts (token-exchange.ts). */
export type ExternalSubjectResolver = (iss: string, subjectToken: string) => Promise<Subject>;

export async function issueTransactionToken(context: GrantContext, actor: AuthenticatedClient, options: TxnTokenOptions, external: ExternalSubjectResolver): Promise<TokenResponse> {
  const { tenant, params } = context;
  if (actor.client.txnTokenService !== true) {
    throw new UnauthorizedClient('this client may not request transaction tokens (it is not registered as a Txn-Token service)');
  }
  const trustDomain = trustDomainOf(tenant);
  const audience = params.get('audience');
  if (audience !== trustDomain) {
    throw new InvalidTarget(`a transaction token's audience must be the trust domain ${JSON.stringify(trustDomain)}`);
  }
  if (params.has('resource')) throw new InvalidTarget('a transaction token is for the trust domain: send audience, not resource');
  if (params.has('actor_token') || params.has('actor_token_type')) {
    throw new InvalidRequest('actor_token is not supported: the authenticated client is the requesting workload');
  }
  const subject = await subjectOf(context, params.require('subject_token'), params.require('subject_token_type'), options.now, external);

  const requested = parseScope(params.get('scope'));
  const scopes = requested ?? [...subject.scopes];
  const wider = scopes.filter((s) => !subject.scopes.has(s));
  if (wider.length > 0) throw new InvalidScope(`scope ${wider.join(' ')} exceeds the subject token's`);
  if (scopes.length === 0) throw new InvalidScope('the subject token carries no scope to put in a transaction token');

  const iat = Math.floor(options.now() / 1000);
  const exp = Math.min(iat + options.lifetime, subject.exp);
  if (exp <= iat) throw new InvalidRequest('subject_token is expired');
  const previous = subject.replaces;
  const rctx = previous !== undefined ? previous.rctx : contextParameter(params.get('request_context'), 'request_context');
  // A replacement keeps the transaction's context: it narrows, it does not rewrite.
  if (previous !== undefined && (params.has('request_context') || params.has('request_details'))) {
    throw new InvalidRequest('a replacement transaction token keeps the context of the one it replaces: send neither request_context nor request_details');
  }
  const tctx = previous !== undefined ? previous.tctx : contextParameter(params.get('request_details'), 'request_details');
  const claims: TxnTokenClaims = {
    iss: tenant.issuer,
    iat,
    aud: trustDomain,
    exp,
    txn: previous?.txn ?? randomUUID(),
    sub: subject.sub,
    scope: scopes.join(' '),
    req_wl: previous?.req_wl ?? actor.client.clientId,
  };
  if (rctx !== undefined) claims.rctx = rctx;
  if (tctx !== undefined) claims.tctx = tctx;
  const signer = tenant.signer;
  if (signer === null) throw new Error(`tenant ${tenant.tenant.id} has no active signing key`);
  await subject.commit?.();
  const token = await signer.sign(claims, TXN_TOKEN_TYP);
  return { access_token: token, issued_token_type: TXN_TOKEN_TYPE, token_type: 'N_A', expires_in: exp - iat, scope: claims.scope };
}

async function subjectOf(context: GrantContext, subjectToken: string, subjectTokenType: string, now: () => number, external: ExternalSubjectResolver): Promise<TxnSubject> {
  const { tenant, inspector } = context;
  if (subjectTokenType === TXN_TOKEN_TYPE) {
    const previous = readTransactionToken(tenant, subjectToken, now());
    if (previous === null) throw new InvalidRequest('subject_token is not a live transaction token of this trust domain');
    return { sub: previous.sub, scopes: new Set(previous.scope.split(' ').filter(Boolean)), exp: previous.exp, replaces: previous };
  }
  const iss = subjectToken.includes('.') ? (peekJwt(subjectToken)?.iss ?? null) : null;
  const federated = iss !== null && iss !== tenant.issuer;
  const acceptedTypes = federated ? [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ID_TOKEN_TYPE] : [ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE];
  if (!acceptedTypes.includes(subjectTokenType)) {
    throw new InvalidRequest(`subject_token_type must be one of ${acceptedTypes.join(', ')}, or ${TXN_TOKEN_TYPE} to replace a transaction token`);
  }
  // A user's token from an issuer a subject federation trusts: its own scopes are the ceiling.
  if (federated) {
    const resolved = await external(iss, subjectToken);
    return { sub: resolved.sub, scopes: resolved.scopes ?? new Set(), exp: resolved.exp, ...(resolved.commit !== undefined ? { commit: resolved.commit } : {}) };
  }
  // Any API of the tenant: the trust domain is the tenant.
  const found = await inspector.inspect(tenant, subjectToken);
  if (found === null) throw new InvalidRequest('subject_token is invalid, expired or revoked');
  return { sub: found.claims.sub, scopes: new Set((found.claims.scope ?? '').split(' ').filter(Boolean)), exp: found.claims.exp };
}

/** A transaction token this tenant signed, live now, for its trust domain; null otherwise. */
export function readTransactionToken(tenant: TenantContext, token: string, nowMs: number): TxnTokenClaims | null {
  const jws = verifyTenantJws(tenant, token);
  if (jws === null || jws.header.typ !== TXN_TOKEN_TYP) return null;
  const claims = jws.payload as Partial<TxnTokenClaims>;
  if (claims.iss !== tenant.issuer || claims.aud !== trustDomainOf(tenant)) return null;
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= nowMs) return null;
  if (typeof claims.txn !== 'string' || typeof claims.sub !== 'string' || typeof claims.scope !== 'string' || typeof claims.req_wl !== 'string') return null;
  return claims as TxnTokenClaims;
}

/** `request_context` / `request_details`: a JSON object, as JSON text or base64url of it. */
function contextParameter(value: string | undefined, name: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (Buffer.byteLength(value) > MAX_CONTEXT_BYTES * 2) throw new InvalidRequest(`${name} is too large`);
  const text = value.trimStart().startsWith('{') ? value : Buffer.from(value, 'base64url').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidRequest(`${name} must be a JSON object (as JSON text or base64url of it)`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidRequest(`${name} must be a JSON object`);
  if (Buffer.byteLength(JSON.stringify(parsed)) > MAX_CONTEXT_BYTES) throw new InvalidRequest(`${name} must be at most ${MAX_CONTEXT_BYTES} bytes of JSON`);
  return parsed as Record<string, unknown>;
}
