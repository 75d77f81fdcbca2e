export { createTokenClient, tokenCacheKey } from './token-client.js';
export type {
  AccessToken,
  ExchangeTokenOptions,
  TokenClient,
  TokenClientOptions,
  TokenRequestOptions,
  TransactionTokenOptions,
} from './token-client.js';
export { createDpopProver, htuOf } from './dpop.js';
export type { DpopKeyInput, DpopKeyPair, DpopProver } from './dpop.js';

export { clientSecretBasic, clientSecretPost } from './auth/client-secret.js';
export { privateKeyJwt, CLIENT_ASSERTION_TYPE } from './auth/private-key-jwt.js';
export type { PrivateKeyInput, PrivateKeyJwtOptions } from './auth/private-key-jwt.js';
export { tlsClientAuth, selfSignedTlsClientAuth } from './auth/tls-client-auth.js';
export type { TlsClientAuthOptions } from './auth/tls-client-auth.js';
export type { ClientAuth, ClientAuthContext, ClientAuthMethod } from './auth/types.js';

export {
  clientCredentialsGrantRequest,
  processClientCredentialsResponse,
  processTokenResponse,
  processTokenExchangeResponse,
  tokenEndpointRequest,
  normalizeScope,
} from './token-request.js';
export type { ClientCredentialsParameters, TokenEndpointContext, TokenEndpointResponse } from './token-request.js';
export { tokenExchangeRequest, TokenTypes, TOKEN_EXCHANGE_GRANT_TYPE } from './token-exchange.js';
export type { TokenExchangeParameters } from './token-exchange.js';
export { discover, discoveryRequest, discoveryUrls, processDiscoveryResponse } from './discovery.js';
export type { AuthorizationServerMetadata, DiscoveryOptions } from './discovery.js';

export { createAuthorizedFetch, isInvalidTokenChallenge, TXN_TOKEN_HEADER } from './authorized-fetch.js';
export type { AuthorizedFetchOptions } from './authorized-fetch.js';
export { defaultRetryPolicy, parseRetryAfter } from './retry.js';
export type { RetryPolicy } from './retry.js';
export { defaultRefreshPolicy } from './cache.js';
export type { RefreshPolicy } from './cache.js';
export type { Clock, FetchLike, Sleep } from './runtime.js';

export {
  AbortError,
  ConfigurationError,
  DiscoveryError,
  HttpStatusError,
  IssuerMismatchError,
  NetworkError,
  OAuthError,
  ResponseFormatError,
  TimeoutError,
  TokenClientError,
} from './errors.js';
export type { TokenClientErrorCode } from './errors.js';
export { discoverProtectedResource, protectedResourceMetadataUrl, tokenClientForResource } from './resource.js';
export type { ProtectedResourceMetadata, ResourceClient, ResourceClientOptions } from './resource.js';
