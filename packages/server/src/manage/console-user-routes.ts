/**
 * Console users under /manage/v1/console-users (docs/console.md). They belong to no
 * tenant, so only callers allowed every tenant reach them: `manage:read` to read,
 * `manage:write` to change (each change audited in the admin tenant).
 */
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { CONSOLE_SUBJECT_PREFIX, type ConsoleUserService } from '../domain/console-users.js';
import { MANAGE_WRITE } from './auth.js';
import * as S from './console-user-schemas.js';
import { pageOf } from './schemas.js';

export interface ConsoleUserRouteDependencies {
  users: ConsoleUserService;
  read: onRequestAsyncHookHandler;
  write: onRequestAsyncHookHandler;
  /** Authenticates any caller, whatever its tenants (for /whoami). */
  self: onRequestAsyncHookHandler;
  actor(request: FastifyRequest): string;
  errors: Record<number, unknown>;
}

type Params = { username: string };

export async function consoleUserRoutes(app: FastifyInstance, deps: ConsoleUserRouteDependencies): Promise<void> {
  const { users, read, write, errors, actor } = deps;
  const security = [{ bearerAuth: [] }];
  const tags = ['console-users'];
  const params = S.ConsoleUserParams;

  app.get('/whoami', {
    onRequest: deps.self,
    schema: { tags, security, response: { 200: S.WhoamiBody, ...errors } },
  }, async (request) => {
    const caller = request.caller;
    if (caller === undefined) throw new Error('whoami without an authenticated caller');
    const role = caller.actor.startsWith(CONSOLE_SUBJECT_PREFIX) ? (caller.scopes.has(MANAGE_WRITE) ? 'admin' : 'viewer') : undefined;
    return {
      actor: caller.actor,
      clientId: caller.clientId,
      scopes: [...caller.scopes].sort(),
      ...(caller.tenants !== null ? { tenants: [...caller.tenants] } : {}),
      ...(role !== undefined ? { role } : {}),
    };
  });

  app.post<{ Body: S.CreateConsoleUser }>('/console-users', {
    onRequest: write,
    schema: { tags, security, body: S.CreateConsoleUserBody, response: { 201: S.CreatedConsoleUserBody, ...errors } },
  }, async (request, reply) => reply.code(201).send(await users.create(request.body, actor(request))));
  app.get('/console-users', {
    onRequest: read,
    schema: { tags, security, response: { 200: pageOf(S.ConsoleUserBody), ...errors } },
  }, async () => ({ items: await users.list(), nextCursor: null }));
  app.get<{ Params: Params }>('/console-users/:username', {
    onRequest: read,
    schema: { tags, security, params, response: { 200: S.ConsoleUserBody, ...errors } },
  }, async (request) => users.get(request.params.username));
  app.patch<{ Params: Params; Body: S.UpdateConsoleUser }>('/console-users/:username', {
    onRequest: write,
    schema: { tags, security, params, body: S.UpdateConsoleUserBody, response: { 200: S.UpdatedConsoleUserBody, ...errors } },
  }, async (request) => users.update(request.params.username, request.body, actor(request)));
  app.delete<{ Params: Params }>('/console-users/:username', {
    onRequest: write,
    schema: { tags, security, params, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await users.delete(request.params.username, actor(request));
    return reply.code(204).send();
  });
}
