/**
 * `createTokenClient`: the caching facade over the request/process pairs. Discovery runs
 * once, tokens are cached per audience+scope+resource, refreshed ahead of expiry, fetched
 * once per key however many callers wait, and retried with backoff.
 */
import { decodeJwt } from 'jose';
import type { ClientAuth } from './auth/types.js';
import { fetchWithToken, type AuthorizedFetchOptions } from './authorized-fetch.js';
import { TokenCache, defaultRefreshPolicy, type RefreshPolicy } from './cache.js';
import { discover, type AuthorizationServerMetadata } from './discovery.js';
import { createDpopProver, type DpopKeyInput } from './dpop.js';
import { AbortError, ConfigurationError } from './errors.js';
import { defaultFetchFor } from './http.js';
import { defaultRetryPolicy, withRetry, type RetryPolicy, type RetryRuntime } from './retry.js';
import { realSleep, systemClock, type Clock, type FetchLike, type Sleep } from './runtime.js';
import { processTokenExchangeResponse, tokenExchangeRequest, TokenTypes, type TokenExchangeParameters } from './token-exchange.js';
import {
  clientCredentialsGrantRequest,
  normalizeScope,
  processTokenResponse,
  type TokenEndpointContext,
  type TokenEndpointResponse,
} from './token-request.js';

export interface TokenClientOptions {
  /** Issuer identifier, e.g. `https://auth.example.com/t/default`. Compared exactly with the metadata's `issuer`. */
  issuer: string;
  clientId: string;
  /** `clientSecretBasic(secret)`, `clientSecretPost(secret)`, `privateKeyJwt(key)` or `tlsClientAuth({ cert, key })`. */
  auth: ClientAuth;
  /** Skips discovery and posts here. */
  tokenEndpoint?: string;
  /** Custom fetch for the issuer and for `client.fetch`. Default: global fetch (undici's for mTLS). */
  fetch?: FetchLike;
  /** Partial override of the retry policy (attempts, backoff, timeouts). */
  retry?: Partial<RetryPolicy>;
  /** Partial override of when cached tokens are refreshed. */
  refresh?: Partial<RefreshPolicy>;
  /** Lifetime assumed when a response has neither `expires_in` nor a JWT `exp`. Default 300 s. */
  defaultLifetimeSeconds?: number;
  /** Extra headers on every request to the issuer (e.g. `user-agent`). */
  headers?: Record<string, string>;
  /**
   * RFC 9449 DPoP: a private key (or Web Crypto key pair) that every token gets bound to;
   * each token request and each `fetch` then carries a proof, with nonce retries.
   */
  dpop?: DpopKeyInput;
  /** Called when a background refresh fails; the still-valid cached token keeps being served. */
  onRefreshError?: (error: unknown) => void;
  /** For tests: time source (epoch ms). */
  clock?: Clock;
  /** For tests: how backoff waits. */
  sleep?: Sleep;
  /** For tests: randomness in [0, 1) for jitter. */
  random?: () => number;
}

export interface TokenRequestOptions {
  /** The API to call, sent as `audience`. */
  audience?: string;
  /** Scopes to request (string or list); the cache key uses them sorted. */
  scope?: string | string[];
  /** RFC 8707 resource indicator(s), sent as `resource`. */
  resource?: string | string[];
  /** Skip the cache (callers in flight still share one request). */
  forceRefresh?: boolean;
  signal?: AbortSignal;
}

export interface AccessToken {
  accessToken: string;
  /** `Bearer` (normalised), or `N_A` for non-access tokens from token exchange. */
  tokenType: string;
  /** Epoch milliseconds. From `expires_in`, else the JWT's `exp`, else the default lifetime. */
  expiresAt: number;
  /** Granted scope: the response's `scope`, else what was requested (RFC 6749 §5.1). */
  scope: string | undefined;
  /** RFC 8693 only: what kind of token this is. */
  issuedTokenType?: string;
  /** The validated response body, unknown members included. */
  response: TokenEndpointResponse;
}

export interface ExchangeTokenOptions extends TokenExchangeParameters {
  signal?: AbortSignal;
}

export interface TransactionTokenOptions {
  /** The access token the request came in with (or a transaction token, to replace it). */
  subjectToken: string;
  /** Default access_token; `TokenTypes.txnToken` to replace a transaction token with a narrower one. */
  subjectTokenType?: string;
  /** The trust domain (the token's `aud`). */
  trustDomain: string;
  scope?: string | string[];
  /** Becomes the token's `rctx` (who asked, from where). */
  requestContext?: Record<string, unknown>;
  /** Becomes the token's `tctx` (what the transaction is about). */
  requestDetails?: Record<string, unknown>;
  signal?: AbortSignal;
}

export interface TokenClient {
  readonly issuer: string;
  readonly clientId: string;
  /** A cached or fresh client-credentials token. */
  getToken(options?: TokenRequestOptions): Promise<AccessToken>;
  /** `getToken(options)` → just the access token string. */
  getAccessToken(options?: TokenRequestOptions): Promise<string>;
  /** RFC 8693 token exchange; never cached (see README). */
  exchangeToken(options: ExchangeTokenOptions): Promise<AccessToken>;
  /**
   * A transaction token (draft-ietf-oauth-transaction-tokens) for the trust domain, in
   * exchange for `subjectToken`; forward it with `fetch(url, init, { txnToken })`.
   */
  getTransactionToken(options: TransactionTokenOptions): Promise<AccessToken>;
  /** `fetch` with `Authorization: Bearer`; on a 401 `invalid_token` refreshes and retries once. */
  fetch(input: string | URL | Request, init?: RequestInit, options?: AuthorizedFetchOptions): Promise<Response>;
  /** Drops the cached token for these options (only if it is still `accessToken`, when given). */
  invalidate(options?: TokenRequestOptions, accessToken?: string): void;
  /** The issuer's metadata (fetched once). */
  metadata(): Promise<AuthorizationServerMetadata>;
  /** The URL token requests go to. */
  tokenEndpoint(): Promise<string>;
  /** Releases connection pools owned by the auth strategy (mTLS). */
  close(): Promise<void>;
}

/** The cache key of a token request: audience, normalised scope, sorted resources, and the DPoP key's thumbprint. */
export function tokenCacheKey(options: TokenRequestOptions, dpopJkt?: string): string {
  const resource = options.resource === undefined ? [] : [options.resource].flat().sort();
  return JSON.stringify([options.audience ?? null, normalizeScope(options.scope) ?? null, resource, dpopJkt ?? null]);
}

function jwtExpiry(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined; // opaque token
  }
}

function toAccessToken(
  response: TokenEndpointResponse,
  receivedAt: number,
  requestedScope: string | undefined,
  defaultLifetimeMs: number,
): AccessToken {
  const expiresAt =
    response.expires_in !== undefined
      ? receivedAt + response.expires_in * 1000
      : (jwtExpiry(response.access_token) ?? receivedAt + defaultLifetimeMs);
  const token: AccessToken = {
    accessToken: response.access_token,
    tokenType: response.token_type,
    expiresAt,
    scope: response.scope ?? requestedScope,
    response,
  };
  if (response.issued_token_type !== undefined) token.issuedTokenType = response.issued_token_type;
  return Object.freeze(token);
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortError('the operation was aborted', { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortError('the operation was aborted', { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function validateOptions(options: TokenClientOptions): void {
  if (typeof options.issuer !== 'string' || !URL.canParse(options.issuer)) {
    throw new ConfigurationError('issuer must be an absolute URL');
  }
  if (typeof options.clientId !== 'string' || options.clientId.length === 0) {
    throw new ConfigurationError('clientId must be a non-empty string');
  }
  if (!options.auth || typeof options.auth.apply !== 'function') {
    throw new ConfigurationError('auth must be a strategy such as clientSecretBasic(secret)');
  }
  if (options.tokenEndpoint !== undefined && !URL.canParse(options.tokenEndpoint)) {
    throw new ConfigurationError('tokenEndpoint must be an absolute URL');
  }
}

export function createTokenClient(options: TokenClientOptions): TokenClient {
  validateOptions(options);
  const { issuer, clientId, auth } = options;
  const clock = options.clock ?? systemClock;
  const runtime: RetryRuntime = { clock, sleep: options.sleep ?? realSleep, random: options.random ?? Math.random };
  const retryPolicy: RetryPolicy = { ...defaultRetryPolicy, ...options.retry };
  const defaultLifetimeMs = (options.defaultLifetimeSeconds ?? 300) * 1000;
  const fetchImpl = options.fetch ?? defaultFetchFor(auth);
  const dpop = options.dpop === undefined ? undefined : createDpopProver(options.dpop, clock);
  const dpopJkt = dpop?.jkt();
  dpopJkt?.catch(() => undefined);
  const cache = new TokenCache<AccessToken>({
    clock,
    random: runtime.random,
    policy: { ...defaultRefreshPolicy, ...options.refresh },
    onBackgroundError: options.onRefreshError,
  });

  let metadataPromise: Promise<AuthorizationServerMetadata> | undefined;
  function metadata(): Promise<AuthorizationServerMetadata> {
    metadataPromise ??= withRetry(
      (signal) => discover(issuer, { fetch: fetchImpl, signal, ...(options.headers ? { headers: options.headers } : {}) }),
      retryPolicy,
      runtime,
    ).catch((error: unknown) => {
      metadataPromise = undefined; // the next call tries again
      throw error;
    });
    return metadataPromise;
  }

  async function tokenEndpoint(): Promise<string> {
    if (options.tokenEndpoint) return options.tokenEndpoint;
    const meta = await metadata();
    const alias = auth.dispatcher ? meta.mtls_endpoint_aliases?.token_endpoint : undefined;
    return alias ?? meta.token_endpoint;
  }

  async function requestToken<P>(
    parameters: P,
    request: (context: TokenEndpointContext, parameters: P) => Promise<Response>,
    process: (response: Response) => Promise<TokenEndpointResponse>,
    signal?: AbortSignal,
  ): Promise<{ response: TokenEndpointResponse; receivedAt: number }> {
    const endpoint = await tokenEndpoint();
    return withRetry(
      async (attemptSignal) => {
        const context: TokenEndpointContext = {
          issuer,
          clientId,
          auth,
          tokenEndpoint: endpoint,
          fetch: fetchImpl,
          clock,
          signal: attemptSignal,
        };
        if (options.headers) context.headers = options.headers;
        if (dpop) context.dpop = dpop;
        const response = await process(await request(context, parameters));
        return { response, receivedAt: clock.now() };
      },
      retryPolicy,
      runtime,
      signal,
    );
  }

  async function fetchClientCredentialsToken(request: TokenRequestOptions): Promise<AccessToken> {
    const scope = normalizeScope(request.scope);
    const parameters: Parameters<typeof clientCredentialsGrantRequest>[1] = {};
    if (request.audience !== undefined) parameters.audience = request.audience;
    if (scope !== undefined) parameters.scope = scope;
    if (request.resource !== undefined) parameters.resource = request.resource;
    // No caller signal: this fetch is shared by everyone waiting on the same cache key.
    const { response, receivedAt } = await requestToken(parameters, clientCredentialsGrantRequest, processTokenResponse);
    return toAccessToken(response, receivedAt, scope, defaultLifetimeMs);
  }

  const client: TokenClient = {
    issuer,
    clientId,

    getToken(request = {}) {
      const { signal, forceRefresh, ...shared } = request;
      // The fetch is shared by every caller waiting on this key, so it must not be cancelled
      // by one caller's signal; each caller stops waiting on its own signal instead.
      const token = dpopJkt === undefined
        ? cache.get(tokenCacheKey(shared), () => fetchClientCredentialsToken(shared), forceRefresh)
        : dpopJkt.then((jkt) => cache.get(tokenCacheKey(shared, jkt), () => fetchClientCredentialsToken(shared), forceRefresh));
      return signal ? abortable(token, signal) : token;
    },

    async getAccessToken(request) {
      return (await client.getToken(request)).accessToken;
    },

    async exchangeToken({ signal, ...parameters }) {
      if (typeof parameters.subjectToken !== 'string' || parameters.subjectToken.length === 0) {
        throw new ConfigurationError('exchangeToken needs a subjectToken');
      }
      const { response, receivedAt } = await requestToken(
        parameters,
        tokenExchangeRequest,
        processTokenExchangeResponse,
        signal,
      );
      return toAccessToken(response, receivedAt, normalizeScope(parameters.scope), defaultLifetimeMs);
    },

    getTransactionToken({ subjectToken, subjectTokenType, trustDomain, scope, requestContext, requestDetails, signal }) {
      const extra: Record<string, string> = {};
      if (requestContext !== undefined) extra['request_context'] = JSON.stringify(requestContext);
      if (requestDetails !== undefined) extra['request_details'] = JSON.stringify(requestDetails);
      return client.exchangeToken({
        subjectToken,
        subjectTokenType: subjectTokenType ?? TokenTypes.accessToken,
        requestedTokenType: TokenTypes.txnToken,
        audience: trustDomain,
        ...(scope !== undefined ? { scope } : {}),
        extra,
        ...(signal !== undefined ? { signal } : {}),
      });
    },

    fetch(input, init, fetchOptions = {}) {
      return fetchWithToken(
        {
          getToken: (request) => client.getToken(request),
          invalidate: (request, accessToken) => client.invalidate(request, accessToken),
          fetch: fetchOptions.fetch ?? fetchImpl,
          auth,
          ...(dpop ? { dpop } : {}),
        },
        input,
        init,
        fetchOptions,
      );
    },

    invalidate(request = {}, accessToken) {
      if (dpopJkt === undefined) cache.invalidate(tokenCacheKey(request), accessToken);
      else void dpopJkt.then((jkt) => cache.invalidate(tokenCacheKey(request, jkt), accessToken));
    },

    metadata,
    tokenEndpoint,

    async close() {
      cache.clear();
      await auth.close?.();
    },
  };
  return client;
}
