/**
 * Every failure of the verifier is a `VerifierError` with a stable `code`; callers
 * switch on `code` (or `instanceof` one of the subclasses), never on the message.
 *
 * The subclasses follow the RFC 6750 §3.1 error a resource server answers with:
 * `InvalidTokenError` (401 invalid_token), `InsufficientScopeError` (403
 * insufficient_scope), `InvalidRequestError` (400 invalid_request), `MissingTokenError`
 * (401 without an error code), and `IssuerUnavailableError` (503: the token may be fine
 * but the issuer could not be asked).
 */

import type { DpopProofErrorCode } from './dpop-proof.js';

export type VerifierErrorCode =
  | InvalidTokenCode
  | 'ERR_INSUFFICIENT_SCOPE'
  | 'ERR_INVALID_REQUEST'
  | 'ERR_TOKEN_MISSING'
  | 'ERR_DPOP_PROOF_INVALID'
  | 'ERR_DPOP_NONCE_REQUIRED'
  | IssuerUnavailableCode;

export type InvalidTokenCode =
  | 'ERR_MALFORMED'
  | 'ERR_TYP_INVALID'
  | 'ERR_ALG_NOT_ALLOWED'
  | 'ERR_KID_UNKNOWN'
  | 'ERR_SIGNATURE_INVALID'
  | 'ERR_ISSUER_MISMATCH'
  | 'ERR_AUDIENCE_MISMATCH'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_NOT_YET_VALID'
  | 'ERR_CLAIM_INVALID'
  | 'ERR_CNF_MISMATCH'
  | 'ERR_DPOP_REQUIRED'
  | 'ERR_DPOP_UNBOUND'
  | 'ERR_TOKEN_INACTIVE';

export type IssuerUnavailableCode = 'ERR_DISCOVERY_FAILED' | 'ERR_JWKS_UNAVAILABLE' | 'ERR_INTROSPECTION_FAILED';

/** The RFC 6750 §3.1 error code an adapter answers with, or null for "no error code". */
export type BearerErrorCode = 'invalid_token' | 'insufficient_scope' | 'invalid_request' | 'invalid_dpop_proof' | 'use_dpop_nonce';

export abstract class VerifierError extends Error {
  abstract readonly code: VerifierErrorCode;
  /** HTTP status an adapter answers with. */
  abstract readonly status: number;
  /** RFC 6750 error code, or null when the challenge carries none (no credentials, issuer down). */
  abstract readonly bearerError: BearerErrorCode | null;
  /** The claim or header parameter that failed, when one did (`exp`, `aud`, `header.alg`...). */
  readonly claim: string | undefined;

  constructor(message: string, options?: { claim?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.claim = options?.claim;
  }
}

/** The token itself is unacceptable: RFC 6750 `invalid_token`, 401. */
export class InvalidTokenError extends VerifierError {
  readonly code: InvalidTokenCode;
  readonly status = 401;
  readonly bearerError = 'invalid_token';

  constructor(code: InvalidTokenCode, message: string, options?: { claim?: string; cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The token is valid but lacks the scopes the call requires: RFC 6750 `insufficient_scope`, 403. */
export class InsufficientScopeError extends VerifierError {
  readonly code = 'ERR_INSUFFICIENT_SCOPE';
  readonly status = 403;
  readonly bearerError = 'insufficient_scope';
  /** The scopes the call asked for (`scope` attribute of the challenge). */
  readonly requiredScopes: readonly string[];
  /** Whether any one of `requiredScopes` would have sufficed. */
  readonly anyOf: boolean;

  constructor(requiredScopes: readonly string[], anyOf: boolean, message: string) {
    super(message, { claim: 'scope' });
    this.requiredScopes = requiredScopes;
    this.anyOf = anyOf;
  }
}

/** The request carried credentials in a way RFC 6750 §2 does not allow: 400 `invalid_request`. */
export class InvalidRequestError extends VerifierError {
  readonly code = 'ERR_INVALID_REQUEST';
  readonly status = 400;
  readonly bearerError = 'invalid_request';
}

/** The request carried no bearer token at all: 401 with a challenge and no error code (RFC 6750 §3.1). */
export class MissingTokenError extends VerifierError {
  readonly code = 'ERR_TOKEN_MISSING';
  readonly status = 401;
  readonly bearerError = null;
}

/** Discovery, the JWKS or the introspection endpoint could not be used: 503, the token was not judged. */
export class IssuerUnavailableError extends VerifierError {
  readonly code: IssuerUnavailableCode;
  readonly status = 503;
  readonly bearerError = null;

  constructor(code: IssuerUnavailableCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The DPoP proof sent with a DPoP-bound token fails a check of RFC 9449 §4.3 (or is
 * replayed, or signed by another key than the token is bound to): 401
 * `invalid_dpop_proof` (RFC 9449 §7.1). `reason` is the check that failed.
 */
export class DpopProofInvalidError extends VerifierError {
  readonly code = 'ERR_DPOP_PROOF_INVALID';
  readonly status = 401;
  readonly bearerError = 'invalid_dpop_proof';
  readonly reason: DpopProofErrorCode;

  constructor(reason: DpopProofErrorCode, message: string) {
    super(message, { claim: 'dpop' });
    this.reason = reason;
  }
}

/** RFC 9449 §9: the resource server requires a nonce; the answer carries a fresh one in `DPoP-Nonce`. */
export class DpopNonceRequiredError extends VerifierError {
  readonly code = 'ERR_DPOP_NONCE_REQUIRED';
  readonly status = 401;
  readonly bearerError = 'use_dpop_nonce';
  readonly nonce: string;

  constructor(nonce: string, message: string) {
    super(message, { claim: 'dpop.nonce' });
    this.nonce = nonce;
  }
}
