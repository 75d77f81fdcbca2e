/**
 * DPoP at the resource server (RFC 9449 §7): proofs made by hand with jose against the
 * verifier and against each adapter, including behind a proxy.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import express from 'express';
import Fastify from 'fastify';
import { calculateJwkThumbprint, type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, fastifyRequireAuth, httpAuthenticator, MemoryDpopReplayCache, requireAuth } from '@tessera/verifier';
import type { AuthOptions, Verifier } from '@tessera/verifier';
import { AUDIENCE, startIssuer, type TestIssuer } from './issuer.js';

interface ProofKey {
  privateKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

async function proofKey(): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

const ath = (token: string) => createHash('sha256').update(token).digest('base64url');
let counter = 0;

function proof(key: ProofKey, htu: string, token: string | null, claims: Record<string, unknown> = {}, htm = 'GET'): Promise<string> {
  return new SignJWT({ htm, htu, iat: Math.floor(Date.now() / 1000), jti: `p-${++counter}-${Math.random()}`, ...(token !== null ? { ath: ath(token) } : {}), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .sign(key.privateKey);
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

function send(url: string, headers: OutgoingHttpHeaders = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers }, (res) => {
      let raw = '';
      res.on('data', (chunk) => { raw += String(chunk); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw ? JSON.parse(raw) as Record<string, unknown> : {} }));
    });
    req.on('error', reject);
    req.end();
  });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

let issuer: TestIssuer;
let verifier: Verifier;
beforeAll(async () => {
  issuer = await startIssuer();
  verifier = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE });
});
afterAll(() => issuer.close());

async function boundToken(key: ProofKey): Promise<string> {
  return issuer.sign(issuer.claims({ cnf: { jkt: key.jkt } }));
}

const URL_ = 'https://api.example/orders';
const codeOf = (promise: Promise<unknown>) => promise.then(() => 'ok', (error: { code?: string }) => error.code);

describe('verify() with a DPoP presentation (RFC 9449 §7)', () => {
  it('RFC 9449 §7.1: accepts a bound token with a proof for this request, key and token', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    const claims = await verifier.verify(token, { dpop: { scheme: 'DPoP', proof: await proof(key, URL_, token), method: 'GET', url: `${URL_}?page=2` } });
    expect(claims.cnf).toEqual({ jkt: key.jkt });
  });

  it('a presentation without a scheme counts as DPoP (the adapters always name the scheme)', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    await expect(verifier.verify(token, { dpop: { proof: await proof(key, URL_, token), method: 'GET', url: URL_ } })).resolves.toMatchObject({ cnf: { jkt: key.jkt } });
  });

  it('the Duende CVE-2024-49755 trap: a DPoP-bound token sent as Bearer is refused, even with a valid proof', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    expect(await codeOf(verifier.verify(token))).toBe('ERR_DPOP_REQUIRED');
    expect(await codeOf(verifier.verify(token, { dpop: { scheme: 'Bearer', proof: await proof(key, URL_, token), method: 'GET', url: URL_ } }))).toBe('ERR_DPOP_REQUIRED');
  });

  it('RFC 9449 §11.1: a replayed proof is refused', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    const dpop = { scheme: 'DPoP' as const, proof: await proof(key, URL_, token), method: 'GET', url: URL_ };
    await verifier.verify(token, { dpop });
    await expect(verifier.verify(token, { dpop })).rejects.toMatchObject({ code: 'ERR_DPOP_PROOF_INVALID', reason: 'ERR_DPOP_REPLAY' });
  });

  it('RFC 9449 §4.3: a proof for another URL or method is refused', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    await expect(verifier.verify(token, { dpop: { scheme: 'DPoP', proof: await proof(key, 'https://api.example/other', token), method: 'GET', url: URL_ } })).rejects.toMatchObject({ reason: 'ERR_DPOP_HTU' });
    await expect(verifier.verify(token, { dpop: { scheme: 'DPoP', proof: await proof(key, URL_, token, {}, 'POST'), method: 'GET', url: URL_ } })).rejects.toMatchObject({ reason: 'ERR_DPOP_HTM' });
  });

  it('RFC 9449 §7.1: a token bound to another key is refused', async () => {
    const key = await proofKey();
    const other = await proofKey();
    const token = await boundToken(other);
    await expect(verifier.verify(token, { dpop: { scheme: 'DPoP', proof: await proof(key, URL_, token), method: 'GET', url: URL_ } })).rejects.toMatchObject({ code: 'ERR_DPOP_PROOF_INVALID', reason: 'ERR_DPOP_BINDING' });
  });

  it('RFC 9449 §4.3: ath must be the hash of this token', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    const otherToken = await boundToken(key);
    await expect(verifier.verify(token, { dpop: { scheme: 'DPoP', proof: await proof(key, URL_, null), method: 'GET', url: URL_ } })).rejects.toMatchObject({ reason: 'ERR_DPOP_ATH' });
    await expect(verifier.verify(token, { dpop: { scheme: 'DPoP', proof: await proof(key, URL_, otherToken), method: 'GET', url: URL_ } })).rejects.toMatchObject({ reason: 'ERR_DPOP_ATH' });
  });

  it('RFC 9449 §4.3: an old proof is refused', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    const old = await proof(key, URL_, token, { iat: Math.floor(Date.now() / 1000) - 300 });
    await expect(verifier.verify(token, { dpop: { scheme: 'DPoP', proof: old, method: 'GET', url: URL_ } })).rejects.toMatchObject({ reason: 'ERR_DPOP_IAT' });
  });

  it('RFC 9449 §7.1: the DPoP scheme with an unbound token is refused', async () => {
    const key = await proofKey();
    const token = await issuer.sign();
    expect(await codeOf(verifier.verify(token, { dpop: { scheme: 'DPoP', proof: await proof(key, URL_, token), method: 'GET', url: URL_ } }))).toBe('ERR_DPOP_UNBOUND');
  });

  it('with dpop: false every DPoP-bound token is refused', async () => {
    const strict = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, dpop: false });
    const key = await proofKey();
    const token = await boundToken(key);
    expect(await codeOf(strict.verify(token, { dpop: { scheme: 'DPoP', proof: await proof(key, URL_, token), method: 'GET', url: URL_ } }))).toBe('ERR_DPOP_REQUIRED');
  });

  it('a pluggable replay cache sees every proof', async () => {
    const seen: string[] = [];
    const custom = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, dpop: { replay: { use: async (key) => { seen.push(key); return true; } } } });
    const key = await proofKey();
    const token = await boundToken(key);
    await custom.verify(token, { dpop: { scheme: 'DPoP', proof: await proof(key, URL_, token), method: 'GET', url: URL_ } });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.startsWith(`${key.jkt}:`)).toBe(true);
  });
});

describe('MemoryDpopReplayCache', () => {
  it('is bounded; when full, proofs as old as an evicted one are refused instead of replayable', () => {
    let now = 1_000_000;
    const cache = new MemoryDpopReplayCache(2, () => now);
    expect(cache.use('a', 100, now + 60_000)).toBe(true);
    expect(cache.use('b', 101, now + 60_000)).toBe(true);
    expect(cache.use('a', 100, now + 60_000)).toBe(false);
    expect(cache.use('c', 102, now + 60_000)).toBe(true);
    expect(cache.size).toBe(2);
    // "a" was evicted: its replay is still refused (iat at or below the floor).
    expect(cache.use('a', 100, now + 60_000)).toBe(false);
    now += 61_000;
    expect(cache.use('d', 200, now + 60_000)).toBe(true);
    expect(cache.size).toBe(1);
  });
});

describe.each([
  ['Express', async (v: Verifier, options: AuthOptions) => {
    const app = express();
    app.get('/orders', requireAuth(v, options), (_req, res) => { res.json({ ok: true }); });
    return listen(createServer(app));
  }],
  ['Fastify', async (v: Verifier, options: AuthOptions) => {
    const app = Fastify();
    app.get('/orders', { preHandler: fastifyRequireAuth(v, options) }, async () => ({ ok: true }));
    return app.listen({ port: 0, host: '127.0.0.1' });
  }],
  ['node:http', async (v: Verifier, options: AuthOptions) => {
    const authenticate = httpAuthenticator(v, options);
    return listen(createServer(async (req, res) => {
      if ((await authenticate(req, res)) === null) return;
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    }));
  }],
])('%s adapter with DPoP', (_name, start) => {
  let base: string;
  let proxied: string;
  let behindGateway: string;
  beforeAll(async () => {
    base = await start(verifier, { resourceMetadata: 'https://api.example/.well-known/oauth-protected-resource' });
    proxied = await start(verifier, { trustProxy: true });
    behindGateway = await start(verifier, { publicUrl: 'https://gateway.example/api' });
  });

  it('RFC 9449 §7.1: accepts Authorization: DPoP with a proof for the request URL', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    const answer = await send(`${base}/orders?x=1`, { authorization: `DPoP ${token}`, dpop: await proof(key, `${base}/orders`, token) });
    expect(answer.status).toBe(200);
  });

  it('refuses a bound token as Bearer with a Bearer invalid_token challenge', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    const answer = await send(`${base}/orders`, { authorization: `Bearer ${token}`, dpop: await proof(key, `${base}/orders`, token) });
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer realm=".*", error="invalid_token"/);
    expect(answer.headers['www-authenticate']).toContain('resource_metadata="https://api.example/.well-known/oauth-protected-resource"');
  });

  it('RFC 9449 §7.1: a replayed proof gets 401 with a DPoP challenge naming invalid_dpop_proof and algs', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    const headers = { authorization: `DPoP ${token}`, dpop: await proof(key, `${base}/orders`, token) };
    expect((await send(`${base}/orders`, headers)).status).toBe(200);
    const replay = await send(`${base}/orders`, headers);
    expect(replay.status).toBe(401);
    expect(replay.headers['www-authenticate']).toMatch(/^DPoP realm=".*", error="invalid_dpop_proof", error_description=".*".*algs="[^"]*ES256/);
    expect(replay.body.error).toBe('invalid_dpop_proof');
  });

  it('behind a trusted proxy, htu is the external URL from X-Forwarded-Proto and X-Forwarded-Host', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    const external = 'https://api.example.com/orders';
    const ok = await send(`${proxied}/orders`, { authorization: `DPoP ${token}`, dpop: await proof(key, external, token), 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' });
    expect(ok.status).toBe(200);
    const direct = await send(`${base}/orders`, { authorization: `DPoP ${token}`, dpop: await proof(key, external, token), 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com' });
    expect(direct.status).toBe(401);
  });

  it('with publicUrl, htu is the public URL of the route', async () => {
    const key = await proofKey();
    const token = await boundToken(key);
    const answer = await send(`${behindGateway}/orders`, { authorization: `DPoP ${token}`, dpop: await proof(key, 'https://gateway.example/api/orders', token) });
    expect(answer.status).toBe(200);
  });
});

describe('resource-server nonces (RFC 9449 §9)', () => {
  it('answers use_dpop_nonce with DPoP-Nonce, then accepts the proof carrying it', async () => {
    const nonceVerifier = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, dpop: { requireNonce: true } });
    const url = await listen(createServer(async (req, res) => {
      if ((await httpAuthenticator(nonceVerifier)(req, res)) === null) return;
      res.end('{}');
    }));
    const key = await proofKey();
    const token = await boundToken(key);
    const first = await send(`${url}/orders`, { authorization: `DPoP ${token}`, dpop: await proof(key, `${url}/orders`, token) });
    expect(first.status).toBe(401);
    expect(first.body.error).toBe('use_dpop_nonce');
    expect(first.headers['www-authenticate']).toMatch(/^DPoP .*error="use_dpop_nonce"/);
    const nonce = first.headers['dpop-nonce'] as string;
    expect(nonce).toBeTruthy();
    const second = await send(`${url}/orders`, { authorization: `DPoP ${token}`, dpop: await proof(key, `${url}/orders`, token, { nonce }) });
    expect(second.status).toBe(200);
  });
});
