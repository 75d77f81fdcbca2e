/**
 * What configuration as code needs from the management API: chosen client ids, a
 * secret the caller brings (a migration without rotation), grants and federations
 * changed in place (same id, audited), so that nothing in a file needs a delete to change.
 */
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';
import { createTestDatabase } from './helpers/postgres.js';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const CARRIED_SECRET = 'carried-over-from-keycloak-0123456789abcdef';

let t: TestServer;
beforeAll(async () => {
  t = await createTestServer({ config: { outboundAllow: ['127.0.0.1'] } });
  await t.manage('POST', '/tenants/default/apis', { identifier: 'https://orders', scopes: [{ value: 'orders:read' }, { value: 'orders:write' }] });
});
afterAll(() => t.close());

const token = (clientId: string, secret: string) =>
  t.post('default', 'token', { grant_type: 'client_credentials', audience: 'https://orders' }, basic(clientId, secret));

describe('POST /clients with a chosen clientId', () => {
  it('creates the client under that id', async () => {
    const res = await t.manage('POST', '/tenants/default/clients', { clientId: 'billing-service', name: 'Billing' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ clientId: 'billing-service', tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic' });
    expect(typeof res.body.clientSecret).toBe('string');
    expect((await t.manage('GET', '/tenants/default/clients/billing-service')).status).toBe(200);
  });

  it('answers 409 when the id is taken in the tenant, and changes nothing', async () => {
    const res = await t.manage('POST', '/tenants/default/clients', { clientId: 'billing-service', name: 'Other' });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'conflict', message: expect.stringContaining('billing-service') });
    expect((await t.manage('GET', '/tenants/default/clients/billing-service')).body.name).toBe('Billing');
  });

  it('accepts the same id in another tenant (ids are per issuer)', async () => {
    await t.manage('POST', '/tenants', { id: 'staging' });
    expect((await t.manage('POST', '/tenants/staging/clients', { clientId: 'billing-service', name: 'Billing' })).status).toBe(201);
  });

  it.each(['-leading-dash', 'has space', 'slash/inside', 'x'.repeat(129), ''])('answers 422 for the malformed id %j', async (clientId) => {
    const res = await t.manage('POST', '/tenants/default/clients', { clientId, name: 'Bad' });
    expect(res.status).toBe(422);
    expect(res.body.error).toBe('validation_failed');
  });

  it('accepts every character the pattern allows', async () => {
    const res = await t.manage('POST', '/tenants/default/clients', { clientId: 'urn:acme:svc.Orders_2-a', name: 'Colons' });
    expect(res.status).toBe(201);
    const created = res.body as { clientId: string; clientSecret: string };
    expect((await token(created.clientId, created.clientSecret)).statusCode).toBe(400); // no grant: authenticated, then refused
  });
});

describe('POST /clients with a caller-provided clientSecret', () => {
  it('stores it hashed, never returns it, and the client authenticates with it', async () => {
    const res = await t.manage('POST', '/tenants/default/clients', { clientId: 'migrated', name: 'Migrated', clientSecret: CARRIED_SECRET });
    expect(res.status).toBe(201);
    expect(res.body.clientSecret).toBeUndefined();
    expect(JSON.stringify(res.body)).not.toContain(CARRIED_SECRET);
    const stored = await t.store.listClientSecrets('default', 'migrated');
    expect(stored).toHaveLength(1);
    expect(stored[0]?.hash).not.toContain(CARRIED_SECRET);
    await t.manage('POST', '/tenants/default/grants', { clientId: 'migrated', audience: 'https://orders', scopes: ['orders:read'] });
    const issued = await token('migrated', CARRIED_SECRET);
    expect(issued.statusCode).toBe(200);
    const audit = await t.manage('GET', '/tenants/default/audit?targetId=migrated');
    expect(JSON.stringify(audit.body)).not.toContain(CARRIED_SECRET);
  });

  it('refuses a secret shorter than 32 characters (422) and creates nothing', async () => {
    const res = await t.manage('POST', '/tenants/default/clients', { clientId: 'weak', name: 'Weak', clientSecret: 'short-secret' });
    expect(res.status).toBe(422);
    expect((await t.manage('GET', '/tenants/default/clients/weak')).status).toBe(404);
  });

  it('refuses a secret for a method that uses none (422)', async () => {
    const { publicKey } = await generateKeyPair('ES256');
    const res = await t.manage('POST', '/tenants/default/clients', {
      clientId: 'keyed', name: 'Keyed', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [await exportJWK(publicKey)] }, clientSecret: CARRIED_SECRET,
    });
    expect(res.status).toBe(422);
    expect(res.body.message).toMatch(/uses no secret/);
  });

  it('POST .../secrets takes one too (rotation onto a known value), without echoing it', async () => {
    const other = 'a-second-carried-secret-0123456789abcdefgh';
    const res = await t.manage('POST', '/tenants/default/clients/migrated/secrets', { clientSecret: other });
    expect(res.status).toBe(201);
    expect(res.body.clientSecret).toBeUndefined();
    expect((await token('migrated', other)).statusCode).toBe(200);
    const generated = await t.manage('DELETE', `/tenants/default/clients/migrated/secrets/${res.body.id}`);
    expect(generated.status).toBe(204);
    const plain = await t.manage('POST', '/tenants/default/clients/migrated/secrets');
    expect(plain.status).toBe(201);
    expect(typeof plain.body.clientSecret).toBe('string');
  });

  it('PATCH cannot set a client id or a secret', async () => {
    expect((await t.manage('PATCH', '/tenants/default/clients/migrated', { clientSecret: CARRIED_SECRET })).status).toBe(400);
    expect((await t.manage('PATCH', '/tenants/default/clients/migrated', { clientId: 'renamed' })).status).toBe(400);
  });
});

describe('PATCH /grants/{id} with customClaims', () => {
  it('changes the claims in place (same id), and the next token carries them', async () => {
    const client = await t.manage('POST', '/tenants/default/clients', { clientId: 'claims-client', name: 'Claims' });
    const grant = await t.manage('POST', '/tenants/default/grants', { clientId: 'claims-client', audience: 'https://orders', scopes: ['orders:read', 'orders:write'] });
    const patched = await t.manage('PATCH', `/tenants/default/grants/${grant.body.id}`, { customClaims: { tier: 'gold' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: grant.body.id, scopes: ['orders:read', 'orders:write'], customClaims: { tier: 'gold' } });
    const issued = await token('claims-client', client.body.clientSecret);
    expect(decodeJwt(issued.json().access_token)).toMatchObject({ tier: 'gold' });
    const both = await t.manage('PATCH', `/tenants/default/grants/${grant.body.id}`, { scopes: ['orders:read'], customClaims: null });
    expect(both.body).toMatchObject({ id: grant.body.id, scopes: ['orders:read'], customClaims: {} });
    expect((await t.manage('PATCH', `/tenants/default/grants/${grant.body.id}`, {})).status).toBe(400);
    expect((await t.manage('PATCH', `/tenants/default/grants/${grant.body.id}`, { customClaims: { iss: 'x' } })).status).toBe(422);
  });
});

describe('PATCH /federations/{id}', () => {
  let jwksServer: Server;
  let jwksUri: string;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  let federationId: string;
  const issuer = 'https://ci.example';

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
    jwksServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
    await t.manage('POST', '/tenants/default/clients', { clientId: 'deployer', name: 'Deployer' });
    await t.manage('POST', '/tenants/default/clients', { clientId: 'releaser', name: 'Releaser' });
    await t.manage('POST', '/tenants/default/grants', { clientId: 'deployer', audience: 'https://orders', scopes: ['orders:read'] });
    await t.manage('POST', '/tenants/default/grants', { clientId: 'releaser', audience: 'https://orders', scopes: ['orders:write'] });
    const created = await t.manage('POST', '/tenants/default/federations', { name: 'CI', issuer, jwksUri, rules: [{ subject: 'repo:acme/app:*', clientId: 'deployer' }] });
    expect(created.status).toBe(201);
    federationId = created.body.id;
  });
  afterAll(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));

  const assertion = () =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(issuer)
      .setSubject('repo:acme/app:ref:refs/heads/main')
      .setAudience(`${PUBLIC_URL}/t/default`)
      .setIssuedAt(Math.floor(t.clock.now / 1000))
      .setExpirationTime(Math.floor(t.clock.now / 1000) + 300)
      .sign(privateKey);

  it('changes the rules in place (same id), audited, and the token endpoint follows at once', async () => {
    const before = await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: await assertion() });
    expect(decodeJwt(before.json().access_token)).toMatchObject({ sub: 'deployer' });
    const res = await t.manage('PATCH', `/tenants/default/federations/${federationId}`, { rules: [{ subject: 'repo:acme/app:*', clientId: 'releaser' }], replayProtection: { mode: 'max-age', maxAgeSeconds: 600 } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: federationId, name: 'CI', issuer, jwksUri, rules: [{ clientId: 'releaser' }], replayProtection: { mode: 'max-age', maxAgeSeconds: 600 } });
    const after = await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: await assertion() });
    expect(decodeJwt(after.json().access_token)).toMatchObject({ sub: 'releaser', scope: 'orders:write' });
    const audit = await t.manage('GET', `/tenants/default/audit?action=federation.update&targetId=${federationId}`);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0].details).toMatchObject({ changed: ['rules', 'replayProtection'] });
  });

  it('checks the result as a new federation: a rule naming no client, or a rule set emptied, is 422 and changes nothing', async () => {
    expect((await t.manage('PATCH', `/tenants/default/federations/${federationId}`, { rules: [{ subject: 's', clientId: 'ghost' }] })).status).toBe(422);
    expect((await t.manage('PATCH', `/tenants/default/federations/${federationId}`, { rules: [] })).status).toBe(422);
    expect((await t.manage('PATCH', `/tenants/default/federations/${federationId}`, { replayProtection: { mode: 'off', maxAgeSeconds: 5 } })).status).toBe(422);
    expect((await t.manage('GET', `/tenants/default/federations/${federationId}`)).body.rules).toEqual([{ subject: 'repo:acme/app:*', clientId: 'releaser' }]);
  });

  it('switching from jwksUri to jwks drops the URI; an unknown field is 400; an unknown id 404', async () => {
    const { publicKey } = await generateKeyPair('ES256');
    const res = await t.manage('PATCH', `/tenants/default/federations/${federationId}`, { jwks: { keys: [await exportJWK(publicKey)] } });
    expect(res.status).toBe(200);
    expect(res.body.jwksUri).toBeNull();
    expect(res.body.jwks.keys).toHaveLength(1);
    expect((await t.manage('PATCH', `/tenants/default/federations/${federationId}`, { colour: 'red' })).status).toBe(400);
    expect((await t.manage('PATCH', `/tenants/default/federations/${federationId}`, {})).status).toBe(400);
    expect((await t.manage('PATCH', '/tenants/default/federations/fed_nope', { name: 'x' })).status).toBe(404);
  });
});

const pg = await createTestDatabase();
describe.skipIf(pg === null)('on PostgreSQL', () => {
  let p: TestServer;
  beforeAll(async () => {
    p = await createTestServer({ databaseUrl: pg!.url });
  });
  afterAll(async () => {
    await p?.close();
    await pg?.drop();
  });

  it('a chosen id, a brought secret, a grant\'s claims and a federation change in place', async () => {
    await p.manage('POST', '/tenants/default/apis', { identifier: 'https://orders', scopes: [{ value: 'read' }] });
    expect((await p.manage('POST', '/tenants/default/clients', { clientId: 'pg.client', name: 'PG', clientSecret: CARRIED_SECRET })).status).toBe(201);
    expect((await p.manage('POST', '/tenants/default/clients', { clientId: 'pg.client', name: 'again' })).status).toBe(409);
    const grant = (await p.manage('POST', '/tenants/default/grants', { clientId: 'pg.client', audience: 'https://orders', scopes: ['read'] })).body;
    expect((await p.manage('PATCH', `/tenants/default/grants/${grant.id}`, { customClaims: { tier: 'gold' } })).body).toMatchObject({ id: grant.id, customClaims: { tier: 'gold' } });
    const issued = await p.post('default', 'token', { grant_type: 'client_credentials' }, basic('pg.client', CARRIED_SECRET));
    expect(decodeJwt(issued.json().access_token)).toMatchObject({ sub: 'pg.client', tier: 'gold' });
    const federation = (await p.manage('POST', '/tenants/default/federations', { name: 'ci', issuer: 'https://ci.example', jwksUri: 'https://ci.example/jwks', rules: [{ subject: 'a', clientId: 'pg.client' }] })).body;
    const updated = await p.manage('PATCH', `/tenants/default/federations/${federation.id}`, { name: 'ci-2', replayProtection: { mode: 'single-use' } });
    expect(updated.body).toMatchObject({ id: federation.id, name: 'ci-2', replayProtection: { mode: 'single-use' }, rules: [{ subject: 'a' }] });
    expect((await p.manage('GET', `/tenants/default/federations/${federation.id}`)).body.name).toBe('ci-2');
  });
});
