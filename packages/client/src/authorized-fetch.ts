/**
 * A fetch that carries a token. On `401` with `WWW-Authenticate: Bearer error="invalid_token"`
 * (RFC 6750 §3.1: revoked, rotated key, clock trouble) the cached token is dropped, a new
 * one fetched, and the request sent once more, if its body can be sent twice.
 *
 * A DPoP-bound token goes as `Authorization: DPoP` with a fresh proof per request
 * (RFC 9449 §7.1); a `use_dpop_nonce` answer is retried once with the server's nonce
 * (RFC 9449 §9). A transaction token, when given, travels in `Txn-Token`.
 */
import type { ClientAuth } from './auth/types.js';
import { isUseDpopNonce, type DpopProver } from './dpop.js';
import { withDispatcher } from './http.js';
import type { FetchLike } from './runtime.js';
import type { AccessToken, TokenClient, TokenRequestOptions } from './token-client.js';

export interface AuthorizedFetchOptions extends Omit<TokenRequestOptions, 'forceRefresh' | 'signal'> {
  /** The fetch used for the API call. Default: the token client's. */
  fetch?: FetchLike;
  /** A transaction token to forward in the `Txn-Token` header (draft-ietf-oauth-transaction-tokens). */
  txnToken?: string;
}

/** The request header transaction tokens travel in. */
export const TXN_TOKEN_HEADER = 'Txn-Token';

interface AuthorizedFetchDependencies {
  getToken(options: TokenRequestOptions): Promise<AccessToken>;
  invalidate(options: TokenRequestOptions, accessToken: string): void;
  fetch: FetchLike;
  /** mTLS: certificate-bound tokens (RFC 8705 §3) need the certificate on the API call too. */
  auth: ClientAuth;
  /** DPoP-bound tokens need a proof on every call. */
  dpop?: DpopProver;
}

/** True when the server says the token itself is the problem (not, say, a missing scope). */
export function isInvalidTokenChallenge(response: Response): boolean {
  if (response.status !== 401) return false;
  const challenge = response.headers.get('www-authenticate');
  return challenge !== null && /\b(bearer|dpop)\b/i.test(challenge) && /\berror\s*=\s*"?invalid_token"?/i.test(challenge);
}

/** Bodies that fetch can send again; streams (and `Request` bodies, which are streams) cannot. */
function isReplayable(input: string | URL | Request, init: RequestInit | undefined): boolean {
  if (input instanceof Request && input.body !== null) return false;
  const body = init?.body;
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

function tokenRequestOf(options: AuthorizedFetchOptions): TokenRequestOptions {
  const request: TokenRequestOptions = {};
  if (options.audience !== undefined) request.audience = options.audience;
  if (options.scope !== undefined) request.scope = options.scope;
  if (options.resource !== undefined) request.resource = options.resource;
  return request;
}

export async function fetchWithToken(
  dependencies: AuthorizedFetchDependencies,
  input: string | URL | Request,
  init: RequestInit | undefined,
  options: AuthorizedFetchOptions,
): Promise<Response> {
  const tokenRequest = tokenRequestOf(options);
  const url = input instanceof Request ? input.url : String(input);
  const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
  const { dpop } = dependencies;
  const send = async (token: AccessToken): Promise<Response> => {
    const headers = new Headers(input instanceof Request ? input.headers : undefined);
    new Headers(init?.headers).forEach((value, name) => headers.set(name, value));
    if (options.txnToken !== undefined) headers.set(TXN_TOKEN_HEADER, options.txnToken);
    if (dpop !== undefined && token.tokenType === 'DPoP') {
      headers.set('authorization', `DPoP ${token.accessToken}`);
      headers.set('dpop', await dpop.proof(method, url, token.accessToken));
    } else {
      headers.set('authorization', `Bearer ${token.accessToken}`);
    }
    const response = await dependencies.fetch(input, withDispatcher(dependencies.auth, { ...init, headers }));
    dpop?.rememberNonce(url, response);
    return response;
  };

  const token = await dependencies.getToken(tokenRequest);
  let response = await send(token);
  if (dpop !== undefined && isReplayable(input, init) && (await isUseDpopNonce(response))) {
    await response.body?.cancel();
    response = await send(token);
  }
  if (!isInvalidTokenChallenge(response) || !isReplayable(input, init)) return response;

  dependencies.invalidate(tokenRequest, token.accessToken);
  const fresh = await dependencies.getToken(tokenRequest);
  await response.body?.cancel(); // free the connection before retrying
  return send(fresh);
}

/** A fetch-compatible function bound to one API: `const api = createAuthorizedFetch(client, { audience })`. */
export function createAuthorizedFetch(
  client: TokenClient,
  options: AuthorizedFetchOptions = {},
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  return (input, init) => client.fetch(input, init, options);
}
