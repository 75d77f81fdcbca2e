/**
 * The management API is protected by Tessera's own access tokens (SPEC §5): issued
 * by the admin tenant for `urn:tessera:management` with `manage:read` and/or
 * `manage:write`. Failures answer as RFC 6750 §3 describes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TenantRegistry } from '../domain/tenant-context.js';
import type { TokenInspector } from '../domain/tokens.js';
import { certificateThumbprint, clientCertificateOf } from '../oauth/mtls.js';

export const MANAGE_READ = 'manage:read';
export const MANAGE_WRITE = 'manage:write';

export interface ManagementCaller {
  clientId: string;
  /** Who acts: the client itself, or the console user a console token was issued for. */
  actor: string;
  scopes: ReadonlySet<string>;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: ManagementCaller;
  }
}

const REALM = 'tessera-management';

export interface ManagementAuthDependencies {
  registry: TenantRegistry;
  inspector: TokenInspector;
  adminTenant: string;
  audience: string;
  trustedProxies: readonly string[];
  clientCaConfigured: boolean;
}

export function managementAuth(deps: ManagementAuthDependencies) {
  return async function requireScope(request: FastifyRequest, reply: FastifyReply, needed: string): Promise<ManagementCaller | null> {
    const header = request.headers.authorization;
    // RFC 6750 §3.1: no Bearer credentials at all (no header, or another scheme) gets a
    // challenge without an error code; a malformed Bearer header is invalid_request (400).
    if (header === undefined || !/^Bearer(\s|$)/i.test(header)) {
      await challenge(reply, 401, null, 'a bearer token from the admin tenant is required');
      return null;
    }
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
    if (match === null) {
      await challenge(reply, 400, 'invalid_request', 'the Authorization header must be Bearer followed by one token');
      return null;
    }
    const tenant = await deps.registry.get(deps.adminTenant);
    const found = tenant === null ? null : await deps.inspector.inspect(tenant, match[1] ?? '');
    if (found === null || found.claims.aud !== deps.audience) {
      await challenge(reply, 401, 'invalid_token', 'the access token is invalid, expired, revoked, or not for the management API');
      return null;
    }
    // RFC 9449 §7.1: a DPoP-bound token is no bearer token; this API takes bearer tokens only.
    if (found.claims.cnf?.jkt !== undefined) {
      await challenge(reply, 401, 'invalid_token', 'the access token is DPoP-bound; the management API accepts bearer tokens only');
      return null;
    }
    // RFC 8705 §3: a certificate-bound token is good only with its certificate.
    const bound = found.claims.cnf?.['x5t#S256'];
    if (bound !== undefined) {
      const presented = clientCertificateOf(request.raw.socket, request.headers, deps.trustedProxies, deps.clientCaConfigured);
      if (presented === null || certificateThumbprint(presented.certificate) !== bound) {
        await challenge(reply, 401, 'invalid_token', 'the access token is bound to a client certificate that this request does not present');
        return null;
      }
    }
    // The grant as it is now, not as it was when the token was issued: removing an
    // admin client's grant (or narrowing it) takes effect at once.
    const api = tenant?.apisByIdentifier.get(deps.audience);
    const entry = api === undefined || tenant == null ? null : await tenant.client(found.claims.client_id);
    const grant = entry === null || api === undefined ? undefined : tenant?.grantFor(entry, api.id);
    if (grant === undefined) {
      await challenge(reply, 401, 'invalid_token', 'the client of this access token is no longer granted the management API');
      return null;
    }
    const granted = new Set(grant.scopes);
    const scopes = new Set((found.claims.scope ?? '').split(' ').filter((s) => granted.has(s)));
    // manage:write implies manage:read.
    const allowed = scopes.has(needed) || (needed === MANAGE_READ && scopes.has(MANAGE_WRITE));
    if (!allowed) {
      await challenge(reply, 403, 'insufficient_scope', `this operation needs the ${needed} scope`, needed);
      return null;
    }
    const caller = { clientId: found.claims.client_id, actor: found.claims.sub, scopes };
    request.caller = caller;
    return caller;
  };
}

async function challenge(reply: FastifyReply, status: 400 | 401 | 403, error: string | null, message: string, scope?: string): Promise<void> {
  const parts = [`realm="${REALM}"`];
  // RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E: no quote, no backslash.
  if (error !== null) parts.push(`error="${error}"`, `error_description="${message.replace(/["\\]/g, "'")}"`);
  if (scope !== undefined) parts.push(`scope="${scope}"`);
  await reply
    .code(status)
    .header('WWW-Authenticate', `Bearer ${parts.join(', ')}`)
    .send({ error: error ?? 'unauthorized', message });
}
