/**
 * Plain node:http: `const authenticate = httpAuthenticator(verifier)`, then in a handler
 * `const claims = await authenticate(req, res, { scopes: 'orders:read' }); if (!claims) return;`.
 * On failure the RFC 6750 answer has already been written and null is returned.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokenClaims, ScopeRequirement } from '../claims.js';
import type { Verifier } from '../verify.js';
import { authorize, challengeOptions, errorResponse, realmOf, writeErrorResponse } from './bearer.js';
import type { AuthOptions } from './bearer.js';
import { type ProtectedResourceMetadataOptions, serveProtectedResourceMetadata } from '../resource-metadata.js';
import { authorizeTxnToken, txnTokenErrorResponse, type TxnTokenAuthOptions, type TxnTokenClaims, type TxnTokenVerifier } from '../txn-token.js';

export type Authenticate = (
  req: IncomingMessage,
  res: ServerResponse,
  requirement?: ScopeRequirement,
) => Promise<Readonly<AccessTokenClaims> | null>;

/** `options` apply to every call; `requirement` (scopes) per call replaces the default scopes. */
export function httpAuthenticator(verifier: Verifier, options: AuthOptions = {}): Authenticate {
  const realm = realmOf(verifier, options);
  return async (req, res, requirement) => {
    try {
      return await authorize(verifier, req, undefined, requirement ? { ...options, ...requirement } : options);
    } catch (error) {
      options.onError?.(error, req);
      writeErrorResponse(res, errorResponse(error, realm, challengeOptions(verifier, options, req)));
      return null;
    }
  };
}

/** Plain node:http for the `Txn-Token` header: resolves to the claims, or null once the error answer is written. */
export function httpTxnTokenAuthenticator(verifier: TxnTokenVerifier, options: TxnTokenAuthOptions = {}) {
  return async (req: IncomingMessage, res: ServerResponse, requirement?: ScopeRequirement): Promise<Readonly<TxnTokenClaims> | null> => {
    try {
      return await authorizeTxnToken(verifier, req, requirement ? { ...options, ...requirement } : options);
    } catch (error) {
      options.onError?.(error, req);
      writeErrorResponse(res, txnTokenErrorResponse(error));
      return null;
    }
  };
}

/** RFC 9728 for node:http: `if (metadata(req, res)) return;` at the top of the request handler. */
export function httpProtectedResourceMetadata(options: ProtectedResourceMetadataOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  return serveProtectedResourceMetadata(options);
}
