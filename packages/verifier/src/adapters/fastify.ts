/**
 * Fastify (tested with v5), two ways:
 *
 * - a preHandler per route: `{ preHandler: fastifyRequireAuth(verifier, { scopes: 'orders:read' }) }`;
 * - a plugin that decorates the instance:
 *   `await app.register(fastifyAuth, { verifier })`, then `{ preHandler: app.requireAuth({ scopes }) }`.
 *   The plugin also declares `request.auth` (decorateRequest) so requests keep one shape.
 *
 * The claims are at `request.auth`. Fastify is not imported; the types here are the
 * structural subset the adapter uses.
 */
import type { IncomingMessage } from 'node:http';
import type { AccessTokenClaims } from '../claims.js';
import type { Verifier } from '../verify.js';
import { authorize, challengeOptions, errorResponse, realmOf } from './bearer.js';
import type { AuthOptions } from './bearer.js';
import { protectedResourceMetadata, protectedResourceMetadataPath, type ProtectedResourceMetadataOptions } from '../resource-metadata.js';
import { authorizeTxnToken, txnTokenErrorResponse, type TxnTokenAuthOptions, type TxnTokenClaims, type TxnTokenVerifier } from '../txn-token.js';

export interface FastifyRequestLike {
  raw: IncomingMessage;
  body?: unknown;
  auth?: Readonly<AccessTokenClaims> | null;
}

export interface FastifyReplyLike {
  code(statusCode: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

export type FastifyPreHandler = (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<FastifyReplyLike | undefined>;

export function fastifyRequireAuth(verifier: Verifier, options: AuthOptions = {}): FastifyPreHandler {
  const realm = realmOf(verifier, options);
  return async (request, reply) => {
    try {
      request.auth = await authorize(verifier, request.raw, request.body, options);
      return undefined;
    } catch (error) {
      options.onError?.(error, request.raw);
      const response = errorResponse(error, realm, challengeOptions(verifier, options, request.raw));
      reply.code(response.status);
      for (const [name, value] of Object.entries(response.headers)) reply.header(name, value);
      // Returning the reply from an async hook tells Fastify the chain ends here.
      return reply.send(response.body);
    }
  };
}

export interface FastifyAuthOptions extends AuthOptions {
  verifier: Verifier;
}

interface FastifyInstanceLike {
  decorateRequest(name: string, value: unknown): unknown;
  decorate(name: string, value: unknown): unknown;
  hasRequestDecorator(name: string): boolean;
}

/** Registered with `app.register(fastifyAuth, { verifier, ...defaults })`; adds `app.requireAuth(options)`. */
export async function fastifyAuth(instance: FastifyInstanceLike, options: FastifyAuthOptions): Promise<void> {
  const { verifier, ...defaults } = options;
  if (!instance.hasRequestDecorator('auth')) instance.decorateRequest('auth', null);
  instance.decorate('requireAuth', (routeOptions: AuthOptions = {}) =>
    fastifyRequireAuth(verifier, { ...defaults, ...routeOptions }));
}
// What fastify-plugin does: no encapsulation, so the decorators reach the routes of the
// registering scope; the name shows up in Fastify's plugin tree.
Object.assign(fastifyAuth, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@tessera/verifier',
});

/** A Fastify preHandler for the `Txn-Token` header: the claims are at `request.txnToken`. */
export function fastifyRequireTxnToken(verifier: TxnTokenVerifier, options: TxnTokenAuthOptions = {}): (request: FastifyRequestLike & { txnToken?: Readonly<TxnTokenClaims> | null }, reply: FastifyReplyLike) => Promise<FastifyReplyLike | undefined> {
  return async (request, reply) => {
    try {
      request.txnToken = await authorizeTxnToken(verifier, request.raw, options);
      return undefined;
    } catch (error) {
      options.onError?.(error, request.raw);
      const response = txnTokenErrorResponse(error);
      reply.code(response.status);
      for (const [name, value] of Object.entries(response.headers)) reply.header(name, value);
      return reply.send(response.body);
    }
  };
}

interface FastifyRouteInstanceLike {
  get(path: string, handler: (request: unknown, reply: FastifyReplyLike) => Promise<unknown>): unknown;
}

/** RFC 9728: `fastifyProtectedResourceMetadata(app, { resource, issuer, scopes })` adds the metadata route. */
export function fastifyProtectedResourceMetadata(instance: FastifyRouteInstanceLike, options: ProtectedResourceMetadataOptions): void {
  const document = protectedResourceMetadata(options);
  instance.get(protectedResourceMetadataPath(options.resource).split('?')[0] ?? '/', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=3600');
    return reply.send(document);
  });
}
