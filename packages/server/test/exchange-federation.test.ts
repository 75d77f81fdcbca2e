import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer({ config: { outboundAllow: ['127.0.0.1'] } });
});
afterAll(() => t.close());

describe('token exchange (RFC 8693)', () => {
  let caller: { clientId: string; clientSecret: string };
  let orders: { clientId: string; clientSecret: string; apiId: string };
  let inventory: { clientId: string; clientSecret: string; apiId: string };

  beforeAll(async () => {
    // caller -> orders service (API https://orders) -> inventory service (API https://inventory)
    caller = await t.setupClient('default', { apiIdentifier: 'https://orders', scopes: ['orders:read', 'orders:write', 'shared:audit'], granted: ['orders:read', 'shared:audit'] });
    orders = await t.setupClient('default', { apiIdentifier: 'https://inventory', scopes: ['inventory:read', 'inventory:write', 'shared:audit'], granted: ['inventory:read', 'inventory:write', 'shared:audit'] });
    const ordersApi = (await t.manage('GET', '/tenants/default/apis?limit=200')).body.items.find((a: { identifier: string }) => a.identifier === 'https://orders');
    await t.manage('PATCH', `/tenants/default/apis/${ordersApi.id}`, { introspectors: [orders.clientId] });
    inventory = await t.setupClient('default', { apiIdentifier: 'https://warehouse', scopes: ['w'] });
    const inventoryApi = (await t.manage('GET', '/tenants/default/apis?limit=200')).body.items.find((a: { identifier: string }) => a.identifier === 'https://inventory');
    await t.manage('PATCH', `/tenants/default/apis/${inventoryApi.id}`, { introspectors: [inventory.clientId] });
  });

  async function callerToken(scope?: string): Promise<string> {
    const res = await t.post('default', 'token', { grant_type: 'client_credentials', ...(scope ? { scope } : {}) }, basic(caller.clientId, caller.clientSecret));
    return res.json().access_token;
  }

  it('§2.2.1: issues a token for the downstream API; sub stays, act names the actor', async () => {
    const subjectToken = await callerToken();
    const res = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, audience: 'https://inventory', scope: 'inventory:read' }, basic(orders.clientId, orders.clientSecret));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', scope: 'inventory:read' });
    const claims = decodeJwt(res.json().access_token);
    expect(claims).toMatchObject({ sub: caller.clientId, aud: 'https://inventory', client_id: orders.clientId, act: { sub: orders.clientId }, iss: `${PUBLIC_URL}/t/default` });
  });

  it('§4.1: act nests along a chain', async () => {
    const first = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: await callerToken(), subject_token_type: ACCESS_TOKEN, audience: 'https://inventory' }, basic(orders.clientId, orders.clientSecret));
    const second = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: first.json().access_token, subject_token_type: ACCESS_TOKEN, audience: 'https://warehouse' }, basic(inventory.clientId, inventory.clientSecret));
    expect(second.statusCode).toBe(200);
    expect(decodeJwt(second.json().access_token)).toMatchObject({ sub: caller.clientId, act: { sub: inventory.clientId, act: { sub: orders.clientId } } });
  });

  it('scopes never widen: a scope the subject token lacked on a shared name is refused', async () => {
    const narrow = await callerToken('orders:read');
    const res = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: narrow, subject_token_type: ACCESS_TOKEN, audience: 'https://inventory', scope: 'shared:audit' }, basic(orders.clientId, orders.clientSecret));
    expect(res.json()).toMatchObject({ error: 'invalid_scope' });
    const notGranted = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: narrow, subject_token_type: ACCESS_TOKEN, audience: 'https://inventory', scope: 'inventory:admin' }, basic(orders.clientId, orders.clientSecret));
    expect(notGranted.json()).toMatchObject({ error: 'invalid_scope' });
  });

  it('§2.2.2: a subject token for another API than the acting client\'s own is unacceptable: invalid_request', async () => {
    const subjectToken = await callerToken();
    const res = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, audience: 'https://warehouse' }, basic(inventory.clientId, inventory.clientSecret));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('§2.2.2: invalid subject tokens and bad token types are invalid_request', async () => {
    const garbage = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: 'x.y.z', subject_token_type: ACCESS_TOKEN, audience: 'https://inventory' }, basic(orders.clientId, orders.clientSecret));
    expect(garbage.json()).toMatchObject({ error: 'invalid_request' });
    const badType = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: await callerToken(), subject_token_type: 'urn:ietf:params:oauth:token-type:saml2', audience: 'https://inventory' }, basic(orders.clientId, orders.clientSecret));
    expect(badType.json()).toMatchObject({ error: 'invalid_request' });
    const missing = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token_type: ACCESS_TOKEN }, basic(orders.clientId, orders.clientSecret));
    expect(missing.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('the exchanged token never outlives the subject token', async () => {
    const subjectToken = await callerToken();
    t.clock.advance(3000_000);
    const res = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, audience: 'https://inventory' }, basic(orders.clientId, orders.clientSecret));
    t.clock.advance(-3000_000);
    expect(res.json().expires_in).toBeLessThanOrEqual(600);
  });
});

describe('workload identity federation (RFC 7523 §2.1)', () => {
  let jwksServer: Server;
  let jwksUri: string;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let workload: { clientId: string };
  const externalIssuer = 'https://token.actions.example';

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
    jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
    const setup = await t.setupClient('default', { apiIdentifier: 'https://deploy', scopes: ['deploy'] });
    workload = { clientId: setup.clientId };
    const fed = await t.manage('POST', '/tenants/default/federations', {
      name: 'CI', issuer: externalIssuer, jwksUri,
      rules: [{ subject: 'repo:acme/app:*', claims: { environment: 'prod' }, clientId: workload.clientId }],
    });
    expect(fed.status).toBe(201);
  });
  afterAll(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));

  const assertion = (claims: Record<string, unknown>, exp = Math.floor(t.clock.now / 1000) + 300) =>
    new SignJWT({ environment: 'prod', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(externalIssuer)
      .setSubject('repo:acme/app:ref:refs/heads/main')
      .setAudience(`${PUBLIC_URL}/t/default`)
      .setIssuedAt(Math.floor(t.clock.now / 1000))
      .setExpirationTime(exp)
      .sign(privateKey);

  it('exchanges a trusted external JWT for a token with the mapped client\'s grants, without a secret', async () => {
    const res = await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: await assertion({}) });
    expect(res.statusCode).toBe(200);
    expect(decodeJwt(res.json().access_token)).toMatchObject({ sub: workload.clientId, client_id: workload.clientId, aud: 'https://deploy', scope: 'deploy' });
  });

  it('a claim selector that does not match is invalid_grant', async () => {
    const res = await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: await assertion({ environment: 'dev' }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('an expired, untrusted or unsigned assertion is invalid_grant', async () => {
    const expired = await assertion({}, Math.floor(t.clock.now / 1000) - 600);
    expect((await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: expired })).json()).toMatchObject({ error: 'invalid_grant' });
    const other = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://evil').setSubject('x').setAudience(`${PUBLIC_URL}/t/default`).setExpirationTime('5m').sign(privateKey);
    expect((await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: other })).json()).toMatchObject({ error: 'invalid_grant' });
    const [h, p] = (await assertion({})).split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`;
    expect((await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: none })).json()).toMatchObject({ error: 'invalid_grant' });
    expect((await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: `${h}.${p}.AAAA` })).json()).toMatchObject({ error: 'invalid_grant' });
    expect((await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: 'garbage' })).json()).toMatchObject({ error: 'invalid_grant' });
    expect((await t.post('default', 'token', { grant_type: JWT_BEARER })).json()).toMatchObject({ error: 'invalid_request' });
  });

  it('workloads without client authentication count against the mapped client\'s rate limit', async () => {
    const limited = await createTestServer({ config: { outboundAllow: ['127.0.0.1'], rateLimit: { tokenRequestsPerWindow: 2, windowSeconds: 60 } } });
    try {
      const setup = await limited.setupClient('default', { apiIdentifier: 'https://deploy', scopes: ['deploy'] });
      await limited.manage('POST', '/tenants/default/federations', { name: 'CI', issuer: externalIssuer, jwksUri, rules: [{ subject: 'repo:acme/app:*', clientId: setup.clientId }] });
      const ask = async () => limited.post('default', 'token', { grant_type: JWT_BEARER, assertion: await assertion({}) });
      expect((await ask()).statusCode).toBe(200);
      expect((await ask()).statusCode).toBe(200);
      const third = await ask();
      expect(third.statusCode).toBe(429);
      expect(third.headers['retry-after']).toBeDefined();
    } finally {
      await limited.close();
    }
  });

  it('federations are listed and deleted through the management API', async () => {
    const list = await t.manage('GET', '/tenants/default/federations');
    expect(list.body.items).toHaveLength(1);
    expect((await t.manage('POST', '/tenants/default/federations', { name: 'bad', issuer: 'x', rules: [{ subject: 's', clientId: 'ghost' }], jwksUri })).status).toBe(422);
    expect((await t.manage('DELETE', `/tenants/default/federations/${list.body.items[0].id}`)).status).toBe(204);
    const res = await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: await assertion({}) });
    expect(res.json()).toMatchObject({ error: 'invalid_grant' });
  });
});
