/**
 * @tessera/verifier against the references, side by side in one process:
 *
 * 1. verifications per second in one process, (a) a distinct token each call and
 *    (b) the same token repeated: Tessera's verifier vs jose `jwtVerify` with
 *    `createLocalJWKSet` (jose has no token cache, so (b) is what a cache buys),
 *    measured in alternating rounds (median of 5 x 0.5 s each);
 * 2. HTTP under autocannon (127.0.0.1, 32 connections, 10 s): a Fastify route behind the
 *    Fastify adapter with a repeated token, the same route unprotected, and Express 5
 *    with express-oauth2-jwt-bearer pointed at the same local issuer.
 *
 * The issuer is a local node:http server (discovery + JWKS) with an ES256 key; tokens
 * are RFC 9068 at+jwt signed with node:crypto so that signing is not what is measured.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import express from 'express';
import { auth } from 'express-oauth2-jwt-bearer';
import Fastify from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { createVerifier, fastifyRequireAuth } from '@tessera/verifier';
import { measureHttp, opsPerSecond, printHttpTable, ratio } from './util.js';

const AUDIENCE = 'https://orders.example/api';
const KID = 'bench-key';

interface LocalIssuer {
  issuer: string;
  jwks: JSONWebKeySet;
  privateKey: KeyObject;
  server: Server;
}

async function startIssuer(): Promise<LocalIssuer> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwks: JSONWebKeySet = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'ES256', use: 'sig' }] };
  let issuer = '';
  const server = createServer((req, res) => {
    if (req.url === '/t/default/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks.json`, id_token_signing_alg_values_supported: ['ES256'] }));
    } else if (req.url === '/t/default/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=600' });
      res.end(JSON.stringify(jwks));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/t/default`;
  return { issuer, jwks, privateKey, server };
}

function signToken(local: LocalIssuer): string {
  const now = Math.floor(Date.now() / 1000);
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: KID })).toString('base64url');
  const payload = Buffer.from(JSON.stringify({
    iss: local.issuer, sub: 'client-a', aud: AUDIENCE, exp: now + 3600, iat: now, jti: randomUUID(),
    client_id: 'client-a', scope: 'orders:read orders:write',
  })).toString('base64url');
  const input = `${header}.${payload}`;
  const signature = sign('sha256', Buffer.from(input), { key: local.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/**
 * Both functions measured in alternating short rounds, median of each: on a shared
 * machine, load that comes and goes then hits both sides alike instead of whichever
 * happened to run during it.
 */
async function sideBySide(
  a: () => unknown,
  b: () => unknown,
  rounds = 5,
  msPerRound = 500,
): Promise<[number, number]> {
  const resultsA: number[] = [];
  const resultsB: number[] = [];
  for (let round = 0; round < rounds; round++) {
    resultsA.push(await opsPerSecond(a, msPerRound));
    resultsB.push(await opsPerSecond(b, msPerRound));
  }
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)] as number;
  return [median(resultsA), median(resultsB)];
}

function verdict(label: string, value: number, target: number): string {
  return `${label}: ${value.toFixed(2)}x (target >= ${target}x) ${value >= target ? 'met' : 'NOT MET'}`;
}

export async function run(): Promise<void> {
  const local = await startIssuer();
  try {
    // ---- 1. in-process verification throughput ----
    const distinct = Array.from({ length: 80_000 }, () => signToken(local));
    const repeated = signToken(local);

    const tessera = createVerifier({ issuer: local.issuer, audience: AUDIENCE });
    await tessera.verify(repeated); // discovery + JWKS outside the measurement
    const keySet = createLocalJWKSet(local.jwks);
    const joseOptions = { issuer: local.issuer, audience: AUDIENCE, typ: 'at+jwt', algorithms: ['ES256'] };

    // Each side walks the pool on its own, so every Tessera call sees a token it has not cached.
    let nextTessera = 0;
    let nextJose = 0;
    const [tesseraDistinct, joseDistinct] = await sideBySide(
      () => tessera.verify(distinct[nextTessera++ % distinct.length] as string, { scopes: ['orders:read'] }),
      () => jwtVerify(distinct[nextJose++ % distinct.length] as string, keySet, joseOptions),
    );
    const wrapped = nextTessera > distinct.length;
    const [tesseraRepeated, joseRepeated] = await sideBySide(
      () => tessera.verify(repeated, { scopes: ['orders:read'] }),
      () => jwtVerify(repeated, keySet, joseOptions),
    );

    console.table([
      { case: '(a) distinct token each call', 'tessera ops/s': Math.round(tesseraDistinct), 'jose ops/s': Math.round(joseDistinct), ratio: ratio(tesseraDistinct, joseDistinct) },
      { case: '(b) same token repeated', 'tessera ops/s': Math.round(tesseraRepeated), 'jose ops/s': Math.round(joseRepeated), ratio: ratio(tesseraRepeated, joseRepeated) },
    ]);
    if (wrapped) console.log('note: the distinct-token pool wrapped around; (a) includes some cache hits');

    // ---- 2. HTTP ----
    const body = { orders: [{ id: 1 }] };
    const fastifyProtected = Fastify();
    fastifyProtected.get('/orders', { preHandler: fastifyRequireAuth(tessera, { scopes: ['orders:read'] }) }, async () => body);
    const fastifyProtectedUrl = await fastifyProtected.listen({ port: 0, host: '127.0.0.1' });

    const fastifyOpen = Fastify();
    fastifyOpen.get('/orders', async () => body);
    const fastifyOpenUrl = await fastifyOpen.listen({ port: 0, host: '127.0.0.1' });

    const app = express();
    app.get('/orders', auth({ issuerBaseURL: local.issuer, audience: AUDIENCE, strict: true }), (_req, res) => {
      res.json(body);
    });
    const expressServer = createServer(app);
    const expressUrl = await listen(expressServer);

    const headers = { authorization: `Bearer ${repeated}` };
    // One request each first so discovery and key fetches are not in the measurement.
    for (const url of [fastifyProtectedUrl, expressUrl]) {
      const warm = await fetch(`${url}/orders`, { headers });
      if (warm.status !== 200) throw new Error(`${url} answered ${warm.status} to a valid token`);
    }

    try {
      const rows = [];
      rows.push(await measureHttp('Fastify 5 + @tessera/verifier (repeated token)', { url: `${fastifyProtectedUrl}/orders`, headers }));
      rows.push(await measureHttp('Fastify 5, unprotected route', { url: `${fastifyOpenUrl}/orders` }));
      rows.push(await measureHttp('Express 5 + express-oauth2-jwt-bearer', { url: `${expressUrl}/orders`, headers }));
      printHttpTable(rows);
      const [guarded, open, reference] = rows.map((row) => row.requestsPerSecond) as [number, number, number];

      console.log(verdict('(a) distinct tokens vs jose jwtVerify', tesseraDistinct / joseDistinct, 1.5));
      console.log(verdict('(b) repeated token vs jose jwtVerify', tesseraRepeated / joseRepeated, 20));
      console.log(verdict('Fastify adapter vs unprotected Fastify route', guarded / open, 0.8));
      console.log(verdict('Fastify adapter vs Express 5 + express-oauth2-jwt-bearer', guarded / reference, 5));
    } finally {
      await fastifyProtected.close();
      await fastifyOpen.close();
      await closeServer(expressServer);
    }
  } finally {
    await closeServer(local.server);
  }
}
