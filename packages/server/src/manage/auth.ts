/**
 * The management API is protected by Tessera's own access tokens (SPEC §5): issued
 * by the admin tenant for `urn:tessera:management` with `manage:read` and/or
 * `manage:write`. Failures answer as RFC 6750 §3 describes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CONSOLE_SUBJECT_PREFIX, type ConsoleAccess } from '../domain/console-users.js';
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
  /** The tenants the caller may act on; null: every tenant (admin clients, console users for every tenant). */
  tenants: readonly string[] | null;
}

/**
 * Where a route acts: `tenant` (its `:tenant` parameter; the caller must be allowed that
 * tenant), `tenant-list` (the list of tenants, which the route filters to the caller's),
 * or `global` (outside any tenant: creating tenants, console users), for callers allowed
 * every tenant only. A route without a `:tenant` parameter is `global` unless it says so.
 */
export type Reach = 'tenant' | 'tenant-list' | 'global';

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
  /** The console's own client id (its tokens are console sessions); null before bootstrap. */
  consoleClientId(): Promise<string | null>;
  /** The current role and tenants of a console user; null when the user no longer exists. */
  consoleAccess(username: string): Promise<ConsoleAccess | null>;
}

export function managementAuth(deps: ManagementAuthDependencies) {
  return async function requireScope(request: FastifyRequest, reply: FastifyReply, needed: string, reach: Reach = 'tenant'): Promise<ManagementCaller | null> {
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
    // A console session acts with its user's role and tenants as they are now, not as
    // they were at sign-in: a user deleted, narrowed or given a new password loses the
    // power at once.
    let tenants: readonly string[] | null = null;
    const consoleClientId = await deps.consoleClientId();
    if (consoleClientId !== null && found.claims.client_id === consoleClientId) {
      const username = found.claims.sub.startsWith(CONSOLE_SUBJECT_PREFIX) ? found.claims.sub.slice(CONSOLE_SUBJECT_PREFIX.length) : null;
      const access = username === null ? null : await deps.consoleAccess(username);
      if (access === null || found.claims.iat < Math.floor(access.sessionsFrom / 1000)) {
        await challenge(reply, 401, 'invalid_token', 'the console user of this session no longer exists or has a new password; sign in again');
        return null;
      }
      if (access.role !== 'admin') scopes.delete(MANAGE_WRITE);
      tenants = access.tenants;
    }
    // manage:write implies manage:read.
    const allowed = scopes.has(needed) || (needed === MANAGE_READ && scopes.has(MANAGE_WRITE));
    if (!allowed) {
      await challenge(reply, 403, 'insufficient_scope', `this operation needs the ${needed} scope`, needed);
      return null;
    }
    const target = (request.params as { tenant?: unknown } | undefined)?.tenant;
    const effectiveReach = reach === 'tenant' && typeof target !== 'string' ? 'global' : reach;
    if (tenants !== null && (effectiveReach === 'global' || (effectiveReach === 'tenant' && !tenants.includes(String(target))))) {
      const message =
        effectiveReach === 'global'
          ? 'this console user is limited to some tenants; this operation is for console users of every tenant'
          : `this console user may not act on tenant ${JSON.stringify(target)}`;
      await reply.code(403).send({ error: 'forbidden', message });
      return null;
    }
    const caller = { clientId: found.claims.client_id, actor: found.claims.sub, scopes, tenants };
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
