/**
 * `--state-url redis://`: the token endpoint with its state in Redis, and what happens
 * when Redis goes away and comes back. Runs against a redis-server this test starts on
 * a free port (and stops by its PID); skips visibly when there is no redis-server.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { openRedisStateStore } from '../src/store/state/redis.js';
import { basic, createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';
import { freeLoopbackPort, haveRedisServer as haveRedis, startRedisServer as startRedis, stopRedisServer as stopRedis, testKeyPrefix } from './helpers/redis.js';

describe.skipIf(!haveRedis)('the state store in Redis, down and back', () => {
  let port: number;
  let redis: ChildProcess;
  let t: TestServer;
  let client: { clientId: string; clientSecret: string; identifier: string };
  let keyed: { clientId: string; identifier: string };
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  beforeAll(async () => {
    port = await freeLoopbackPort();
    redis = await startRedis(port);
    const state = await openRedisStateStore(`redis://127.0.0.1:${port}`, { keyPrefix: testKeyPrefix(), commandTimeout: 500 });
    t = await createTestServer({ state, startAt: Date.now() });
    client = await t.setupClient('default', { tokenFormat: 'opaque' });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' };
    keyed = await t.setupClient('default', { client: { tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] } } });
  });
  afterAll(async () => {
    await t?.close();
    await t?.app.tessera.state.close().catch(() => undefined);
    if (redis !== undefined) await stopRedis(redis);
  });

  /** RFC 7523 §3: a client assertion with a fresh jti (or the one given, to replay it). */
  const assertionToken = (jti = randomUUID()) => {
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode({ alg: 'ES256', kid: 'k1' })}.${encode({ iss: keyed.clientId, sub: keyed.clientId, aud: `${PUBLIC_URL}/t/default`, iat: now, exp: now + 60, jti })}`;
    const signature = sign('sha256', Buffer.from(input), { key: privateKey as KeyObject, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return t.post('default', 'token', {
      grant_type: 'client_credentials',
      audience: keyed.identifier,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: `${input}.${signature}`,
    });
  };
  const token = () => t.post('default', 'token', { grant_type: 'client_credentials', audience: client.identifier }, basic(client.clientId, client.clientSecret));

  it('issues and introspects opaque tokens kept in Redis, and /readyz checks it', async () => {
    const issued = await token();
    expect(issued.statusCode).toBe(200);
    const { access_token: value } = issued.json() as { access_token: string };
    const introspected = await t.post('default', 'introspect', { token: value }, basic(client.clientId, client.clientSecret));
    expect(introspected.json()).toMatchObject({ active: true, client_id: client.clientId });
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.state).toEqual({ ok: true });
    const jti = randomUUID();
    expect((await assertionToken(jti)).statusCode).toBe(200);
    expect((await assertionToken(jti)).json()).toMatchObject({ error: 'invalid_client' });
  });

  it('answers 503 temporarily_unavailable while Redis is down, says why in /readyz, and recovers by itself', async () => {
    await stopRedis(redis);
    const refused = await token();
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ error: 'temporarily_unavailable' });
    // A jti that could not be recorded is never accepted.
    const jti = randomUUID();
    const unrecorded = await assertionToken(jti);
    expect(unrecorded.statusCode).toBe(503);
    expect(unrecorded.json()).toMatchObject({ error: 'temporarily_unavailable' });
    const notReady = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().reason).toMatch(/state store unavailable \(redis at 127\.0\.0\.1:\d+/);

    redis = await startRedis(port);
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode;
      if (status !== 200) await sleep(100);
    }
    expect(status).toBe(200);
    expect((await token()).statusCode).toBe(200);
    expect((await assertionToken(jti)).statusCode).toBe(200);
  }, 30_000);
});

if (!haveRedis) describe.skip('the state store in Redis, down and back (skipped: no redis-server on PATH)', () => {});
