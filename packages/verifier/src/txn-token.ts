/**
 * Transaction tokens (draft-ietf-oauth-transaction-tokens): the `Txn-Token` request
 * header that workloads of one trust domain pass along a call chain. A transaction
 * token is a JWT with header `typ: txntoken+jwt`, addressed (`aud`) to the trust
 * domain, short-lived, and carrying `txn` (the transaction), `sub`, `scope`, and the
 * optional `req_wl`, `rctx` and `tctx`.
 *
 * `createTxnTokenVerifier({ issuer, trustDomain })` checks them with the same JOSE core,
 * key set and claim checks as access tokens; only the `typ`, the audience and the
 * required claims differ.
 */
import type { ScopeRequirement } from './claims.js';
import { InvalidRequestError, InvalidTokenError, MissingTokenError, VerifierError } from './errors.js';
import type { ErrorResponse, RequestLike } from './adapters/bearer.js';
import { createVerifier, type VerifierOptions } from './verify.js';

/** The request header a transaction token travels in. */
export const TXN_TOKEN_HEADER = 'txn-token';
export const TXN_TOKEN_TYP = 'txntoken+jwt';

export interface TxnTokenClaims {
  iss?: string;
  iat: number;
  aud: string | string[];
  exp: number;
  /** The transaction this call is part of, unchanged along the chain. */
  txn: string;
  sub: string;
  scope?: string;
  /** The workload that requested the token. */
  req_wl?: string;
  /** Requester context (the draft's `rctx`: req_ip, authn, ...). */
  rctx?: Record<string, unknown>;
  /** Transaction context (`tctx`: what the transaction is about). */
  tctx?: Record<string, unknown>;
  [claim: string]: unknown;
}

export interface TxnTokenVerifierOptions extends Omit<VerifierOptions, 'audience' | 'typ' | 'introspection' | 'requiredClaims'> {
  /** The trust domain: the `aud` every transaction token of this domain carries. */
  trustDomain: string;
}

export interface TxnTokenVerifier {
  readonly issuer: string;
  readonly trustDomain: string;
  /** The claims, or throws a VerifierError (`code` as for access tokens). */
  verify(token: string, requirement?: ScopeRequirement): Promise<Readonly<TxnTokenClaims>>;
}

export function createTxnTokenVerifier(options: TxnTokenVerifierOptions): TxnTokenVerifier {
  const { trustDomain, ...rest } = options;
  if (typeof trustDomain !== 'string' || trustDomain.length === 0) throw new TypeError('trustDomain must be a non-empty string');
  const verifier = createVerifier({ ...rest, audience: trustDomain, typ: TXN_TOKEN_TYP, requiredClaims: ['txn', 'sub', 'iat'] });
  return {
    issuer: options.issuer,
    trustDomain,
    async verify(token, requirement = {}) {
      const claims = await verifier.verify(token, requirement);
      return claims as unknown as Readonly<TxnTokenClaims>;
    },
  };
}

/** The transaction token of a request: exactly one `Txn-Token` header holding one JWS. */
export function extractTxnToken(request: RequestLike): string {
  const value = request.headers[TXN_TOKEN_HEADER];
  if (value === undefined || value === '') throw new MissingTokenError('the request has no Txn-Token header');
  if (Array.isArray(value) || value.includes(',')) throw new InvalidRequestError('the request has more than one Txn-Token header');
  const token = value.trim();
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) throw new InvalidTokenError('ERR_MALFORMED', 'the Txn-Token header is not a compact JWS');
  return token;
}

export interface TxnTokenAuthOptions extends ScopeRequirement {
  /** Called with every failure (details for logs; the caller only sees a generic description). */
  onError?: (error: unknown, request: RequestLike) => void;
}

/**
 * The answer to a request whose transaction token failed: 401 (missing or invalid),
 * 403 (insufficient scope), 400 (malformed request) or 503 (issuer unreachable), with
 * a JSON body. No `WWW-Authenticate`: Txn-Token is not an HTTP authentication scheme.
 */
export function txnTokenErrorResponse(error: unknown): ErrorResponse {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (!(error instanceof VerifierError)) return { status: 500, headers, body: { error: 'server_error', error_description: 'The request could not be authorized' } };
  if (error.status === 503) return { status: 503, headers: { ...headers, 'retry-after': '5' }, body: { error: 'temporarily_unavailable', error_description: 'The authorization server could not be reached' } };
  const description = error instanceof MissingTokenError ? 'The request has no transaction token' : error.bearerError === 'insufficient_scope' ? 'The transaction token does not have the scope this request requires' : 'The transaction token is not valid';
  return { status: error.status, headers, body: { error: error.bearerError ?? 'invalid_token', error_description: description } };
}

/** Extract and verify; adapters differ only in how they answer. */
export function authorizeTxnToken(verifier: TxnTokenVerifier, request: RequestLike, options: TxnTokenAuthOptions): Promise<Readonly<TxnTokenClaims>> {
  try {
    return verifier.verify(extractTxnToken(request), { scopes: options.scopes, anyScopes: options.anyScopes });
  } catch (error) {
    return Promise.reject(error);
  }
}
