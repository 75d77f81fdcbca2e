/**
 * Usage reports under /manage/v1/tenants/{t}/usage (docs/usage.md): tenant-scoped,
 * `manage:read` to read, `manage:write` to apply a suggestion (audited as the grant
 * change it makes).
 */
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { ValidationError } from '../domain/errors.js';
import type { UsageReports } from '../domain/usage-reports.js';
import { GrantBody } from './schemas.js';
import * as S from './usage-schemas.js';

export interface UsageRouteDependencies {
  reports: UsageReports;
  read: onRequestAsyncHookHandler;
  write: onRequestAsyncHookHandler;
  actor(request: FastifyRequest): string;
  errors: Record<number, unknown>;
  /** Longest window a report may cover: the retention of day buckets. */
  maxDays: number;
}

const DEFAULT_DAYS = 30;
const DEFAULT_THRESHOLD = 10;
const MAX_TOP_ROWS = 1000;
const MAX_UNUSED_PAGE = 200;

type TenantParams = { tenant: string };

export async function usageRoutes(app: FastifyInstance, deps: UsageRouteDependencies): Promise<void> {
  const { reports, read, write, errors } = deps;
  const security = [{ bearerAuth: [] }];
  const tags = ['usage'];
  const params = { type: 'object', properties: { tenant: { type: 'string' } }, required: ['tenant'] };
  const days = (value: string | number | undefined) => {
    const n = value === undefined ? DEFAULT_DAYS : Number(value);
    if (n > deps.maxDays) throw new ValidationError(`days must be at most ${deps.maxDays} (the retention of daily usage)`);
    return n;
  };

  app.get<{ Params: TenantParams; Querystring: S.UsageQueryString }>('/tenants/:tenant/usage', {
    onRequest: read,
    schema: { tags, security, params, querystring: S.UsageQuery, response: { 200: S.UsageSeriesBody, ...errors } },
  }, async (request) => {
    const { granularity, from, to, clientId, audience } = request.query;
    return reports.series(request.params.tenant, {
      ...(granularity !== undefined ? { granularity } : {}),
      ...(from !== undefined ? { from: Number(from) } : {}),
      ...(to !== undefined ? { to: Number(to) } : {}),
      ...(clientId !== undefined ? { clientId } : {}),
      ...(audience !== undefined ? { audience } : {}),
    });
  });

  app.get<{ Params: TenantParams; Querystring: S.TopQueryString }>('/tenants/:tenant/usage/top', {
    onRequest: read,
    schema: { tags, security, params, querystring: S.TopQuery, response: { 200: S.TopBody, ...errors } },
  }, async (request) => {
    const { by, from, to, limit, clientId } = request.query;
    return reports.top(request.params.tenant, {
      by: by ?? 'client',
      ...(clientId !== undefined ? { clientId } : {}),
      ...(from !== undefined ? { from: Number(from) } : {}),
      ...(to !== undefined ? { to: Number(to) } : {}),
      ...(limit !== undefined ? { limit: Math.min(Number(limit), MAX_TOP_ROWS) } : {}),
    });
  });

  app.get<{ Params: TenantParams; Querystring: S.UnusedQueryString }>('/tenants/:tenant/usage/unused', {
    onRequest: read,
    schema: { tags, security, params, querystring: S.UnusedQuery, response: { 200: S.UnusedBody, ...errors } },
  }, async (request) => {
    const n = days(request.query.days);
    const { limit, cursor } = request.query;
    const paged = limit !== undefined || cursor !== undefined;
    const page = await reports.unused(request.params.tenant, n, { limit: paged ? Math.min(Number(limit ?? MAX_UNUSED_PAGE), MAX_UNUSED_PAGE) : undefined, cursor: cursor ?? null });
    // Without paging, the whole report, as it always was.
    return paged ? { days: n, ...page } : { days: n, grants: page.grants };
  });

  app.post<{ Params: TenantParams & { id: string }; Body: S.Apply | undefined }>('/tenants/:tenant/usage/unused/:id/apply', {
    onRequest: write,
    // The body is optional: no body means the default window.
    preValidation: async (request) => {
      request.body ??= {};
    },
    schema: {
      tags,
      security,
      params: { type: 'object', properties: { tenant: { type: 'string' }, id: { type: 'string' } }, required: ['tenant', 'id'] },
      body: S.ApplyBody,
      response: { 200: GrantBody, 204: { type: 'null' }, ...errors },
    },
  }, async (request, reply) => {
    const grant = await reports.apply(request.params.tenant, request.params.id, days(request.body?.days), deps.actor(request));
    return grant === null ? reply.code(204).send() : grant;
  });

  app.get<{ Params: TenantParams; Querystring: { days?: string } }>('/tenants/:tenant/usage/dormant', {
    onRequest: read,
    schema: { tags, security, params, querystring: S.DaysQuery, response: { 200: S.DormantBody, ...errors } },
  }, async (request) => reports.dormant(request.params.tenant, days(request.query.days)));

  app.get<{ Params: TenantParams; Querystring: S.WasteQueryString }>('/tenants/:tenant/usage/waste', {
    onRequest: read,
    schema: { tags, security, params, querystring: S.WasteQuery, response: { 200: S.WasteBody, ...errors } },
  }, async (request) => {
    const n = days(request.query.days);
    const threshold = request.query.threshold === undefined ? DEFAULT_THRESHOLD : Number(request.query.threshold);
    return { days: n, threshold, clients: await reports.waste(request.params.tenant, n, threshold, request.query.clientId) };
  });
}
