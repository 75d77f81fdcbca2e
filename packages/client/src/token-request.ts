/**
 * The token endpoint as request/process pairs (oauth4webapi style): `…Request()` sends one
 * HTTP request and returns the `Response`; `process…Response()` validates it and returns the
 * RFC 6749 §5.1 body or throws a typed error. No caching, no retries: `createTokenClient`
 * adds those. Use these directly when you need full control.
 */
import type { ClientAuth } from './auth/types.js';
import { isUseDpopNonce, type DpopProver } from './dpop.js';
import { HttpStatusError, OAuthError, ResponseFormatError } from './errors.js';
import { defaultFetchFor, isObject, parseJson, readBody, send, withDispatcher } from './http.js';
import { systemClock, type Clock, type FetchLike } from './runtime.js';

export interface TokenEndpointContext {
  /** The issuer identifier (the `aud` of private_key_jwt assertions). */
  issuer: string;
  /** Where to POST (for mTLS, the `mtls_endpoint_aliases.token_endpoint` if there is one). */
  tokenEndpoint: string;
  clientId: string;
  auth: ClientAuth;
  fetch?: FetchLike;
  clock?: Clock;
  signal?: AbortSignal;
  /** Extra request headers, e.g. `user-agent`. */
  headers?: Record<string, string>;
  /** RFC 9449: send a DPoP proof, so the token is bound to this key. */
  dpop?: DpopProver;
}

/** An RFC 6749 §5.1 success body after validation. Unknown members are kept. */
export interface TokenEndpointResponse {
  access_token: string;
  /** Normalised: `Bearer` whatever case the server used; `N_A` for token exchange (RFC 8693). */
  token_type: string;
  expires_in?: number;
  scope?: string;
  refresh_token?: string;
  issued_token_type?: string;
  [member: string]: unknown;
}

export interface ClientCredentialsParameters {
  /** The target API, sent as `audience` (Auth0/Tessera style). */
  audience?: string | string[];
  /** Space-separated string or list; sent sorted and de-duplicated. */
  scope?: string | string[];
  /** RFC 8707 resource indicator(s), sent as `resource`. */
  resource?: string | string[];
  /** Any further parameters, sent as given. */
  extra?: Record<string, string>;
}

/** Splits, de-duplicates and sorts scopes, so `"b a"` and `["a","b"]` are the same request. */
export function normalizeScope(scope: string | string[] | undefined): string | undefined {
  if (scope === undefined) return undefined;
  const values = (Array.isArray(scope) ? scope : [scope]).flatMap((s) => s.split(/\s+/)).filter(Boolean);
  return values.length === 0 ? undefined : [...new Set(values)].sort().join(' ');
}

/** Appends one form parameter per value (RFC 8707 and RFC 8693 allow repeats). */
export function appendAll(body: URLSearchParams, name: string, value: string | string[] | undefined): void {
  if (value === undefined) return;
  for (const v of Array.isArray(value) ? value : [value]) body.append(name, v);
}

/**
 * POSTs a form to the token endpoint with the client's authentication applied (and a
 * DPoP proof, when the context has a key). A `use_dpop_nonce` answer is retried once
 * with the server's nonce (RFC 9449 §8), with fresh credentials and a fresh proof.
 */
export async function tokenEndpointRequest(context: TokenEndpointContext, body: URLSearchParams): Promise<Response> {
  const fetchImpl = context.fetch ?? defaultFetchFor(context.auth);
  const attempt = async (): Promise<Response> => {
    const headers = new Headers(context.headers);
    headers.set('accept', 'application/json');
    headers.set('content-type', 'application/x-www-form-urlencoded');
    await context.auth.apply(
      {
        clientId: context.clientId,
        issuer: context.issuer,
        tokenEndpoint: context.tokenEndpoint,
        clock: context.clock ?? systemClock,
      },
      headers,
      body,
    );
    if (context.dpop) headers.set('dpop', await context.dpop.proof('POST', context.tokenEndpoint));
    const init: RequestInit = { method: 'POST', headers, body: body.toString(), redirect: 'manual' };
    if (context.signal) init.signal = context.signal;
    const response = await send(fetchImpl, context.tokenEndpoint, withDispatcher(context.auth, init));
    context.dpop?.rememberNonce(context.tokenEndpoint, response);
    return response;
  };
  const response = await attempt();
  if (context.dpop === undefined || !(await isUseDpopNonce(response))) return response;
  await response.body?.cancel();
  return attempt();
}

/** RFC 6749 §4.4.2: `grant_type=client_credentials` with optional audience, scope and resource. */
export function clientCredentialsGrantRequest(
  context: TokenEndpointContext,
  parameters: ClientCredentialsParameters = {},
): Promise<Response> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  appendAll(body, 'audience', parameters.audience);
  appendAll(body, 'resource', parameters.resource);
  const scope = normalizeScope(parameters.scope);
  if (scope) body.set('scope', scope);
  for (const [name, value] of Object.entries(parameters.extra ?? {})) body.set(name, value);
  return tokenEndpointRequest(context, body);
}

interface ParseRules {
  /** Lower-case token types that are accepted. */
  tokenTypes: readonly string[];
  requireIssuedTokenType: boolean;
}

async function parseTokenResponse(response: Response, rules: ParseRules): Promise<TokenEndpointResponse> {
  const url = response.url || 'the token endpoint';
  const text = await readBody(response, url);
  const json = parseJson(text);
  const retryAfter = response.headers.get('retry-after') ?? undefined;

  if (!response.ok) {
    if (isObject(json) && typeof json.error === 'string') {
      throw new OAuthError(
        {
          error: json.error,
          error_description: typeof json.error_description === 'string' ? json.error_description : undefined,
          error_uri: typeof json.error_uri === 'string' ? json.error_uri : undefined,
        },
        { status: response.status, retryAfter },
      );
    }
    throw new HttpStatusError(`token endpoint answered HTTP ${response.status} without an OAuth error body`, {
      status: response.status,
      retryAfter,
    });
  }

  const fail = (why: string): never => {
    throw new ResponseFormatError(`invalid token response: ${why}`, response.status);
  };
  if (!isObject(json)) return fail('the body is not a JSON object');
  if (typeof json.access_token !== 'string' || json.access_token.length === 0) {
    return fail('"access_token" must be a non-empty string');
  }
  if (typeof json.token_type !== 'string') return fail('"token_type" must be a string');
  const tokenType = json.token_type.toLowerCase();
  if (!rules.tokenTypes.includes(tokenType)) {
    return fail(`unsupported "token_type" ${JSON.stringify(json.token_type)}`);
  }
  // RFC 6749 §5.1 defines expires_in as a JSON number. A string ("3600") is a server bug;
  // we reject it rather than guess, so the problem is fixed where it is.
  if (json.expires_in !== undefined) {
    if (typeof json.expires_in !== 'number' || !Number.isFinite(json.expires_in) || json.expires_in <= 0) {
      return fail('"expires_in" must be a positive JSON number of seconds');
    }
  }
  if (json.scope !== undefined && typeof json.scope !== 'string') return fail('"scope" must be a string');
  if (json.refresh_token !== undefined && typeof json.refresh_token !== 'string') {
    return fail('"refresh_token" must be a string');
  }
  if (rules.requireIssuedTokenType || json.issued_token_type !== undefined) {
    if (typeof json.issued_token_type !== 'string' || json.issued_token_type.length === 0) {
      return fail('"issued_token_type" must be a non-empty string');
    }
  }
  return {
    ...json,
    access_token: json.access_token,
    token_type: tokenType === 'bearer' ? 'Bearer' : tokenType === 'dpop' ? 'DPoP' : json.token_type,
  } as TokenEndpointResponse;
}

/**
 * Validates a token endpoint response (RFC 6749 §5.1/§5.2): on success `access_token` is a
 * string, `token_type` is Bearer (any case), `expires_in` (if present) a positive number.
 * Throws `OAuthError` for §5.2 error bodies, `HttpStatusError` for other non-2xx answers and
 * `ResponseFormatError` for malformed successes.
 */
export function processTokenResponse(response: Response): Promise<TokenEndpointResponse> {
  return parseTokenResponse(response, { tokenTypes: ['bearer', 'dpop'], requireIssuedTokenType: false });
}

/** Same as `processTokenResponse`, under the name oauth4webapi uses for this grant. */
export const processClientCredentialsResponse = processTokenResponse;

/** RFC 8693 §2.2.1: `issued_token_type` is required and `token_type` may be `N_A`. */
export function processTokenExchangeResponse(response: Response): Promise<TokenEndpointResponse> {
  return parseTokenResponse(response, { tokenTypes: ['bearer', 'dpop', 'n_a'], requireIssuedTokenType: true });
}
