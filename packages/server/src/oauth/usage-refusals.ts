/**
 * Counting token-endpoint refusals for usage analytics (docs/usage.md), from the
 * endpoint's error path. A refusal counts only in a tenant that exists, under a
 * client and an API only when they exist in it: whatever a caller sends, the counters
 * never grow beyond the registry (an unknown client_id counts as '').
 */
import type { FastifyRequest } from 'fastify';
import type { TenantContext } from '../domain/tenant-context.js';
import type { UsageRecording } from '../domain/usage.js';
import type { OAuthError } from './errors.js';
import type { FormBody } from './params.js';

const TOKEN_ROUTE = '/t/:tenant/token';
const tenantsOfRequests = new WeakMap<FastifyRequest, TenantContext>();

/** Remembers the tenant a request was resolved to, for its error path. */
export function rememberTenant(request: FastifyRequest, tenant: TenantContext): void {
  tenantsOfRequests.set(request, tenant);
}

export function recordRefusal(usage: UsageRecording, request: FastifyRequest, error: OAuthError): void {
  if (request.routeOptions.url !== TOKEN_ROUTE) return;
  const tenant = tenantsOfRequests.get(request);
  if (tenant === undefined) return;
  const form = request.body instanceof Map ? (request.body as FormBody) : new Map<string, string[]>();
  const claimed = claimedClientId(request.headers.authorization, form);
  const named = form.get('audience')?.[0] ?? form.get('resource')?.[0];
  const audience = named !== undefined && tenant.apisByIdentifier.has(named) ? named : '';
  if (claimed === undefined) {
    usage.refused(tenant.tenant.id, '', audience, error.error);
    return;
  }
  // The registry's cache answers (a known client is warm from the failed request, an
  // unknown one is in its bounded negative cache); a store outage counts it as ''.
  tenant.client(claimed).then(
    (entry) => usage.refused(tenant.tenant.id, entry !== null ? claimed : '', audience, error.error),
    () => usage.refused(tenant.tenant.id, '', audience, error.error),
  );
}

/** The client a refused request claimed to be: not authenticated, so only ever looked up, never trusted. */
function claimedClientId(authorization: string | undefined, form: FormBody): string | undefined {
  const basic = authorization !== undefined ? /^Basic +([A-Za-z0-9+/=_-]+) *$/i.exec(authorization) : null;
  if (basic !== null) {
    const decoded = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    try {
      return colon < 0 ? undefined : decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
    } catch {
      return undefined;
    }
  }
  const clientId = form.get('client_id')?.[0];
  if (clientId !== undefined) return clientId;
  // private_key_jwt: the assertion's sub (RFC 7523 §3 item 2), read without verifying it.
  const assertion = form.get('client_assertion')?.[0];
  const payload = assertion?.split('.')[1];
  if (payload === undefined || payload.length > 8192) return undefined;
  try {
    const sub = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}
