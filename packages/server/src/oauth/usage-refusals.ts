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
import { PresentedCredentials } from './client-auth/presented-credentials.js';
import { Params } from './params.js';

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
  const params = new Params(request.body instanceof Map ? request.body : undefined);
  const claimed = new PresentedCredentials(request.headers.authorization, params).claimedClientId;
  const named = params.getAll('audience')[0] ?? params.getAll('resource')[0];
  const audience = named !== undefined && tenant.apisByIdentifier.has(named) ? named : '';
  if (claimed === null) {
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
