/**
 * Validators nobody here wrote accept the test issuer's tokens and refuse its negative
 * cases: jose (RFC 9068 profile by hand) and express-oauth2-jwt-bearer (Auth0's Express
 * middleware), through a real HTTP request to a protected route.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestIssuer, type TestIssuer } from '../src/index.js';

const API = 'https://orders.example';

describe('express-oauth2-jwt-bearer against the test issuer', () => {
  let issuer: TestIssuer;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    issuer = await startTestIssuer();
    const app = express();
    app.get('/orders', auth({ issuerBaseURL: issuer.issuer, audience: API, tokenSigningAlg: 'ES256' }), requiredScopes('orders:read'), (_req, res) => {
      res.json({ ok: true });
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await issuer.stop();
  });

  const call = (token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });

  it('accepts a token from a real client_credentials request', async () => {
    const client = await issuer.createClient({ audience: API, scopes: ['orders:read'] });
    expect((await call(await client.getToken())).status).toBe(200);
  });

  it('refuses (RFC 6750 §3.1) an expired token, another audience, a missing scope, a wrong key and alg none', async () => {
    expect((await call(await issuer.issueToken({ audience: API, scope: 'orders:read', expiresIn: -120 }))).status).toBe(401);
    expect((await call(await issuer.issueToken({ audience: 'https://other.example', scope: 'orders:read' }))).status).toBe(401);
    expect((await call(await issuer.issueToken({ audience: API, scope: 'orders:write' }))).status).toBe(403);
    const good = await issuer.issueToken({ audience: API, scope: 'orders:read' });
    expect((await call(good)).status).toBe(200);
    expect((await call(await issuer.tamper.wrongKey(good))).status).toBe(401);
    expect((await call(issuer.tamper.algNone(good))).status).toBe(401);
    expect((await call(issuer.tamper.withClaims(good, { scope: 'orders:read orders:admin' }))).status).toBe(401);
  });
});
