/**
 * Issue 7 hardening of jwt-bearer (RFC 7523 §2.1) federation and of every URL the
 * server fetches: key-set outages are 503 and back off, oversized key sets are cut
 * off, assertions have a maximum lifetime, rule matching is on strings only, and
 * registration refuses internal destinations unless --outbound-allow names them.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchFederationRule } from '../src/domain/federations.js';
import type { Federation } from '../src/store/types.js';
import { createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

let t: TestServer;
let server: Server;
let base: string;
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let jwk: Record<string, unknown>;
const hits = new Map<string, number>();
let clientId: string;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  server = createServer((req, res) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/good') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    if (path === '/down') return res.writeHead(500).end();
    if (path === '/slow') return void setTimeout(() => res.writeHead(200).end(JSON.stringify({ keys: [jwk] })), 5_000).unref();
    if (path === '/huge') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys":[');
      const chunk = Buffer.alloc(64 * 1024, 32);
      let sent = 0;
      const pump = () => {
        while (sent < 5_000 && !res.destroyed && res.write(chunk)) sent++;
        if (sent >= 5_000 || res.destroyed) res.end();
        else res.once('drain', pump);
      };
      res.on('close', () => (sent = 5_000));
      return pump();
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t = await createTestServer({ config: { outboundAllow: ['127.0.0.1'] } });
  const setup = await t.setupClient('default', { apiIdentifier: 'https://deploy', scopes: ['deploy'] });
  clientId = setup.clientId;
});
afterAll(async () => {
  await t.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function federate(issuer: string, path: string, rules: Federation['rules'] = [{ subject: 'repo:acme/*', clientId }]): Promise<void> {
  const created = await t.manage('POST', '/tenants/default/federations', { name: issuer, issuer, jwksUri: `${base}${path}`, rules });
  expect(created.status).toBe(201);
}

function assertion(issuer: string, claims: Record<string, unknown> = {}, lifetime = 300): Promise<string> {
  const now = Math.floor(t.clock.now / 1000);
  return new SignJWT({ sub: 'repo:acme/app', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(issuer)
    .setAudience(`${PUBLIC_URL}/t/default`)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .sign(privateKey);
}

const exchange = async (token: string) => t.post('default', 'token', { grant_type: JWT_BEARER, assertion: token });

describe('federation key sets', () => {
  it('a key set that answers 500 is 503 temporarily_unavailable, and is not fetched again on every request', async () => {
    await federate('https://down.example', '/down');
    const first = await exchange(await assertion('https://down.example'));
    expect(first.statusCode).toBe(503);
    expect(first.json()).toMatchObject({ error: 'temporarily_unavailable' });
    expect(first.headers['retry-after']).toBeDefined();
    for (let i = 0; i < 5; i++) expect((await exchange(await assertion('https://down.example'))).statusCode).toBe(503);
    expect(hits.get('/down')).toBe(1);
  });

  it('a slow key set is 503 after the fetch timeout, not invalid_grant', async () => {
    await federate('https://slow.example', '/slow');
    const res = await exchange(await assertion('https://slow.example'));
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: 'temporarily_unavailable' });
  });

  it('an oversized key set is cut off while it streams: 503, and memory stays bounded', async () => {
    await federate('https://huge.example', '/huge');
    const before = process.memoryUsage().rss;
    const res = await exchange(await assertion('https://huge.example'));
    expect(res.statusCode).toBe(503);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  });

  it('a working key set exchanges, and unknown kids cannot make it refetch on every request', async () => {
    await federate('https://good.example', '/good');
    expect((await exchange(await assertion('https://good.example'))).statusCode).toBe(200);
    const fetched = hits.get('/good');
    for (let i = 0; i < 5; i++) {
      const forged = await new SignJWT({ sub: 'repo:acme/app' }).setProtectedHeader({ alg: 'ES256', kid: `random-${i}` }).setIssuer('https://good.example')
        .setAudience(`${PUBLIC_URL}/t/default`).setExpirationTime(Math.floor(t.clock.now / 1000) + 60).sign(privateKey);
      expect((await exchange(forged)).json()).toMatchObject({ error: 'invalid_grant' });
    }
    expect((hits.get('/good') ?? 0) - (fetched ?? 0)).toBeLessThanOrEqual(1);
  });
});

describe('federated assertions', () => {
  beforeAll(async () => {
    await federate('https://claims.example', '/good', [
      { subject: 'ns:*', clientId },
      { subject: 'repo:acme/app', claims: { environment: 'prod' }, clientId },
    ]);
  });

  it('RFC 7523 §3 item 4: an exp ten years ahead is refused', async () => {
    const res = await exchange(await assertion('https://claims.example', { environment: 'prod' }, 10 * 365 * 86_400));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_grant' });
    expect(res.json().error_description).toMatch(/exp/);
    expect((await exchange(await assertion('https://claims.example', { environment: 'prod' }, 3600))).statusCode).toBe(200);
  });

  it('an object-valued claim does not match a rule value and is not a 500', async () => {
    const res = await exchange(await assertion('https://claims.example', { environment: { toString: 'prod' } }));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('an array claim ["prod"] does not match the rule value "prod"', async () => {
    const res = await exchange(await assertion('https://claims.example', { environment: ['prod'] }));
    expect(res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('the pattern ns:* matches ns:x but not ns: itself', async () => {
    expect((await exchange(await assertion('https://claims.example', { sub: 'ns:x' }))).statusCode).toBe(200);
    expect((await exchange(await assertion('https://claims.example', { sub: 'ns:' }))).json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('matchFederationRule: strings only', () => {
    const federation = { rules: [{ subject: 'a', claims: { n: '1', o: '[object Object]' }, clientId: 'c' }] } as unknown as Federation;
    expect(matchFederationRule(federation, { sub: 'a', n: '1', o: '[object Object]' })).toBe('c');
    expect(matchFederationRule(federation, { sub: 'a', n: 1, o: '[object Object]' })).toBeNull();
    expect(matchFederationRule(federation, { sub: 'a', n: '1', o: {} })).toBeNull();
    expect(matchFederationRule(federation, { sub: 'a', n: ['1'], o: '[object Object]' })).toBeNull();
  });
});

describe('registration refuses internal destinations (422) unless --outbound-allow names them', () => {
  let strict: TestServer;
  beforeAll(async () => {
    strict = await createTestServer();
  });
  afterAll(() => strict.close());

  it.each([
    'https://169.254.169.254/latest/meta-data/jwks',
    'https://10.0.0.1/jwks',
    'http://127.0.0.1:8080/jwks',
    'https://user:pw@127.0.0.1:5432/',
    'http://2130706433/',
    'https://[::ffff:127.0.0.1]/jwks',
    'http://keys.example.com/jwks',
  ])('client jwksUri %s', async (jwksUri) => {
    const res = await strict.manage('POST', '/tenants/default/clients', { name: 'k', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).not.toContain('pw@');
    const fed = await strict.manage('POST', '/tenants/default/federations', { name: 'f', issuer: 'https://x.example', jwksUri, rules: [] });
    expect(fed.status).toBe(422);
  });

  it('the refusal says which option would allow the destination', async () => {
    const res = await strict.manage('POST', '/tenants/default/clients', { name: 'k', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'https://10.0.0.1/jwks' });
    expect(res.body.message).toMatch(/--outbound-allow/);
    expect(res.body.message).toMatch(/TESSERA_OUTBOUND_ALLOW/);
  });

  it('no credentials reach the audit log', async () => {
    await strict.manage('POST', '/tenants/default/clients', { name: 'k', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'https://user:secretpw@keys.example.com/jwks' });
    const audit = await strict.manage('GET', '/tenants/default/audit');
    expect(JSON.stringify(audit.body)).not.toContain('secretpw');
  });
});
