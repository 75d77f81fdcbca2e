/**
 * Express middleware (tested with Express 5): `app.get('/orders', requireAuth(verifier, { scopes: 'orders:read' }), handler)`.
 * The claims are at `req.auth`. Failures are answered here, per RFC 6750 §3, without
 * reaching the app's error handler.
 *
 * Express is not imported; the request and response are Node's, which Express extends.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessTokenClaims } from '../claims.js';
import type { Verifier } from '../verify.js';
import { authorize, challengeOptions, errorResponse, realmOf, writeErrorResponse } from './bearer.js';
import type { AuthOptions } from './bearer.js';
import { type ProtectedResourceMetadataOptions, serveProtectedResourceMetadata } from '../resource-metadata.js';
import { authorizeTxnToken, txnTokenErrorResponse, type TxnTokenAuthOptions, type TxnTokenClaims, type TxnTokenVerifier } from '../txn-token.js';

/** An Express request after the middleware: cast to it, or augment Express's Request with `auth`. */
export interface AuthenticatedRequest extends IncomingMessage {
  auth: Readonly<AccessTokenClaims>;
}

/**
 * The request type does not declare `auth` so that the middleware fits Express's
 * RequestHandler whatever else augments Request (express-oauth2-jwt-bearer declares its own `auth`).
 */
export type ExpressMiddleware = (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: (error?: unknown) => void) => void;

export function requireAuth(verifier: Verifier, options: AuthOptions = {}): ExpressMiddleware {
  const realm = realmOf(verifier, options);
  return (req, res, next) => {
    authorize(verifier, req, req.body, options).then(
      (claims) => {
        (req as Partial<AuthenticatedRequest>).auth = claims;
        next();
      },
      (error: unknown) => {
        options.onError?.(error, req);
        writeErrorResponse(res, errorResponse(error, realm, challengeOptions(verifier, options, req)));
      },
    );
  };
}

/** Express middleware for the `Txn-Token` header: the claims are at `req.txnToken`. */
export function requireTxnToken(verifier: TxnTokenVerifier, options: TxnTokenAuthOptions = {}): ExpressMiddleware {
  return (req, res, next) => {
    authorizeTxnToken(verifier, req, options).then(
      (claims) => {
        (req as IncomingMessage & { txnToken?: Readonly<TxnTokenClaims> }).txnToken = claims;
        next();
      },
      (error: unknown) => {
        options.onError?.(error, req);
        writeErrorResponse(res, txnTokenErrorResponse(error));
      },
    );
  };
}

/** RFC 9728: `app.use(protectedResourceMetadataRoute({ resource, issuer, scopes }))` serves the metadata at its well-known path. */
export function protectedResourceMetadataRoute(options: ProtectedResourceMetadataOptions): ExpressMiddleware {
  const serve = serveProtectedResourceMetadata(options);
  return (req, res, next) => {
    if (!serve(req, res)) next();
  };
}
