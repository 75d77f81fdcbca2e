/**
 * Starting from a resource URL (RFC 9728): read the resource's protected-resource
 * metadata, check that it is about this resource (§3.3), take its authorization server,
 * check that server's own metadata (issuer identical, RFC 8414 §3.3; and, when it lists
 * `protected_resources`, that the resource is among them), then get tokens for that
 * `resource` (RFC 8707).
 */
import { ConfigurationError, DiscoveryError } from './errors.js';
import { isObject, parseJson, readBody, send } from './http.js';
import { createTokenClient, type AccessToken, type TokenClient, type TokenClientOptions, type TokenRequestOptions } from './token-client.js';

/** RFC 9728 §2 members this client uses (others are kept). */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  dpop_signing_alg_values_supported?: string[];
  dpop_bound_access_tokens_required?: boolean;
  [member: string]: unknown;
}

export interface ResourceClientOptions extends Omit<TokenClientOptions, 'issuer'> {
  /** The resource to call, e.g. `https://api.example.com/orders`. */
  resource: string;
  /** Which of the resource's authorization servers to use. Default: the first it lists. */
  issuer?: string;
}

export interface ResourceClient {
  client: TokenClient;
  issuer: string;
  resourceMetadata: ProtectedResourceMetadata;
  /** `client.getToken` with `resource` set to this resource. */
  getToken(options?: Omit<TokenRequestOptions, 'resource'>): Promise<AccessToken>;
}

/** RFC 9728 §3.1: the well-known suffix goes between host and path. */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-protected-resource${path}${url.search}`;
}

/** Fetches and validates the metadata of `resource`. */
export async function discoverProtectedResource(resource: string, options: Pick<TokenClientOptions, 'fetch' | 'headers'> & { signal?: AbortSignal } = {}): Promise<ProtectedResourceMetadata> {
  if (!URL.canParse(resource) || resource.includes('#')) throw new ConfigurationError('resource must be an absolute URL without a fragment');
  const url = protectedResourceMetadataUrl(resource);
  const headers = new Headers(options.headers);
  headers.set('accept', 'application/json');
  const init: RequestInit = { method: 'GET', headers, redirect: 'manual' };
  if (options.signal) init.signal = options.signal;
  const response = await send(options.fetch ?? ((input, requestInit) => globalThis.fetch(input, requestInit)), url, init);
  const text = await readBody(response, url);
  if (!response.ok) throw new DiscoveryError(`${url} answered HTTP ${response.status}`, { status: response.status, retryable: response.status === 429 || response.status >= 500 });
  const json = parseJson(text);
  if (!isObject(json)) throw new DiscoveryError(`${url} did not return a JSON object`);
  // RFC 9728 §3.3: the document must be about the resource we asked for.
  if (json.resource !== resource) throw new DiscoveryError(`${url}: "resource" is ${JSON.stringify(json.resource)}, not ${JSON.stringify(resource)} (RFC 9728 §3.3)`);
  const servers = json.authorization_servers;
  if (!Array.isArray(servers) || servers.length === 0 || servers.some((s) => typeof s !== 'string' || !URL.canParse(s))) {
    throw new DiscoveryError(`${url}: "authorization_servers" must list at least one issuer URL`);
  }
  return json as ProtectedResourceMetadata;
}

export async function tokenClientForResource(options: ResourceClientOptions): Promise<ResourceClient> {
  const { resource, issuer: chosen, ...clientOptions } = options;
  const resourceMetadata = await discoverProtectedResource(resource, clientOptions);
  const issuer = chosen ?? resourceMetadata.authorization_servers[0] as string;
  if (!resourceMetadata.authorization_servers.includes(issuer)) {
    throw new DiscoveryError(`${issuer} is not one of the resource's authorization servers`);
  }
  const client = createTokenClient({ ...clientOptions, issuer });
  // RFC 8414 §3.3: discovery refuses metadata whose issuer differs.
  const metadata = await client.metadata();
  const listed = metadata['protected_resources'];
  if (Array.isArray(listed) && !listed.includes(resource)) {
    throw new DiscoveryError(`the authorization server ${issuer} does not list ${resource} among its protected_resources (RFC 9728 §4)`);
  }
  return {
    client,
    issuer,
    resourceMetadata,
    getToken: (request = {}) => client.getToken({ ...request, resource }),
  };
}
