/**
 * The floor's Fastify app (bench/servers/floor.ts listens with it; bench/token-cost.ts
 * injects into it): a route that parses the form, checks Basic credentials
 * (timing-safe), builds RFC 9068 claims with a fresh jti and iat, and signs one ES256
 * JWT with `crypto.sign` and a prepared KeyObject. No store, no tenants, no grants:
 * what no real authorization server can undercut.
 */
import { createHash, generateKeyPairSync, randomUUID, sign, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { RESOURCE, SCOPE } from './common.js';

export interface FloorApp {
  app: FastifyInstance;
  /** The issuer the claims name (the listening URL, once known). */
  setIssuer(issuer: string): void;
}

export function buildFloorApp(clientId: string, clientSecret: string): FloorApp {
  const expected = createHash('sha256').update(`${clientId}:${clientSecret}`).digest();
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingKey = { key: privateKey, dsaEncoding: 'ieee-p1363' as const };
  const header = Buffer.from(JSON.stringify({ typ: 'at+jwt', alg: 'ES256', kid: 'floor' })).toString('base64url');

  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, new URLSearchParams(body as string));
  });

  let issuer = 'http://127.0.0.1';
  app.post('/token', async (request, reply) => {
    const authorization = request.headers.authorization ?? '';
    const presented = createHash('sha256').update(Buffer.from(authorization.slice(6), 'base64').toString('utf8')).digest();
    if (!authorization.startsWith('Basic ') || !timingSafeEqual(presented, expected)) return reply.code(401).send({ error: 'invalid_client' });
    const form = request.body as URLSearchParams;
    if (form.get('grant_type') !== 'client_credentials') return reply.code(400).send({ error: 'unsupported_grant_type' });
    if (form.get('resource') !== RESOURCE || form.get('scope') !== SCOPE) return reply.code(400).send({ error: 'invalid_target' });
    const iat = Math.floor(Date.now() / 1000);
    const claims = { iss: issuer, sub: clientId, aud: RESOURCE, exp: iat + 3600, iat, jti: randomUUID(), client_id: clientId, scope: SCOPE };
    const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const token = `${input}.${sign('sha256', Buffer.from(input), signingKey).toString('base64url')}`;
    return reply
      .headers({ 'Cache-Control': 'no-store', Pragma: 'no-cache' })
      .send({ access_token: token, token_type: 'Bearer', expires_in: 3600, scope: SCOPE });
  });
  return { app, setIssuer: (value) => (issuer = value) };
}
