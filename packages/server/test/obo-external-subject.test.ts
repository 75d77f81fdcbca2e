/**
 * On-behalf-of with a user's token from an external identity provider (RFC 8693),
 * found by discovery; workload federations with claim conditions, claim mappings and
 * replay protection (RFC 7523); custom claims on clients and grants.
 */
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';
import { type ExternalIdp, startExternalIdp } from './helpers/external-idp.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

type Client = { clientId: string; clientSecret: string };

let t: TestServer;
let idp: ExternalIdp;
let svc: Client;
let intruder: Client;
let ledgerService: Client;

beforeAll(async () => {
  // The stand-in IdP listens on loopback, which the outbound policy refuses unless allowed.
  t = await createTestServer({ config: { outboundAllow: ['127.0.0.1'] } });
  idp = await startExternalIdp();
  // svc is the API that users call (api://svc at the IdP); it calls https://downstream on their behalf.
  svc = await t.setupClient('default', { apiIdentifier: 'https://downstream', scopes: ['read', 'write', 'admin'], granted: ['read', 'write'] });
  intruder = await t.setupClient('default', { apiIdentifier: 'https://downstream', granted: ['read'] });
  ledgerService = await t.setupClient('default', { apiIdentifier: 'https://ledger', scopes: ['ledger:read'] });
  const downstream = (await t.manage('GET', '/tenants/default/apis?limit=200')).body.items.find((a: { identifier: string }) => a.identifier === 'https://downstream');
  await t.manage('PATCH', `/tenants/default/apis/${downstream.id}`, { introspectors: [ledgerService.clientId] });
  const federation = await t.manage('POST', '/tenants/default/federations', {
    name: 'corporate IdP',
    kind: 'subject',
    issuer: idp.issuer, // discovery only: no jwksUri, no jwks
    exchangeRules: [
      { audience: 'api://svc', clients: [svc.clientId] },
      { audience: 'svc-app-id', clients: [svc.clientId] },
      { audience: 'api://finance', clients: [svc.clientId], claims: { groups: 'finance' } },
    ],
    claimMappings: { email: 'email', groups: 'groups', tenant_hint: 'tid' },
  });
  expect(federation.status, JSON.stringify(federation.body)).toBe(201);
  expect(federation.body).toMatchObject({ kind: 'subject', jwksUri: null, jwks: null, replayProtection: { mode: 'off' } });
});
afterAll(async () => {
  await t.close();
  await idp.close();
});

function exchange(client: Client, form: Record<string, string>, app = t) {
  return app.post('default', 'token', { grant_type: TOKEN_EXCHANGE, subject_token_type: ACCESS_TOKEN, audience: 'https://downstream', ...form }, basic(client.clientId, client.clientSecret));
}

function userToken(claims: Record<string, unknown> = {}, options: { now?: number; lifetime?: number } = {}) {
  return idp.sign({ sub: 'user-1', aud: 'api://svc', email: 'ada@example.com', groups: ['eng'], tid: 'corp', ...claims }, { now: t.clock.now, ...options });
}

describe('RFC 8693 on behalf of a user of an external issuer', () => {
  it('§2.2.1: exchanges the user\'s token: sub is the user, namespaced by issuer; act is the service; mapped claims copied', async () => {
    const subjectToken = await userToken();
    const res = await exchange(svc, { subject_token: subjectToken, scope: 'read' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', scope: 'read' });
    const claims = decodeJwt(res.json().access_token);
    expect(claims).toMatchObject({
      sub: `${idp.issuer}#user-1`,
      act: { sub: svc.clientId },
      client_id: svc.clientId,
      aud: 'https://downstream',
      email: 'ada@example.com',
      groups: ['eng'],
      tenant_hint: 'corp',
    });
    expect(claims.exp).toBeLessThanOrEqual(decodeJwt(subjectToken).exp as number);
  });

  it('discovery and keys are fetched once and cached', async () => {
    await exchange(svc, { subject_token: await userToken() });
    await exchange(svc, { subject_token: await userToken() });
    expect(idp.hits.get('/.well-known/openid-configuration')).toBe(1);
    expect(idp.hits.get('/keys')).toBe(1);
  });

  it('§3: accepts the jwt and id_token subject token types', async () => {
    const asJwt = await exchange(svc, { subject_token: await userToken(), subject_token_type: JWT });
    expect(asJwt.statusCode, asJwt.body).toBe(200);
    const idToken = await exchange(svc, { subject_token: await userToken({ aud: 'svc-app-id' }), subject_token_type: ID_TOKEN });
    expect(idToken.statusCode, idToken.body).toBe(200);
    expect(decodeJwt(idToken.json().access_token)).toMatchObject({ sub: `${idp.issuer}#user-1`, act: { sub: svc.clientId } });
    // RFC 9068 §2.1: a token typed at+jwt is an access token, not an ID token.
    const mislabelled = await exchange(svc, { subject_token: await idp.sign({ sub: 'user-1', aud: 'svc-app-id' }, { now: t.clock.now, typ: 'at+jwt' }), subject_token_type: ID_TOKEN });
    expect(mislabelled.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('without scope, all that the acting client\'s grant allows, and never more (§2.1, RFC 6749 §5.2 invalid_scope)', async () => {
    const all = await exchange(svc, { subject_token: await userToken() });
    expect(all.json().scope).toBe('read write');
    const beyond = await exchange(svc, { subject_token: await userToken(), scope: 'admin' });
    expect(beyond.statusCode).toBe(400);
    expect(beyond.json()).toMatchObject({ error: 'invalid_scope' });
  });

  it('§2.2.2: a token of an untrusted issuer is invalid_request', async () => {
    const res = await exchange(svc, { subject_token: await userToken({ iss: 'https://idp.evil.example' }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    expect(res.json().error_description).toMatch(/not trusted/);
  });

  it('§2.2.2: an expired token is invalid_request', async () => {
    const res = await exchange(svc, { subject_token: await userToken({}, { now: t.clock.now - 7200_000, lifetime: 3600 }) });
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    expect(res.json().error_description).toMatch(/expired/);
  });

  it('§2.2.2: a token signed by a key the issuer does not publish is invalid_request', async () => {
    const forged = await idp.signWithUnpublishedKey({ sub: 'user-1', aud: 'api://svc' }, { now: t.clock.now });
    const res = await exchange(svc, { subject_token: forged });
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    expect(res.json().error_description).toMatch(/signature/);
  });

  it('§2.2.2: a token addressed to an audience no exchange rule names is invalid_request', async () => {
    const res = await exchange(svc, { subject_token: await userToken({ aud: 'api://someone-else' }) });
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    expect(res.json().error_description).toMatch(/audience/);
  });

  it('§2.2.2: a client that the exchange rule does not list cannot exchange the token', async () => {
    const res = await exchange(intruder, { subject_token: await userToken() });
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    expect(res.json().error_description).toMatch(/may not exchange/);
  });

  it('claim conditions of an exchange rule: an array claim never matches a string condition, and is no 500', async () => {
    const res = await exchange(svc, { subject_token: await userToken({ aud: 'api://finance', groups: ['finance'] }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    const ok = await exchange(svc, { subject_token: await userToken({ aud: 'api://finance', groups: 'finance' }) });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('the downstream token is unusable for the downstream API\'s audience at another client: invalid_target', async () => {
    const res = await exchange(svc, { subject_token: await userToken(), audience: 'https://ledger' });
    expect(res.json()).toMatchObject({ error: 'invalid_target' });
  });

  it('§4.1: a chain continues inside Tessera: act nests, the user and the copied claims stay', async () => {
    const first = await exchange(svc, { subject_token: await userToken() });
    const second = await exchange(ledgerService, { subject_token: first.json().access_token, audience: 'https://ledger' });
    expect(second.statusCode, second.body).toBe(200);
    expect(decodeJwt(second.json().access_token)).toMatchObject({
      sub: `${idp.issuer}#user-1`,
      act: { sub: ledgerService.clientId, act: { sub: svc.clientId } },
      email: 'ada@example.com',
    });
  });

  it('an external act is qualified by its issuer as sub is, so its names cannot pass for this tenant\'s clients', async () => {
    const subjectToken = await userToken({ act: { sub: ledgerService.clientId, email: 'x@example.com', act: { sub: 'robot' } } });
    const res = await exchange(svc, { subject_token: subjectToken, scope: 'read' });
    expect(res.statusCode, res.body).toBe(200);
    expect(decodeJwt(res.json().access_token).act).toEqual({
      sub: svc.clientId,
      act: { sub: `${idp.issuer}#${ledgerService.clientId}`, act: { sub: `${idp.issuer}#robot` } },
    });
    const unnamed = await exchange(svc, { subject_token: await userToken({ act: { name: 'no sub' } }), scope: 'read' });
    expect(decodeJwt(unnamed.json().access_token).act).toEqual({ sub: svc.clientId });
  });

  it('subjects of two issuers cannot collide: the same external sub gives two different subjects', async () => {
    const other = await startExternalIdp();
    try {
      const created = await t.manage('POST', '/tenants/default/federations', { name: 'second IdP', kind: 'subject', issuer: other.issuer, exchangeRules: [{ audience: 'api://svc', clients: [svc.clientId] }] });
      expect(created.status).toBe(201);
      const res = await exchange(svc, { subject_token: await other.sign({ sub: 'user-1', aud: 'api://svc' }, { now: t.clock.now }) });
      expect(res.statusCode, res.body).toBe(200);
      const sub = decodeJwt(res.json().access_token).sub;
      expect(sub).toBe(`${other.issuer}#user-1`);
      expect(sub).not.toBe(`${idp.issuer}#user-1`);
    } finally {
      await other.close();
    }
  });

  it('a subject federation\'s tokens are no workload assertions (RFC 7523): invalid_grant', async () => {
    const res = await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: await userToken({ aud: `${t.app.tessera.config.publicUrl}/t/default` }) });
    expect(res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('a discovery document naming another issuer is refused (OpenID Discovery §4.3): 503, the keys cannot be had', async () => {
    const liar = await startExternalIdp({ discoveryIssuer: () => 'https://someone-else.example' });
    try {
      await t.manage('POST', '/tenants/default/federations', { name: 'liar', kind: 'subject', issuer: liar.issuer, exchangeRules: [{ audience: 'api://svc', clients: [svc.clientId] }] });
      const res = await exchange(svc, { subject_token: await liar.sign({ sub: 'u', aud: 'api://svc' }, { now: t.clock.now }) });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ error: 'temporarily_unavailable' });
      expect(liar.hits.get('/keys')).toBeUndefined();
    } finally {
      await liar.close();
    }
  });
});

describe('federation registration: kinds, claim conditions, mappings, replay protection (422)', () => {
  const create = (body: Record<string, unknown>) => t.manage('POST', '/tenants/default/federations', { name: 'f', issuer: idp.issuer, ...body });

  it('refuses malformed conditions and rules, naming the rule and claim', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ rules: [{ subject: 's', claims: { ns: { regex: '.*' } }, clientId: svc.clientId }] }, /rules\[0\], claim "ns"/],
      [{ rules: [{ subject: 's', claims: { ns: { oneOf: [] } }, clientId: svc.clientId }] }, /oneOf/],
      [{ rules: [{ subject: 's', claims: { ns: { prefix: '', equals: 'x' } }, clientId: svc.clientId }] }, /exactly one/],
      [{ rules: [{ subject: 's', claims: { ns: 42 }, clientId: svc.clientId }] }, /condition/],
      [{ rules: [{ clientId: svc.clientId }] }, /subject or at least one claim/],
      [{ rules: [{ subject: 'a*b', clientId: svc.clientId }] }, /may only end in \*/],
      [{ kind: 'subject', exchangeRules: [] }, /at least one exchange rule/],
      [{ kind: 'subject', exchangeRules: [{ audience: 'a', clients: ['nobody'] }] }, /does not exist/],
      [{ kind: 'subject', rules: [{ subject: 's', clientId: svc.clientId }], exchangeRules: [{ audience: 'a', clients: [svc.clientId] }] }, /rules belong/],
      [{ rules: [{ subject: 's', clientId: svc.clientId }], claimMappings: { sub: 'email' } }, /registered claim/],
      [{ rules: [{ subject: 's', clientId: svc.clientId }], replayProtection: { mode: 'max-age', maxAgeSeconds: 0 } }, /maxAgeSeconds/],
      [{ rules: [{ subject: 's', clientId: svc.clientId }], replayProtection: { mode: 'max-age' } }, /maxAgeSeconds/],
      [{ rules: [{ subject: 's', clientId: svc.clientId }], replayProtection: { mode: 'off', maxAgeSeconds: 5 } }, /belongs to mode/],
      [{ kind: 'subject', audience: 'x', exchangeRules: [{ audience: 'a', clients: [svc.clientId] }] }, /audience belongs/],
      [{ issuer: 'ftp://idp.example', rules: [{ subject: 's', clientId: svc.clientId }] }, /discovery/],
    ];
    for (const [body, message] of cases) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.message, JSON.stringify(body)).toMatch(message);
    }
  });

  it('issuers are https URLs without query or fragment (RFC 8414 §2); http only for a host --outbound-allow names', async () => {
    const { publicKey } = await generateKeyPair('ES256');
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256', kid: 'k1' }] };
    for (const issuer of ['https://idp.example#frag', 'https://idp.example#frag#victim', 'https://idp.example/?tenant=a', 'javascript:alert(1)', 'http://idp.example', 'not a url']) {
      const res = await create({ issuer, jwks, rules: [{ subject: 's', clientId: svc.clientId }] });
      expect(res.status, issuer).toBe(422);
      expect(res.body.message, issuer).toMatch(/issuer/);
    }
    expect((await create({ issuer: 'https://idp.example/tenant-a', jwks, rules: [{ subject: 's', clientId: svc.clientId }] })).status).toBe(201);
    expect((await create({ issuer: 'http://127.0.0.1:9/idp', jwks, rules: [{ subject: 's', clientId: svc.clientId }] })).status).toBe(201);
  });

  it('the OpenAPI document describes kinds, exchange rules, mappings, replay protection and custom claims', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/manage/v1/openapi.json' })).json();
    const text = JSON.stringify(doc);
    for (const field of ['exchangeRules', 'claimMappings', 'replayProtection', 'customClaims', 'single-use', 'max-age', 'oneOf']) {
      expect(text, field).toContain(field);
    }
  });

  it('keeps the first rule shape working: subject glob and string claim selectors', async () => {
    const res = await create({ jwksUri: idp.jwksUri, rules: [{ subject: 'repo:acme/*', claims: { ref: 'refs/heads/main' }, clientId: svc.clientId }] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ kind: 'workload', rules: [{ subject: 'repo:acme/*', claims: { ref: 'refs/heads/main' } }], exchangeRules: [] });
  });
});

describe('workload federation (RFC 7523 §2.1): conditions, copied claims, maximum assertion age', () => {
  let workload: Client;
  let k8s: ExternalIdp;
  const audience = () => `${t.app.tessera.config.publicUrl}/t/default`;

  beforeAll(async () => {
    k8s = await startExternalIdp();
    workload = await t.setupClient('default', { apiIdentifier: 'https://reports', scopes: ['reports:read'] });
    const res = await t.manage('POST', '/tenants/default/federations', {
      name: 'cluster',
      issuer: k8s.issuer,
      rules: [{ subject: 'system:serviceaccount:*', claims: { namespace: { oneOf: ['prod', 'staging'] }, cluster: { prefix: 'eu-' }, sa: { equals: 'reporter' } }, clientId: workload.clientId }],
      claimMappings: { k8s_namespace: 'namespace' },
      replayProtection: { mode: 'max-age', maxAgeSeconds: 60 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });
  afterAll(() => k8s.close());

  const assertion = (claims: Record<string, unknown>, now = t.clock.now) =>
    k8s.sign({ sub: 'system:serviceaccount:prod:reporter', aud: audience(), namespace: 'prod', cluster: 'eu-1', sa: 'reporter', ...claims }, { now, lifetime: 600 });

  it('every condition must hold (exact, prefix, one of); the mapped claim is copied', async () => {
    const res = await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: await assertion({}) });
    expect(res.statusCode, res.body).toBe(200);
    expect(decodeJwt(res.json().access_token)).toMatchObject({ sub: workload.clientId, k8s_namespace: 'prod' });
    for (const claims of [{ namespace: 'dev' }, { cluster: 'us-1' }, { sa: 'other' }, { namespace: { nested: 'prod' } }, { namespace: ['prod'] }]) {
      const refused = await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: await assertion(claims) });
      expect(refused.statusCode, JSON.stringify(claims)).toBe(400);
      expect(refused.json()).toMatchObject({ error: 'invalid_grant' });
    }
  });

  it('max-age: an assertion issued longer ago than the federation allows is refused', async () => {
    const old = await assertion({}, t.clock.now - 120_000);
    const res = await t.post('default', 'token', { grant_type: JWT_BEARER, assertion: old });
    expect(res.json()).toMatchObject({ error: 'invalid_grant' });
    expect(res.json().error_description).toMatch(/more than 60 s ago/);
  });
});

describe('custom claims on clients and grants', () => {
  it('static claims of the client and the grant (the grant wins) appear in tokens and in introspection of opaque tokens', async () => {
    const api = await t.manage('POST', '/tenants/default/apis', { identifier: 'https://opaque-claims', scopes: [{ value: 'r' }], tokenFormat: 'opaque' });
    expect(api.status).toBe(201);
    const client = await t.manage('POST', '/tenants/default/clients', { name: 'claims client', customClaims: { tenant_id: 'acme', roles: ['reader', 'auditor'], environment: 'dev' } });
    expect(client.status, JSON.stringify(client.body)).toBe(201);
    expect(client.body.customClaims).toEqual({ tenant_id: 'acme', roles: ['reader', 'auditor'], environment: 'dev' });
    const grant = await t.manage('POST', '/tenants/default/grants', { clientId: client.body.clientId, audience: 'https://opaque-claims', scopes: ['r'], customClaims: { environment: 'prod' } });
    expect(grant.status, JSON.stringify(grant.body)).toBe(201);
    expect(grant.body.customClaims).toEqual({ environment: 'prod' });
    const auth = basic(client.body.clientId, client.body.clientSecret);
    const token = await t.post('default', 'token', { grant_type: 'client_credentials' }, auth);
    expect(token.statusCode, token.body).toBe(200);
    const introspection = await t.post('default', 'introspect', { token: token.json().access_token }, auth);
    expect(introspection.json()).toMatchObject({ active: true, sub: client.body.clientId, tenant_id: 'acme', roles: ['reader', 'auditor'], environment: 'prod' });

    const cleared = await t.manage('PATCH', `/tenants/default/clients/${client.body.clientId}`, { customClaims: null });
    expect(cleared.body.customClaims).toEqual({});
  });

  it('a custom claim that tries to override a registered claim is refused with 422', async () => {
    for (const name of ['sub', 'iss', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope', 'cnf', 'act', 'nbf', 'active']) {
      const res = await t.manage('POST', '/tenants/default/clients', { name: 'override', customClaims: { [name]: 'x' } });
      expect(res.status, name).toBe(422);
      expect(res.body.message).toMatch(new RegExp(`"${name}" is a registered claim`));
    }
    const grant = await t.manage('POST', '/tenants/default/grants', { clientId: svc.clientId, audience: 'https://reports', scopes: [], customClaims: { sub: 'admin' } });
    expect(grant.status).toBe(422);
    const patched = await t.manage('PATCH', `/tenants/default/clients/${svc.clientId}`, { customClaims: { sub: 'admin' } });
    expect(patched.status).toBe(422);
  });

  it('size limits: count, name length and total JSON size', async () => {
    const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`c${i}`, i]));
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'many', customClaims: many })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'long', customClaims: { ['n'.repeat(65)]: 1 } })).status).toBe(422);
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'big', customClaims: { blob: 'x'.repeat(5000) } })).status).toBe(422);
    // The JSON body parser refuses __proto__ keys outright; whatever the answer, nothing is polluted.
    expect((await t.manage('POST', '/tenants/default/clients', { name: 'proto', customClaims: JSON.parse('{"__proto__": {"polluted": true}}') })).status).toBe(400);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe.each([
  { store: 'SQLite', databaseUrl: async (): Promise<TestDatabase | null | 'sqlite'> => 'sqlite' },
  { store: 'PostgreSQL', databaseUrl: createTestDatabase },
])('single-use subject tokens across two replicas ($store)', ({ store, databaseUrl }) => {
  let db: TestDatabase | null | 'sqlite' = null;
  let server: TestServer | null = null;
  let issuer: ExternalIdp;
  beforeAll(async () => {
    db = await databaseUrl();
    if (db === null) return;
    const config = { outboundAllow: ['127.0.0.1'] };
    server = await createTestServer(db === 'sqlite' ? { config } : { config, databaseUrl: db.url });
    issuer = await startExternalIdp();
  });
  afterAll(async () => {
    await server?.close();
    await issuer?.close();
    if (db !== null && db !== 'sqlite') await db.drop();
  });

  it('a token used at one replica is refused at the other', async (context) => {
    if (server === null) {
      context.skip(`${store}: set TESSERA_TEST_DATABASE_URL to run`);
      return;
    }
    const s = server;
    const service = await s.setupClient('default', { apiIdentifier: 'https://downstream', scopes: ['read'] });
    const created = await s.manage('POST', '/tenants/default/federations', {
      name: 'one-shot', kind: 'subject', issuer: issuer.issuer, jwksUri: issuer.jwksUri,
      exchangeRules: [{ audience: 'api://svc', clients: [service.clientId] }],
      replayProtection: { mode: 'single-use' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const replica = await s.replica();
    const subjectToken = await issuer.sign({ sub: 'user-9', aud: 'api://svc' }, { now: s.clock.now });
    const form = new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, audience: 'https://downstream' }).toString();
    const first = await s.post('default', 'token', Object.fromEntries(new URLSearchParams(form)), basic(service.clientId, service.clientSecret));
    expect(first.statusCode, first.body).toBe(200);
    const again = await replica.inject({
      method: 'POST', url: '/t/default/token', payload: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(service.clientId, service.clientSecret) },
    });
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ error: 'invalid_request' });
    expect(again.json().error_description).toMatch(/already used/);
  });
});
