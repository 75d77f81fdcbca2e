export { createVerifier } from './verify.js';
export type { Verifier, VerifierOptions, VerifyOptions, JwksCacheOptions, IntrospectionOptions } from './verify.js';
export type { AccessTokenClaims, CertificateInput, ScopeRequirement } from './claims.js';
export { certificateThumbprint } from './claims.js';
export type { IssuerMetadata } from './discovery.js';
export type { FetchLike } from './fetch.js';
export { SUPPORTED_ALGORITHMS } from './jws.js';
export type { Algorithm } from './jws.js';
export {
  VerifierError,
  InvalidTokenError,
  InsufficientScopeError,
  InvalidRequestError,
  MissingTokenError,
  IssuerUnavailableError,
  DpopProofInvalidError,
  DpopNonceRequiredError,
} from './errors.js';
export { MemoryDpopReplayCache } from './dpop.js';
export type { DpopOptions, DpopReplayCache, DpopNonceSource, DpopPresentation } from './dpop.js';
export { accessTokenHash, jwkThumbprint } from './dpop-proof.js';
export type { DpopProofErrorCode } from './dpop-proof.js';
export type { VerifierErrorCode, InvalidTokenCode, IssuerUnavailableCode, BearerErrorCode } from './errors.js';
export { requireAuth } from './adapters/express.js';
export type { AuthenticatedRequest, ExpressMiddleware } from './adapters/express.js';
export { fastifyAuth, fastifyRequireAuth } from './adapters/fastify.js';
export type { FastifyAuthOptions, FastifyPreHandler, FastifyRequestLike, FastifyReplyLike } from './adapters/fastify.js';
export { httpAuthenticator } from './adapters/http.js';
export type { Authenticate } from './adapters/http.js';
export { extractBearerToken, extractAccessToken, errorResponse, requestUrl } from './adapters/bearer.js';
export type { AuthOptions, ChallengeOptions, ErrorResponse } from './adapters/bearer.js';
export { createTxnTokenVerifier, extractTxnToken, txnTokenErrorResponse, TXN_TOKEN_HEADER, TXN_TOKEN_TYP } from './txn-token.js';
export type { TxnTokenClaims, TxnTokenVerifier, TxnTokenVerifierOptions, TxnTokenAuthOptions } from './txn-token.js';
export { requireTxnToken } from './adapters/express.js';
export { fastifyRequireTxnToken } from './adapters/fastify.js';
export { httpTxnTokenAuthenticator } from './adapters/http.js';
export { protectedResourceMetadata, protectedResourceMetadataUrl, protectedResourceMetadataPath, PROTECTED_RESOURCE_WELL_KNOWN } from './resource-metadata.js';
export type { ProtectedResourceMetadata, ProtectedResourceMetadataOptions } from './resource-metadata.js';
export { protectedResourceMetadataRoute } from './adapters/express.js';
export { fastifyProtectedResourceMetadata } from './adapters/fastify.js';
export { httpProtectedResourceMetadata } from './adapters/http.js';
