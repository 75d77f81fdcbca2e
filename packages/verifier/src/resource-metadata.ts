/**
 * RFC 9728 OAuth 2.0 Protected Resource Metadata: the document a resource serves at
 * `/.well-known/oauth-protected-resource` so that clients learn which authorization
 * server(s) issue tokens for it, which scopes it knows and how tokens are presented.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULTS } from './defaults.js';

/** RFC 9728 §3: the well-known URI suffix. */
export const PROTECTED_RESOURCE_WELL_KNOWN = '/.well-known/oauth-protected-resource';

export interface ProtectedResourceMetadataOptions {
  /** The resource identifier (RFC 8707 / RFC 9728 §2 `resource`): an https URL without a fragment. */
  resource: string;
  /** The issuer, or issuers, whose tokens the resource accepts (`authorization_servers`). */
  issuer: string | readonly string[];
  /** `scopes_supported`. */
  scopes?: readonly string[];
  /** `resource_name`, for people. */
  resourceName?: string;
  /** `dpop_signing_alg_values_supported`; default every asymmetric algorithm the verifier accepts. False: DPoP not offered. */
  dpopAlgorithms?: readonly string[] | false;
  /** `dpop_bound_access_tokens_required`. Default false. */
  dpopBoundAccessTokensRequired?: boolean;
  /** `tls_client_certificate_bound_access_tokens`. */
  tlsClientCertificateBoundAccessTokens?: boolean;
  /** `resource_documentation`. */
  documentation?: string;
}

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  bearer_methods_supported: string[];
  scopes_supported?: string[];
  resource_name?: string;
  dpop_signing_alg_values_supported?: string[];
  dpop_bound_access_tokens_required?: boolean;
  tls_client_certificate_bound_access_tokens?: boolean;
  resource_documentation?: string;
  [member: string]: unknown;
}

/** The RFC 9728 §2 metadata document of a resource. */
export function protectedResourceMetadata(options: ProtectedResourceMetadataOptions): ProtectedResourceMetadata {
  assertResource(options.resource);
  const issuers = typeof options.issuer === 'string' ? [options.issuer] : [...options.issuer];
  if (issuers.length === 0 || issuers.some((issuer) => !URL.canParse(issuer))) throw new TypeError('issuer must be an issuer URL or a list of them');
  const document: ProtectedResourceMetadata = {
    resource: options.resource,
    authorization_servers: issuers,
    // RFC 6750 §2.1 only: tokens in bodies and queries are refused by the adapters' defaults.
    bearer_methods_supported: ['header'],
  };
  if (options.scopes !== undefined) document.scopes_supported = [...options.scopes];
  if (options.resourceName !== undefined) document.resource_name = options.resourceName;
  if (options.dpopAlgorithms !== false) document.dpop_signing_alg_values_supported = [...(options.dpopAlgorithms ?? DEFAULTS.algorithms)];
  if (options.dpopBoundAccessTokensRequired !== undefined) document.dpop_bound_access_tokens_required = options.dpopBoundAccessTokensRequired;
  if (options.tlsClientCertificateBoundAccessTokens !== undefined) document.tls_client_certificate_bound_access_tokens = options.tlsClientCertificateBoundAccessTokens;
  if (options.documentation !== undefined) document.resource_documentation = options.documentation;
  return document;
}

/**
 * RFC 9728 §3.1: where the metadata of `resource` lives. The well-known suffix goes
 * between the host and the path: `https://api.example.com/orders` →
 * `https://api.example.com/.well-known/oauth-protected-resource/orders`.
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = assertResource(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}${PROTECTED_RESOURCE_WELL_KNOWN}${path}${url.search}`;
}

/** The path (and query) part of `protectedResourceMetadataUrl`: where a route must answer. */
export function protectedResourceMetadataPath(resource: string): string {
  const url = new URL(protectedResourceMetadataUrl(resource));
  return `${url.pathname}${url.search}`;
}

function assertResource(resource: string): URL {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    throw new TypeError('resource must be an absolute URL (RFC 9728 §1.2)');
  }
  if (url.hash !== '' || resource.includes('#')) throw new TypeError('resource must not have a fragment (RFC 9728 §1.2)');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('resource must be an https URL (RFC 9728 §1.2)');
  return url;
}

/**
 * A plain node:http handler for the metadata route: answers GET (and HEAD) of the
 * well-known path and returns true, or returns false for any other request.
 */
export function serveProtectedResourceMetadata(options: ProtectedResourceMetadataOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const body = JSON.stringify(protectedResourceMetadata(options));
  const path = protectedResourceMetadataPath(options.resource);
  return (req, res) => {
    const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    if ((req.method !== 'GET' && req.method !== 'HEAD') || url.split('?')[0] !== path.split('?')[0]) return false;
    res.statusCode = 200;
    res.setHeader('content-type', 'application/json');
    res.setHeader('cache-control', 'public, max-age=3600');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
