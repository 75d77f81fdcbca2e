/**
 * Authorization server metadata: OpenID Connect Discovery first, then the RFC 8414
 * path-inserted form. The document's `issuer` must equal the configured issuer exactly
 * (RFC 8414 §3.3), otherwise a server could make us send credentials elsewhere.
 */
import { DiscoveryError, IssuerMismatchError, TokenClientError } from './errors.js';
import { isObject, parseJson, readBody, send } from './http.js';
import type { FetchLike } from './runtime.js';

export interface AuthorizationServerMetadata {
  issuer: string;
  token_endpoint: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  revocation_endpoint?: string;
  grant_types_supported?: string[];
  token_endpoint_auth_methods_supported?: string[];
  /** RFC 8705 §5: endpoints to use when presenting a client certificate. */
  mtls_endpoint_aliases?: { token_endpoint?: string; [endpoint: string]: string | undefined };
  [member: string]: unknown;
}

export interface DiscoveryOptions {
  fetch?: FetchLike;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** The two well-known locations, in the order they are tried. */
export function discoveryUrls(issuer: string): [oidc: string, oauth: string] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  return [
    `${url.origin}${path}/.well-known/openid-configuration`,
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

export function discoveryRequest(url: string, options: DiscoveryOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  headers.set('accept', 'application/json');
  const init: RequestInit = { method: 'GET', headers, redirect: 'manual' };
  if (options.signal) init.signal = options.signal;
  return send(options.fetch ?? globalThis.fetch, url, init);
}

/** Validates a metadata document and checks that it belongs to `expectedIssuer`. */
export async function processDiscoveryResponse(
  expectedIssuer: string,
  response: Response,
): Promise<AuthorizationServerMetadata> {
  const url = response.url || 'the discovery endpoint';
  const text = await readBody(response, url);
  if (!response.ok) {
    throw new DiscoveryError(`${url} answered HTTP ${response.status}`, {
      status: response.status,
      retryable: response.status === 429 || response.status >= 500,
      retryAfter: response.headers.get('retry-after') ?? undefined,
    });
  }
  const json = parseJson(text);
  if (!isObject(json)) throw new DiscoveryError(`${url} did not return a JSON object`);
  if (json.issuer !== expectedIssuer) throw new IssuerMismatchError(expectedIssuer, json.issuer);
  if (typeof json.token_endpoint !== 'string' || !URL.canParse(json.token_endpoint)) {
    throw new DiscoveryError(`${url}: "token_endpoint" is missing or not a URL`);
  }
  const aliases = json.mtls_endpoint_aliases;
  if (aliases !== undefined && !isObject(aliases)) {
    throw new DiscoveryError(`${url}: "mtls_endpoint_aliases" must be an object`);
  }
  return json as AuthorizationServerMetadata;
}

/**
 * Fetches the issuer's metadata. A failure at the OpenID location falls back to RFC 8414;
 * an issuer mismatch never does. When both fail, a retryable failure wins, so that an
 * outage is retried rather than reported as "no metadata".
 */
export async function discover(issuer: string, options: DiscoveryOptions = {}): Promise<AuthorizationServerMetadata> {
  const [oidcUrl, oauthUrl] = discoveryUrls(issuer);
  let first: unknown;
  try {
    return await processDiscoveryResponse(issuer, await discoveryRequest(oidcUrl, options));
  } catch (error) {
    if (error instanceof IssuerMismatchError || options.signal?.aborted) throw error;
    first = error;
  }
  try {
    return await processDiscoveryResponse(issuer, await discoveryRequest(oauthUrl, options));
  } catch (error) {
    if (error instanceof IssuerMismatchError || options.signal?.aborted) throw error;
    if (first instanceof TokenClientError && first.retryable) throw first;
    throw error;
  }
}
