/**
 * The web console: the built single-page app (packages/console, built into
 * packages/server/console by `npm ci`), sign-in that turns a console user's password
 * into a short-lived management token, and sign-out that revokes it.
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { type ConsoleSignIn, SignInAbandoned, type SignInFailure, TooManyAttempts } from '../domain/console.js';
import { useLazySchemaCompilers } from './schema-compilers.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

const NOT_BUILT = '<!doctype html><title>Tessera console</title><p>The console has not been built: run <code>npm run build -w @tessera/console</code>.</p>';

/** Every built file by its path under /console/ ("index.html", "assets/app-1a2b.js"). */
async function loadAssets(directory: string): Promise<Map<string, Buffer>> {
  const assets = new Map<string, Buffer>();
  let entries: string[];
  try {
    entries = await readdir(directory, { recursive: true });
  } catch {
    return assets;
  }
  for (const entry of entries) {
    const path = entry.split('\\').join('/');
    if (TYPES[extname(path)] === undefined) continue;
    assets.set(path, await readFile(join(directory, entry)));
  }
  return assets;
}

export async function consoleRoutes(app: FastifyInstance, deps: { signIn: ConsoleSignIn; directory?: string }): Promise<void> {
  // The sign-in body's validator is compiled on the first sign-in, as the management
  // API's are: compiling it at start-up made Fastify's Ajv compile its meta-schema first,
  // the largest single cost of building an app (every test issuer builds one).
  useLazySchemaCompilers(app, []);
  // Read on the first request for the console, not at start-up: a server that nobody
  // opens the console of never reads its files (start-up stays short).
  let loaded: Promise<{ assets: Map<string, Buffer>; index: Buffer }> | undefined;
  const load = () => (loaded ??= loadAssets(deps.directory ?? fileURLToPath(new URL('../../console/', import.meta.url)))
    .then((assets) => ({ assets, index: assets.get('index.html') ?? Buffer.from(NOT_BUILT) })));

  app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/'));
  // A deep link (/console/t/default/clients/abc) gets the app, which routes in the page;
  // a missing file (anything with an extension) is 404.
  app.get<{ Params: { '*': string } }>('/console/*', { schema: { hide: true } }, async (request, reply) => {
    const path = request.params['*'];
    const { assets, index } = await load();
    const body = assets.get(path);
    if (body !== undefined) {
      const immutable = path.startsWith('assets/');
      return reply
        .headers({ ...SECURITY_HEADERS, 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream', 'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache' })
        .send(body);
    }
    if (extname(path) !== '' || path.includes('..')) return reply.code(404).send({ error: 'not_found', message: 'no such console asset' });
    return reply.headers({ ...SECURITY_HEADERS, 'Content-Type': TYPES['.html'], 'Cache-Control': 'no-cache' }).send(index);
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
    const { username } = request.body;
    const failed = (reason: SignInFailure) =>
      request.log.info({ event: 'console_sign_in_failed', user: username.slice(0, 100), source: request.ip, reason }, 'console sign-in failed');
    // A check still waiting when its client hangs up is dropped, not run for nobody.
    const abandoned = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) abandoned.abort();
    };
    reply.raw.once('close', onClose);
    try {
      const result = await deps.signIn.signIn(username, request.body.password, request.ip, abandoned.signal);
      if (!result.ok) {
        failed(result.reason);
        return reply.code(401).send({ error: 'invalid_credentials', message: 'wrong user or password' });
      }
      return { access_token: result.token.accessToken, token_type: 'Bearer', expires_in: result.token.expiresIn };
    } catch (error) {
      if (error instanceof TooManyAttempts) {
        failed(error.reason);
        return reply.code(429).header('Retry-After', String(error.retryAfterSeconds)).send({ error: 'too_many_attempts', message: error.reason === 'busy' ? 'too many sign-ins under way; try again in a second' : 'too many failed sign-ins; wait a minute' });
      }
      if (error instanceof SignInAbandoned) {
        failed('abandoned');
        return reply;
      }
      throw error;
    } finally {
      reply.raw.removeListener('close', onClose);
    }
  });

  // Sign-out revokes the console token (RFC 7009 semantics: the answer does not tell
  // whether the token was valid). Only console tokens are revoked here.
  app.post('/console/logout', { schema: { hide: true } }, async (request, reply) => {
    reply.headers({ ...SECURITY_HEADERS, 'Cache-Control': 'no-store' });
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(request.headers.authorization ?? '');
    if (match === null) return reply.code(401).send({ error: 'unauthorized', message: 'sign-out needs the console token as a Bearer token' });
    await deps.signIn.signOut(match[1] ?? '');
    return reply.code(204).send();
  });
}
