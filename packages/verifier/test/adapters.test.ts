import { createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, errorResponse, extractBearerToken, fastifyAuth, fastifyRequireAuth, httpAuthenticator, InvalidRequestError, requireAuth } from '@tessera/verifier';
import type { AccessTokenClaims, AuthenticatedRequest, AuthOptions, FastifyPreHandler, Verifier } from '@tessera/verifier';
import { AUDIENCE, startIssuer } from './issuer.js';
import type { TestIssuer } from './issuer.js';

// Applications augment FastifyRequest/FastifyInstance (see the README); the tests cast
// instead, so that no global augmentation leaks into the other packages' type checks.
type WithAuth = { auth: Readonly<AccessTokenClaims> | null };
type WithRequireAuth = { requireAuth(options?: AuthOptions): FastifyPreHandler };

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** node:http rather than fetch, so a test can send the same header twice. */
function send(url: string, options: { method?: string; headers?: OutgoingHttpHeaders; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let raw = '';
      res.on('data', (chunk) => { raw += String(chunk); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw ? JSON.parse(raw) as Record<string, unknown> : {} }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

let issuer: TestIssuer;
let verifier: Verifier;
const REALM = `realm="${AUDIENCE}"`;

function ordersHandlerBody(claims: Readonly<AccessTokenClaims> | null | undefined) {
  return { sub: claims?.sub };
}

async function startExpress(v: Verifier): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(express.json());
  app.get('/orders', requireAuth(v, { scopes: ['orders:read'] }), (req, res) => {
    res.json(ordersHandlerBody((req as unknown as AuthenticatedRequest).auth));
  });
  app.post('/orders', requireAuth(v, { scopes: 'orders:write' }), (req, res) => {
    res.json(ordersHandlerBody((req as unknown as AuthenticatedRequest).auth));
  });
  app.get('/admin', requireAuth(v, { scopes: ['admin'] }), (_req, res) => { res.json({}); });
  const server = createServer(app);
  const url = await listen(server);
  return { url, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

async function startFastify(v: Verifier, style: 'preHandler' | 'plugin'): Promise<{ url: string; close: () => Promise<void> }> {
  const app: FastifyInstance = Fastify();
  // A minimal urlencoded parser, so RFC 6750 §2.2 body tokens can be tested without @fastify/formbody.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  let guard: (options: AuthOptions) => FastifyPreHandler = (options) => fastifyRequireAuth(v, options);
  if (style === 'plugin') {
    await app.register(fastifyAuth, { verifier: v });
    guard = (options) => (app as unknown as WithRequireAuth).requireAuth(options);
  }
  app.get('/orders', { preHandler: guard({ scopes: ['orders:read'] }) }, async (request) => ordersHandlerBody((request as unknown as WithAuth).auth));
  app.post('/orders', { preHandler: guard({ scopes: ['orders:write'] }) }, async (request) => ordersHandlerBody((request as unknown as WithAuth).auth));
  app.get('/admin', { preHandler: guard({ scopes: ['admin'] }) }, async () => ({}));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}

async function startHttp(v: Verifier): Promise<{ url: string; close: () => Promise<void> }> {
  const authenticate = httpAuthenticator(v);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const scopes = path === '/admin' ? ['admin'] : req.method === 'POST' ? ['orders:write'] : ['orders:read'];
    void authenticate(req, res, { scopes }).then((claims) => {
      if (claims === null) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ordersHandlerBody(claims)));
    });
  });
  const url = await listen(server);
  return { url, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

beforeAll(async () => {
  issuer = await startIssuer();
  verifier = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE });
});
afterAll(async () => {
  await issuer.close();
});

const adapters = [
  { name: 'Express 5 requireAuth', start: startExpress, parsesBody: true },
  { name: 'Fastify 5 preHandler', start: (v: Verifier) => startFastify(v, 'preHandler'), parsesBody: true },
  { name: 'Fastify 5 plugin', start: (v: Verifier) => startFastify(v, 'plugin'), parsesBody: true },
  { name: 'node:http authenticate', start: startHttp, parsesBody: false },
];

for (const adapter of adapters) {
  describe(adapter.name, () => {
    let server: { url: string; close: () => Promise<void> };
    beforeAll(async () => {
      server = await adapter.start(verifier);
    });
    afterAll(async () => {
      await server.close();
    });

    it('lets a valid token through with the claims on the request', async () => {
      const answer = await send(`${server.url}/orders`, { headers: { authorization: `Bearer ${await issuer.sign()}` } });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ sub: 'client-a' });
    });

    it('RFC 6750 §3.1: no token answers 401 with a challenge and no error code', async () => {
      const answer = await send(`${server.url}/orders`);
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe(`Bearer ${REALM}`);
      expect(answer.body).toEqual({ error: 'unauthorized', error_description: 'The request has no access token' });
    });

    it('RFC 6750 §3.1: another authentication scheme counts as no token (401, no error code)', async () => {
      const answer = await send(`${server.url}/orders`, { headers: { authorization: 'Basic Y2xpZW50OnNlY3JldA==' } });
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe(`Bearer ${REALM}`);
    });

    it('RFC 6750 §3.1: an expired token answers 401 invalid_token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = await issuer.sign(issuer.claims({ exp: now - 60, iat: now - 120 }));
      const answer = await send(`${server.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe(`Bearer ${REALM}, error="invalid_token", error_description="The access token expired"`);
      expect(answer.body).toEqual({ error: 'invalid_token', error_description: 'The access token expired' });
    });

    it('RFC 6750 §3.1: a bad signature answers 401 invalid_token', async () => {
      const token = `${(await issuer.sign()).slice(0, -4)}AAAA`;
      const answer = await send(`${server.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe(`Bearer ${REALM}, error="invalid_token", error_description="The access token signature is invalid"`);
    });

    it('RFC 6750 §3.1: missing scope answers 403 insufficient_scope with the scope attribute', async () => {
      const answer = await send(`${server.url}/admin`, { headers: { authorization: `Bearer ${await issuer.sign()}` } });
      expect(answer.status).toBe(403);
      expect(answer.headers['www-authenticate']).toBe(
        `Bearer ${REALM}, error="insufficient_scope", error_description="The access token does not have the scope this request requires", scope="admin"`,
      );
      expect(answer.body.error).toBe('insufficient_scope');
    });

    it('RFC 6750 §3.1: two Authorization headers answer 400 invalid_request', async () => {
      const token = await issuer.sign();
      const answer = await send(`${server.url}/orders`, { headers: { Authorization: [`Bearer ${token}`, `Bearer ${token}`] } });
      expect(answer.status).toBe(400);
      expect(answer.headers['www-authenticate']).toBe(`Bearer ${REALM}, error="invalid_request", error_description="The request is malformed"`);
      expect(answer.body.error).toBe('invalid_request');
    });

    it('RFC 6750 §2.1: Bearer without a b64token answers 400 invalid_request', async () => {
      for (const authorization of ['Bearer', 'Bearer a b', 'Bearer tok"en', '   ']) {
        const answer = await send(`${server.url}/orders`, { headers: { authorization } });
        expect(answer.status, authorization).toBe(400);
        expect(answer.headers['www-authenticate']).toContain('error="invalid_request"');
      }
    });

    it('RFC 6750 §2.3: a token in the query answers 400 invalid_request', async () => {
      const answer = await send(`${server.url}/orders?access_token=${await issuer.sign()}`);
      expect(answer.status).toBe(400);
    });

    if (adapter.parsesBody) {
      it('RFC 6750 §2.2: a form-body access_token is accepted', async () => {
        const answer = await send(`${server.url}/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `access_token=${await issuer.sign()}`,
        });
        expect(answer.status).toBe(200);
      });

      it('a JSON body field named access_token is not a credential', async () => {
        const answer = await send(`${server.url}/orders`, {
          method: 'POST',
          headers: { authorization: `Bearer ${await issuer.sign()}`, 'content-type': 'application/json' },
          body: JSON.stringify({ access_token: 'stored-for-later' }),
        });
        expect(answer.status).toBe(200);
      });

      it('RFC 6750 §2: a token in both the header and the body answers 400 invalid_request', async () => {
        const token = await issuer.sign();
        const answer = await send(`${server.url}/orders`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: `access_token=${token}`,
        });
        expect(answer.status).toBe(400);
        expect(answer.headers['www-authenticate']).toBe(`Bearer ${REALM}, error="invalid_request", error_description="The request is malformed"`);
      });
    }
  });
}

describe('when the issuer cannot be reached', () => {
  it('adapters answer 503 without a Bearer challenge', async () => {
    const down = createVerifier({ issuer: 'http://127.0.0.1:1/t/none', audience: AUDIENCE, timeout: 1 });
    for (const start of [startExpress, (v: Verifier) => startFastify(v, 'preHandler'), startHttp]) {
      const server = await start(down);
      try {
        const answer = await send(`${server.url}/orders`, { headers: { authorization: `Bearer ${await issuer.sign()}` } });
        expect(answer.status).toBe(503);
        expect(answer.headers['www-authenticate']).toBeUndefined();
        expect(answer.body.error).toBe('temporarily_unavailable');
      } finally {
        await server.close();
      }
    }
  });
});

describe('challenge formatting', () => {
  it('RFC 9110 §5.6.4: quotes and backslashes in the realm are escaped, control characters dropped', () => {
    const response = errorResponse(new InvalidRequestError('x'), 'my "api" \\ v1\r\n');
    expect(response.headers['www-authenticate']).toBe(
      'Bearer realm="my \\"api\\" \\\\ v1", error="invalid_request", error_description="The request is malformed"',
    );
  });

  it('the auth scheme is case-insensitive (RFC 9110 §11.1)', () => {
    expect(extractBearerToken({ headers: { authorization: 'bEaReR abc.def-_~+/=' } })).toBe('abc.def-_~+/=');
  });
});
