/**
 * `@tessera/verifier/core`: the one JOSE core that Tessera's server and this verifier
 * share. One compact-JWS parser and algorithm table (jws.ts), one key-set cache with
 * max-age, cooldown, negative cache, stale-if-error and failure back-off
 * (jwks-cache.ts), discovery (discovery.ts), and one JSON fetch bounded in time and
 * size while it streams, without redirects (fetch.ts). Network access goes through an
 * injectable FetchLike, so a caller adds its own URL policy (the server refuses
 * private destinations there).
 */
export {
  ALGORITHM_PROFILES,
  SUPPORTED_ALGORITHMS,
  isSupportedAlgorithm,
  parseCompactJws,
  prepareKey,
  verifySignature,
} from './jws.js';
export type { Algorithm, AlgorithmProfile, JwsHeader, ParsedJws, PreparedKey } from './jws.js';
export { JwksCache } from './jwks-cache.js';
export type { CachedKey, JwksCacheOptions, JwksCacheTimings } from './jwks-cache.js';
export { Discovery, discoveryUrls } from './discovery.js';
export type { DiscoveryOptions, IssuerMetadata } from './discovery.js';
export { MAX_BODY_BYTES, fetchJson, isPlainObject } from './fetch.js';
export type { FetchJsonInit, FetchLike, JsonResponse } from './fetch.js';
export { InvalidTokenError, IssuerUnavailableError } from './errors.js';
export type { InvalidTokenCode, IssuerUnavailableCode } from './errors.js';
export { DPOP_PROOF_TYP, DpopProofError, accessTokenHash, checkDpopProof, jwkThumbprint, normaliseHtu } from './dpop-proof.js';
export type { CheckedDpopProof, DpopProofErrorCode, DpopProofExpectations } from './dpop-proof.js';
export { NonceIssuer } from './nonces.js';
