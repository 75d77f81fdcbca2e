/**
 * The management API (SPEC §5) under /manage/v1. Routes are thin: schema, scope,
 * one call into the domain. Every change the domain makes is audited in the same
 * transaction, with the calling admin client as the actor.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { ApiService } from '../domain/apis.js';
import type { ClientService } from '../domain/clients.js';
import type { ConsoleUserService } from '../domain/console-users.js';
import { clampPageSize } from '../domain/context.js';
import { DomainError } from '../domain/errors.js';
import type { FederationService } from '../domain/federations.js';
import type { GrantService } from '../domain/grants.js';
import type { KeyService } from '../domain/keys.js';
import type { TenantService } from '../domain/tenants.js';
import type { TenantRegistry } from '../domain/tenant-context.js';
import type { TokenInspector } from '../domain/tokens.js';
import type { UsageReports } from '../domain/usage-reports.js';
import { StoreConflictError, StoreInvalidCursorError, StoreUnavailableError } from '../store/errors.js';
import type { SortOrder, Store } from '../store/types.js';
import { MANAGE_READ, MANAGE_WRITE, managementAuth, type Reach } from './auth.js';
import { consoleUserRoutes } from './console-user-routes.js';
import { useLazySchemaCompilers } from './schema-compilers.js';
import * as S from './schemas.js';
import { usageRoutes } from './usage-routes.js';

export interface ManagementDependencies {
  store: Store;
  registry: TenantRegistry;
  inspector: TokenInspector;
  tenants: TenantService;
  clients: ClientService;
  apis: ApiService;
  grants: GrantService;
  keys: KeyService;
  federations: FederationService;
  consoleUsers: ConsoleUserService;
  /** The console's own client id (domain/console.ts); null before bootstrap. */
  consoleClientId(): Promise<string | null>;
  /** Usage reports (docs/usage.md), and the longest window they cover, in days. */
  usage: { reports: UsageReports; maxDays: number };
  adminTenant: string;
  audience: string;
  trustedProxies: readonly string[];
  clientCaConfigured: boolean;
}

type P<T extends 'tenant' | 'item' | 'secret'> = T extends 'tenant'
  ? { tenant: string }
  : T extends 'item'
    ? { tenant: string; id: string }
    : { tenant: string; id: string; secretId: string };

export async function managementRoutes(app: FastifyInstance, deps: ManagementDependencies): Promise<void> {
  const requireScope = managementAuth({ ...deps, consoleAccess: (username) => deps.consoleUsers.accessOf(username) });
  // A request without a valid token is 401 before its body is looked at, so the caller
  // is authenticated on request, before the body is parsed or validated. Every hook
  // also checks that the caller may act where the route acts (manage/auth.ts, Reach).
  const authenticating = new WeakSet<onRequestAsyncHookHandler>();
  const hook = (scope: string, reach?: Reach): onRequestAsyncHookHandler => {
    const authenticate: onRequestAsyncHookHandler = async (request, reply) => {
      await requireScope(request, reply, scope, reach);
    };
    authenticating.add(authenticate);
    return authenticate;
  };
  const read = hook(MANAGE_READ);
  const write = hook(MANAGE_WRITE);
  const actor = (request: FastifyRequest) => request.caller?.actor ?? 'unknown';
  // Every route that documents a bearer token authenticates in onRequest: one that does
  // it later (preHandler) would parse and validate a stranger's body first. Checked as
  // routes are added, so such a route cannot start.
  app.addHook('onRoute', (route) => {
    if (route.schema?.security === undefined) return;
    const hooks = [route.onRequest ?? []].flat();
    if (!hooks.some((h) => authenticating.has(h as onRequestAsyncHookHandler))) {
      throw new Error(`management route ${route.method} ${route.url} must authenticate in onRequest (read, write or another hook() of this file)`);
    }
  });
  // One shared error schema, referenced by every route: compiled once, not per status and route.
  app.addSchema(S.ErrorBody);
  useLazySchemaCompilers(app, [S.ErrorBody]);
  const errorRef = { $ref: 'Error#' };
  const errors = { 400: errorRef, 401: errorRef, 403: errorRef, 404: errorRef, 409: errorRef, 422: errorRef };
  const security = [{ bearerAuth: [] }];

  app.setErrorHandler((error, request, reply) => sendManagementError(error, request, reply));
  // An id or filter with a NUL names nothing, and PostgreSQL text cannot hold one: refused
  // here (after authentication) instead of by the store as a 500.
  app.addHook('preValidation', async (request, reply) => {
    const field = fieldWithNul('path parameter', request.params) ?? fieldWithNul('query parameter', request.query);
    if (field !== null) return reply.code(400).send({ error: 'invalid_request', message: `${field} must not contain a NUL character` });
  });
  // An empty body with Content-Type: application/json (what many HTTP clients send on a
  // bodiless POST or DELETE) means "no body", not malformed JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
    return parseJson(request, body as string, done);
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found', message: 'no such management endpoint' }));

  // Tenants
  app.post<{ Body: S.CreateTenant }>('/tenants', {
    onRequest: write,
    schema: { tags: ['tenants'], security, body: S.CreateTenantBody, response: { 201: S.TenantBody, ...errors } },
  }, async (request, reply) => reply.code(201).send(await deps.tenants.create(request.body, actor(request))));
  app.get('/tenants', {
    onRequest: hook(MANAGE_READ, 'tenant-list'),
    schema: { tags: ['tenants'], security, response: { 200: S.pageOf(S.TenantBody), ...errors } },
  }, async (request) => {
    // A console user limited to some tenants sees those only.
    const allowed = request.caller?.tenants ?? null;
    const items = await deps.tenants.list();
    return { items: allowed === null ? items : items.filter((t) => allowed.includes(t.id)), nextCursor: null };
  });
  app.get<{ Params: P<'tenant'> }>('/tenants/:tenant', {
    onRequest: read,
    schema: { tags: ['tenants'], security, params: S.TenantParams, response: { 200: S.TenantBody, ...errors } },
  }, async (request) => deps.tenants.get(request.params.tenant));
  app.patch<{ Params: P<'tenant'>; Body: S.UpdateTenant }>('/tenants/:tenant', {
    onRequest: write,
    schema: { tags: ['tenants'], security, params: S.TenantParams, body: S.UpdateTenantBody, response: { 200: S.TenantBody, ...errors } },
  }, async (request) => deps.tenants.update(request.params.tenant, request.body, actor(request)));
  app.delete<{ Params: P<'tenant'> }>('/tenants/:tenant', {
    onRequest: write,
    schema: { tags: ['tenants'], security, params: S.TenantParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await deps.tenants.delete(request.params.tenant, actor(request));
    return reply.code(204).send();
  });

  // Clients and secrets
  app.post<{ Params: P<'tenant'>; Body: S.CreateClient }>('/tenants/:tenant/clients', {
    onRequest: write,
    schema: { tags: ['clients'], security, params: S.TenantParams, body: S.CreateClientBody, response: { 201: S.CreatedClientBody, ...errors } },
  }, async (request, reply) => reply.code(201).send(await deps.clients.create(request.params.tenant, request.body, actor(request))));
  app.get<{ Params: P<'tenant'>; Querystring: S.ClientListQueryString }>('/tenants/:tenant/clients', {
    onRequest: read,
    schema: { tags: ['clients'], security, params: S.TenantParams, querystring: S.ClientListQuery, response: { 200: S.pageOf(S.ClientListItemBody), ...errors } },
  }, async (request) => {
    const { dormantDays, ...rest } = request.query;
    return deps.clients.list(request.params.tenant, { ...listOf(rest), ...(dormantDays !== undefined ? { dormantDays: Number(dormantDays) } : {}) });
  });
  app.get<{ Params: P<'item'> }>('/tenants/:tenant/clients/:id', {
    onRequest: read,
    schema: { tags: ['clients'], security, params: S.ItemParams, response: { 200: S.ClientBody, ...errors } },
  }, async (request) => deps.clients.get(request.params.tenant, request.params.id));
  app.patch<{ Params: P<'item'>; Body: S.UpdateClient }>('/tenants/:tenant/clients/:id', {
    onRequest: write,
    schema: { tags: ['clients'], security, params: S.ItemParams, body: S.UpdateClientBody, response: { 200: S.ClientBody, ...errors } },
  }, async (request) => deps.clients.update(request.params.tenant, request.params.id, request.body, actor(request)));
  app.delete<{ Params: P<'item'> }>('/tenants/:tenant/clients/:id', {
    onRequest: write,
    schema: { tags: ['clients'], security, params: S.ItemParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await deps.clients.delete(request.params.tenant, request.params.id, actor(request));
    return reply.code(204).send();
  });
  app.post<{ Params: P<'item'>; Body: S.CreateSecret | undefined }>('/tenants/:tenant/clients/:id/secrets', {
    onRequest: write,
    // The body is optional: no body means a generated secret.
    preValidation: async (request) => {
      request.body ??= {};
    },
    schema: { tags: ['clients'], security, params: S.ItemParams, body: S.CreateSecretBody, response: { 201: S.CreatedSecretBody, ...errors } },
  }, async (request, reply) => reply.code(201).send(await deps.clients.addSecret(request.params.tenant, request.params.id, actor(request), request.body?.clientSecret)));
  app.delete<{ Params: P<'secret'> }>('/tenants/:tenant/clients/:id/secrets/:secretId', {
    onRequest: write,
    schema: { tags: ['clients'], security, params: S.SecretParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await deps.clients.deleteSecret(request.params.tenant, request.params.id, request.params.secretId, actor(request));
    return reply.code(204).send();
  });

  // APIs
  app.post<{ Params: P<'tenant'>; Body: S.CreateApi }>('/tenants/:tenant/apis', {
    onRequest: write,
    schema: { tags: ['apis'], security, params: S.TenantParams, body: S.CreateApiBody, response: { 201: S.ApiBody, ...errors } },
  }, async (request, reply) => reply.code(201).send(await deps.apis.create(request.params.tenant, request.body, actor(request))));
  app.get<{ Params: P<'tenant'>; Querystring: S.ApiListQueryString }>('/tenants/:tenant/apis', {
    onRequest: read,
    schema: { tags: ['apis'], security, params: S.TenantParams, querystring: S.ApiListQuery, response: { 200: S.pageOf(S.ApiBody), ...errors } },
  }, async (request) => deps.apis.list(request.params.tenant, listOf(request.query)));
  app.get<{ Params: P<'item'> }>('/tenants/:tenant/apis/:id', {
    onRequest: read,
    schema: { tags: ['apis'], security, params: S.ItemParams, response: { 200: S.ApiBody, ...errors } },
  }, async (request) => deps.apis.get(request.params.tenant, request.params.id));
  app.patch<{ Params: P<'item'>; Body: S.UpdateApi }>('/tenants/:tenant/apis/:id', {
    onRequest: write,
    schema: { tags: ['apis'], security, params: S.ItemParams, body: S.UpdateApiBody, response: { 200: S.ApiBody, ...errors } },
  }, async (request) => deps.apis.update(request.params.tenant, request.params.id, request.body, actor(request)));
  app.delete<{ Params: P<'item'> }>('/tenants/:tenant/apis/:id', {
    onRequest: write,
    schema: { tags: ['apis'], security, params: S.ItemParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await deps.apis.delete(request.params.tenant, request.params.id, actor(request));
    return reply.code(204).send();
  });

  // Grants
  app.post<{ Params: P<'tenant'>; Body: S.CreateGrant }>('/tenants/:tenant/grants', {
    onRequest: write,
    schema: { tags: ['grants'], security, params: S.TenantParams, body: S.CreateGrantBody, response: { 201: S.GrantBody, ...errors } },
  }, async (request, reply) => reply.code(201).send(await deps.grants.create(request.params.tenant, request.body, actor(request))));
  app.get<{ Params: P<'tenant'>; Querystring: S.GrantQueryString }>('/tenants/:tenant/grants', {
    onRequest: read,
    schema: { tags: ['grants'], security, params: S.TenantParams, querystring: S.GrantQuery, response: { 200: S.pageOf(S.GrantBody), ...errors } },
  }, async (request) => {
    const { clientId, audience, ...list } = request.query;
    return deps.grants.list(request.params.tenant, { ...(clientId !== undefined ? { clientId } : {}), ...(audience !== undefined ? { audience } : {}) }, listOf(list));
  });
  app.get<{ Params: P<'item'> }>('/tenants/:tenant/grants/:id', {
    onRequest: read,
    schema: { tags: ['grants'], security, params: S.ItemParams, response: { 200: S.GrantBody, ...errors } },
  }, async (request) => deps.grants.get(request.params.tenant, request.params.id));
  app.patch<{ Params: P<'item'>; Body: S.UpdateGrant }>('/tenants/:tenant/grants/:id', {
    onRequest: write,
    schema: { tags: ['grants'], security, params: S.ItemParams, body: S.UpdateGrantBody, response: { 200: S.GrantBody, ...errors } },
  }, async (request) => deps.grants.update(request.params.tenant, request.params.id, request.body, actor(request)));
  app.delete<{ Params: P<'item'> }>('/tenants/:tenant/grants/:id', {
    onRequest: write,
    schema: { tags: ['grants'], security, params: S.ItemParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await deps.grants.delete(request.params.tenant, request.params.id, actor(request));
    return reply.code(204).send();
  });

  // Signing keys
  app.get<{ Params: P<'tenant'> }>('/tenants/:tenant/keys', {
    onRequest: read,
    schema: { tags: ['keys'], security, params: S.TenantParams, response: { 200: Object.assign(S.pageOf(S.KeyBody)), ...errors } },
  }, async (request) => {
    await deps.tenants.require(request.params.tenant);
    return { items: await deps.keys.list(request.params.tenant), nextCursor: null };
  });
  app.post<{ Params: P<'tenant'>; Body: S.RotateKeys | undefined }>('/tenants/:tenant/keys/rotate', {
    onRequest: write,
    // The body is optional: no body means an ordinary rotation.
    preValidation: async (request) => {
      request.body ??= {};
    },
    schema: { tags: ['keys'], security, params: S.TenantParams, body: S.RotateKeysBody, response: { 200: S.pageOf(S.KeyBody), ...errors } },
  }, async (request) => {
    const tenant = await deps.tenants.require(request.params.tenant);
    const items = await deps.keys.rotate(tenant.id, { emergency: request.body?.emergency ?? false, actor: actor(request) });
    return { items, nextCursor: null };
  });

  // Federations (workload identity, RFC 7523 §2.1)
  app.post<{ Params: P<'tenant'>; Body: S.CreateFederation }>('/tenants/:tenant/federations', {
    onRequest: write,
    schema: { tags: ['federations'], security, params: S.TenantParams, body: S.CreateFederationBody, response: { 201: S.FederationBody, ...errors } },
  }, async (request, reply) => reply.code(201).send(await deps.federations.create(request.params.tenant, request.body, actor(request))));
  app.get<{ Params: P<'tenant'> }>('/tenants/:tenant/federations', {
    onRequest: read,
    schema: { tags: ['federations'], security, params: S.TenantParams, response: { 200: S.pageOf(S.FederationBody), ...errors } },
  }, async (request) => ({ items: await deps.federations.list(request.params.tenant), nextCursor: null }));
  app.get<{ Params: P<'item'> }>('/tenants/:tenant/federations/:id', {
    onRequest: read,
    schema: { tags: ['federations'], security, params: S.ItemParams, response: { 200: S.FederationBody, ...errors } },
  }, async (request) => deps.federations.get(request.params.tenant, request.params.id));
  app.patch<{ Params: P<'item'>; Body: S.UpdateFederation }>('/tenants/:tenant/federations/:id', {
    onRequest: write,
    schema: { tags: ['federations'], security, params: S.ItemParams, body: S.UpdateFederationBody, response: { 200: S.FederationBody, ...errors } },
  }, async (request) => deps.federations.update(request.params.tenant, request.params.id, request.body, actor(request)));
  app.delete<{ Params: P<'item'> }>('/tenants/:tenant/federations/:id', {
    onRequest: write,
    schema: { tags: ['federations'], security, params: S.ItemParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await deps.federations.delete(request.params.tenant, request.params.id, actor(request));
    return reply.code(204).send();
  });

  // Audit
  app.get<{ Params: P<'tenant'>; Querystring: S.AuditQueryString }>('/tenants/:tenant/audit', {
    onRequest: read,
    schema: { tags: ['audit'], security, params: S.TenantParams, querystring: S.AuditQuery, response: { 200: S.pageOf(S.AuditBody), ...errors } },
  }, async (request) => {
    await deps.tenants.require(request.params.tenant);
    const { limit, since, until, ...filters } = request.query;
    return deps.store.listAudit(request.params.tenant, {
      ...filters,
      ...(since !== undefined ? { since: Number(since) } : {}),
      ...(until !== undefined ? { until: Number(until) } : {}),
      limit: clampPageSize(limit === undefined ? undefined : Number(limit)),
    });
  });

  await consoleUserRoutes(app, { users: deps.consoleUsers, read, write, self: hook(MANAGE_READ, 'tenant-list'), actor, errors });
  await usageRoutes(app, { reports: deps.usage.reports, maxDays: deps.usage.maxDays, read, write, actor, errors });
}

/** A list request's paging, search and sort from its (validated, textual) query. */
function listOf<S extends string>(query: { limit?: string; cursor?: string; q?: string; sort?: S; order?: SortOrder }): {
  limit?: number;
  cursor?: string;
  q?: string;
  sort?: S;
  order?: SortOrder;
} {
  const { limit, ...rest } = query;
  return { ...rest, ...(limit !== undefined ? { limit: Number(limit) } : {}) };
}

interface ValidationIssue {
  keyword: string;
  schemaPath: string;
}

const RULE_KEYWORDS = new Set(['pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'const', 'enum', 'format']);

/**
 * Well-formed JSON that breaks a rule (a name too long, a pattern, a range, a value not
 * among those allowed) is 422, like the domain's own rules; a malformed request (a
 * wrong type, a missing or unknown field) is 400. A type mismatch inside a union
 * (`{"accessTokenLifetime": 59}` is neither a valid integer nor null) does not make
 * the request malformed when another branch broke a rule.
 */
function breaksARule(issues: ValidationIssue[]): boolean {
  const malformed = issues.some(
    (i) => i.keyword === 'required' || i.keyword === 'additionalProperties' || (i.keyword === 'type' && !i.schemaPath.includes('/anyOf/')),
  );
  return !malformed && issues.some((i) => RULE_KEYWORDS.has(i.keyword));
}

function sendManagementError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof DomainError) return reply.code(error.status).send({ error: error.code, message: error.message });
  if (error instanceof StoreConflictError) return reply.code(409).send({ error: 'conflict', message: error.message });
  if (error instanceof StoreInvalidCursorError) return reply.code(400).send({ error: 'invalid_request', message: 'invalid paging cursor' });
  if (error instanceof StoreUnavailableError) {
    request.log.warn({ err: error }, 'store unavailable');
    return reply.code(503).header('Retry-After', '1').send({ error: 'temporarily_unavailable', message: 'the store cannot be reached; retry shortly' });
  }
  const fastifyError = error as { statusCode?: number; code?: string; message?: string; validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(fastifyError.validation)) {
    const ruleBroken = fastifyError.validationContext === 'body' && breaksARule(fastifyError.validation);
    return reply
      .code(ruleBroken ? 422 : 400)
      .send({ error: ruleBroken ? 'validation_failed' : 'invalid_request', message: fastifyError.message ?? 'invalid request' });
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return reply.code(fastifyError.statusCode).send({ error: 'invalid_request', message: fastifyError.message ?? 'invalid request' });
  }
  request.log.error({ err: error }, 'unexpected error in the management API');
  return reply.code(500).send({ error: 'server_error', message: 'unexpected error; see the server log' });
}

/** The first field of a request's params or query whose value holds a NUL, named for the error; null when none does. */
function fieldWithNul(where: string, values: unknown): string | null {
  if (typeof values !== 'object' || values === null) return null;
  for (const [name, value] of Object.entries(values)) {
    if ([value].flat().some((v) => typeof v === 'string' && v.includes('\u0000'))) return `${where} ${name}`;
  }
  return null;
}
