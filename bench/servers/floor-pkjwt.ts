/**
 * The floor of a private_key_jwt token endpoint (RFC 7523 §2.2) on this runtime: a
 * Fastify 5 route that parses the form, verifies the client's ES256 assertion with
 * `crypto.verify` and a prepared public KeyObject, checks its claims (iss, sub, aud,
 * exp), records its `jti` with one durable single-use insert, and signs one ES256 JWT
 * with `crypto.sign`. The insert goes to SQLite as Tessera's embedded store writes
 * it: a file in WAL mode with `synchronous = NORMAL`, one autocommitted
 * `INSERT ... ON CONFLICT DO NOTHING` per assertion into a table keyed like Tessera's
 * `single_use`. No registry, no key-set cache, no grants: what no real
 * authorization server can undercut for this method.
 *
 * The client's public key comes from the parent (BENCH_PKJWT_JWK, a JWK with `kid`),
 * which signs the assertions (audience: this server's URL).
 */
import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type JsonWebKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { announce, HOST, RESOURCE, SCOPE } from './common.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const clientId = process.env['BENCH_CLIENT_ID'] ?? 'bench-client';
const jwk = JSON.parse(process.env['BENCH_PKJWT_JWK'] ?? 'null') as (JsonWebKey & { kid: string }) | null;
if (jwk === null) throw new Error('floor-pkjwt needs BENCH_PKJWT_JWK: the client\'s public JWK');
const clientKey = { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' as const };

const dataDir = mkdtempSync(join(tmpdir(), 'floor-pkjwt-'));
const db = new Database(join(dataDir, 'state.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('create table single_use (tenant_id text not null, namespace text not null, key text not null, expires_at bigint not null, primary key (tenant_id, namespace, key))');
db.exec('create index single_use_expiry_idx on single_use (expires_at)');
const useOnce = db.prepare('insert into single_use (tenant_id, namespace, key, expires_at) values (?, ?, ?, ?) on conflict do nothing');

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { key: privateKey, dsaEncoding: 'ieee-p1363' as const };
const header = Buffer.from(JSON.stringify({ typ: 'at+jwt', alg: 'ES256', kid: 'floor' })).toString('base64url');

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
  done(null, new URLSearchParams(body as string));
});

let issuer = '';
const invalidClient = { error: 'invalid_client' };
app.post('/token', async (request, reply) => {
  const form = request.body as URLSearchParams;
  const assertion = form.get('client_assertion') ?? '';
  if (form.get('client_assertion_type') !== ASSERTION_TYPE) return reply.code(401).send(invalidClient);
  const [encodedHeader = '', encodedPayload = '', signature = ''] = assertion.split('.');
  const assertionHeader = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8')) as { alg?: string; kid?: string };
  if (assertionHeader.alg !== 'ES256' || assertionHeader.kid !== jwk.kid) return reply.code(401).send(invalidClient);
  if (!verify('sha256', Buffer.from(`${encodedHeader}.${encodedPayload}`, 'latin1'), clientKey, Buffer.from(signature, 'base64url'))) return reply.code(401).send(invalidClient);
  const claims = JSON.parse(Buffer.from(encodedPayload, 'base64url').toString('utf8')) as { iss?: string; sub?: string; aud?: string; exp?: number; jti?: string };
  const now = Math.floor(Date.now() / 1000);
  if (claims.iss !== clientId || claims.sub !== clientId || claims.aud !== issuer || typeof claims.exp !== 'number' || claims.exp <= now || typeof claims.jti !== 'string') {
    return reply.code(401).send(invalidClient);
  }
  // Single use: the unique key decides; a replay inserts nothing.
  if (useOnce.run('default', `assertion:${clientId}`, claims.jti, claims.exp * 1000).changes !== 1) return reply.code(401).send(invalidClient);
  if (form.get('grant_type') !== 'client_credentials') return reply.code(400).send({ error: 'unsupported_grant_type' });
  if (form.get('resource') !== RESOURCE || form.get('scope') !== SCOPE) return reply.code(400).send({ error: 'invalid_target' });
  const token = { iss: issuer, sub: clientId, aud: RESOURCE, exp: now + 3600, iat: now, jti: randomUUID(), client_id: clientId, scope: SCOPE };
  const input = `${header}.${Buffer.from(JSON.stringify(token)).toString('base64url')}`;
  const accessToken = `${input}.${sign('sha256', Buffer.from(input), signingKey).toString('base64url')}`;
  return reply
    .headers({ 'Cache-Control': 'no-store', Pragma: 'no-cache' })
    .send({ access_token: accessToken, token_type: 'Bearer', expires_in: 3600, scope: SCOPE });
});

await app.listen({ port: 0, host: HOST });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;
issuer = `http://${HOST}:${port}`;
announce({ type: 'ready', url: issuer }, async () => {
  await app.close();
  db.close();
  rmSync(dataDir, { recursive: true, force: true });
});
