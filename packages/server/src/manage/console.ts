/**
 * The web console: static assets (packages/server/console) and the sign-in that
 * turns a console user's password into a short-lived management token.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { type ConsoleSignIn, TooManyAttempts } from '../domain/console.js';

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

export async function consoleRoutes(app: FastifyInstance, deps: { signIn: ConsoleSignIn }): Promise<void> {
  const directory = new URL('../../console/', import.meta.url);
  const assets = new Map<string, Buffer>();
  for (const name of Object.keys(ASSETS)) assets.set(name, await readFile(new URL(name, directory)));

  app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/'));
  app.get<{ Params: { asset?: string } }>('/console/:asset', { schema: { hide: true } }, async (request, reply) => {
    const name = request.params.asset || 'index.html';
    const body = assets.get(name);
    const type = ASSETS[name];
    if (body === undefined || type === undefined) return reply.code(404).send({ error: 'not_found', message: 'no such console asset' });
    return reply.headers({ ...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-cache' }).send(body);
  });

  app.post<{ Body: { username: string; password: string } }>('/console/login', {
    schema: {
      hide: true,
      body: {
        type: 'object',
        required: ['username', 'password'],
        additionalProperties: false,
        properties: { username: { type: 'string', minLength: 1, maxLength: 100 }, password: { type: 'string', minLength: 1, maxLength: 200 } },
      },
    },
  }, async (request, reply) => {
    reply.headers({ ...SECURITY_HEADERS, 'Cache-Control': 'no-store' });
    try {
      const issued = await deps.signIn.signIn(request.body.username, request.body.password, request.ip);
      if (issued === null) return reply.code(401).send({ error: 'invalid_credentials', message: 'wrong user or password' });
      return { access_token: issued.accessToken, token_type: 'Bearer', expires_in: issued.expiresIn };
    } catch (error) {
      if (error instanceof TooManyAttempts) {
        return reply.code(429).header('Retry-After', String(error.retryAfterSeconds)).send({ error: 'too_many_attempts', message: 'too many failed sign-ins; wait a minute' });
      }
      throw error;
    }
  });
}
