/**
 * Transaction tokens (draft-ietf-oauth-transaction-tokens) issued by the token
 * endpoint and checked by @tessera/verifier's createTxnTokenVerifier, with the draft's
 * example request context and transaction details.
 */
import { createTxnTokenVerifier } from '@tessera/verifier';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';
import { type ExternalIdp, startExternalIdp } from './helpers/external-idp.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const TXN_TOKEN = 'urn:ietf:params:oauth:token-type:txn_token';
const TRUST_DOMAIN = 'trust-domain.example';
/** The draft's example request context and transaction details. */
const RCTX = { req_ip: '69.151.72.123', authn: 'urn:ietf:rfc:6749' };
const TCTX = { action: 'BUY', ticker: 'MSFT', quantity: '100', customer_type: { geo: 'US', level: 'VIP' } };

let t: TestServer;
let gateway: { clientId: string; clientSecret: string };
let caller: { clientId: string; clientSecret: string };
let plain: { clientId: string; clientSecret: string };

beforeAll(async () => {
  t = await createTestServer();
  expect((await t.manage('POST', '/tenants', { id: 'trading', trustDomain: TRUST_DOMAIN })).status).toBe(201);
  caller = await t.setupClient('trading', { apiIdentifier: 'https://api.trading.example', scopes: ['trade.stocks', 'trade.bonds'] });
  gateway = await t.setupClient('trading', { apiIdentifier: 'https://internal.trading.example', scopes: ['x'], client: { txnTokenService: true } });
  plain = await t.setupClient('trading', { apiIdentifier: 'https://internal.trading.example', scopes: ['x'] });
});
afterAll(() => t.close());

async function accessToken(scope = 'trade.stocks trade.bonds'): Promise<string> {
  const res = await t.post('trading', 'token', { grant_type: 'client_credentials', scope }, basic(caller.clientId, caller.clientSecret));
  return res.json().access_token;
}

function txnRequest(subjectToken: string, extra: Record<string, string> = {}) {
  return t.post('trading', 'token', {
    grant_type: TOKEN_EXCHANGE,
    requested_token_type: TXN_TOKEN,
    audience: TRUST_DOMAIN,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN,
    ...extra,
  }, basic(gateway.clientId, gateway.clientSecret));
}

describe('transaction token issuance', () => {
  it('answers token_type N_A and issued_token_type txn_token with a txntoken+jwt carrying the draft claims', async () => {
    const res = await txnRequest(await accessToken(), { scope: 'trade.stocks', request_context: JSON.stringify(RCTX), request_details: JSON.stringify(TCTX) });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ token_type: 'N_A', issued_token_type: TXN_TOKEN, expires_in: 60, scope: 'trade.stocks' });
    expect(body.refresh_token).toBeUndefined();
    expect(decodeProtectedHeader(body.access_token).typ).toBe('txntoken+jwt');
    const claims = decodeJwt(body.access_token);
    expect(claims).toMatchObject({ aud: TRUST_DOMAIN, sub: caller.clientId, scope: 'trade.stocks', req_wl: gateway.clientId, rctx: RCTX, tctx: TCTX, iss: `${PUBLIC_URL}/t/trading` });
    expect(typeof claims.txn).toBe('string');
    expect(claims.exp! - claims.iat!).toBe(60);
  });

  it('accepts request_context and request_details as base64url JSON too', async () => {
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const res = await txnRequest(await accessToken(), { request_context: b64(RCTX), request_details: b64(TCTX) });
    expect(res.statusCode, res.body).toBe(200);
    expect(decodeJwt(res.json().access_token)).toMatchObject({ rctx: RCTX, tctx: TCTX, scope: 'trade.stocks trade.bonds' });
  });

  it('scope never exceeds the subject token\'s (invalid_scope)', async () => {
    const res = await txnRequest(await accessToken('trade.stocks'), { scope: 'trade.stocks trade.bonds' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_scope');
  });

  it('only a client registered with txnTokenService may ask (unauthorized_client)', async () => {
    const res = await t.post('trading', 'token', { grant_type: TOKEN_EXCHANGE, requested_token_type: TXN_TOKEN, audience: TRUST_DOMAIN, subject_token: await accessToken(), subject_token_type: ACCESS_TOKEN }, basic(plain.clientId, plain.clientSecret));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('unauthorized_client');
  });

  it('the audience must be the trust domain (invalid_target)', async () => {
    const res = await txnRequest(await accessToken(), { audience: 'https://elsewhere.example' });
    expect(res.json().error).toBe('invalid_target');
  });

  it('a malformed request_context is invalid_request', async () => {
    const res = await txnRequest(await accessToken(), { request_context: '[1,2]' });
    expect(res.json().error).toBe('invalid_request');
  });

  it('without a trustDomain setting the trust domain is the issuer', async () => {
    const client = await t.setupClient('default', { apiIdentifier: 'https://default-api.example', scopes: ['a'], client: { txnTokenService: true } });
    const subject = (await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(client.clientId, client.clientSecret))).json().access_token;
    const tenant = await t.manage('GET', '/tenants/default');
    expect(tenant.body.trustDomain).toBe(`${PUBLIC_URL}/t/default`);
    const res = await t.post('default', 'token', { grant_type: TOKEN_EXCHANGE, requested_token_type: TXN_TOKEN, audience: `${PUBLIC_URL}/t/default`, subject_token: subject, subject_token_type: ACCESS_TOKEN }, basic(client.clientId, client.clientSecret));
    expect(res.statusCode, res.body).toBe(200);
    expect(decodeJwt(res.json().access_token).aud).toBe(`${PUBLIC_URL}/t/default`);
  });

  it('a transaction token is no access token: not for exchange, introspection or the management API', async () => {
    const txn = (await txnRequest(await accessToken())).json().access_token;
    const exchange = await t.post('trading', 'token', { grant_type: TOKEN_EXCHANGE, subject_token: txn, subject_token_type: ACCESS_TOKEN, audience: 'https://api.trading.example' }, basic(gateway.clientId, gateway.clientSecret));
    expect(exchange.json().error).toBe('invalid_request');
    const introspected = await t.post('trading', 'introspect', { token: txn }, basic(gateway.clientId, gateway.clientSecret));
    expect(introspected.json()).toEqual({ active: false });
  });
});

describe('transaction token replacement', () => {
  it('keeps txn, sub and context, and may only narrow the scope', async () => {
    const first = (await txnRequest(await accessToken(), { request_context: JSON.stringify(RCTX), request_details: JSON.stringify(TCTX) })).json().access_token;
    const replace = (extra: Record<string, string>) => t.post('trading', 'token', { grant_type: TOKEN_EXCHANGE, requested_token_type: TXN_TOKEN, audience: TRUST_DOMAIN, subject_token: first, subject_token_type: TXN_TOKEN, ...extra }, basic(gateway.clientId, gateway.clientSecret));
    const narrowed = await replace({ scope: 'trade.bonds' });
    expect(narrowed.statusCode, narrowed.body).toBe(200);
    const before = decodeJwt(first);
    const after = decodeJwt(narrowed.json().access_token);
    expect(after).toMatchObject({ txn: before.txn, sub: before.sub, rctx: RCTX, tctx: TCTX, scope: 'trade.bonds' });
    expect(after.exp).toBeLessThanOrEqual(before.exp!);
    const widened = await t.post('trading', 'token', { grant_type: TOKEN_EXCHANGE, requested_token_type: TXN_TOKEN, audience: TRUST_DOMAIN, subject_token: narrowed.json().access_token, subject_token_type: TXN_TOKEN, scope: 'trade.stocks' }, basic(gateway.clientId, gateway.clientSecret));
    expect(widened.json().error).toBe('invalid_scope');
    expect((await replace({ request_details: JSON.stringify({ action: 'SELL' }) })).json().error).toBe('invalid_request');
  });

  it('an expired transaction token cannot be replaced', async () => {
    const first = (await txnRequest(await accessToken())).json().access_token;
    t.clock.advance(61_000);
    const res = await t.post('trading', 'token', { grant_type: TOKEN_EXCHANGE, requested_token_type: TXN_TOKEN, audience: TRUST_DOMAIN, subject_token: first, subject_token_type: TXN_TOKEN }, basic(gateway.clientId, gateway.clientSecret));
    expect(res.json().error).toBe('invalid_request');
  });
});

describe('createTxnTokenVerifier', () => {
  async function verifierFor(trustDomain: string) {
    const jwks = (await t.app.inject({ method: 'GET', url: '/t/trading/jwks.json' })).json();
    return createTxnTokenVerifier({ issuer: `${PUBLIC_URL}/t/trading`, trustDomain, jwks, now: () => t.clock.now });
  }

  it('verifies an issued transaction token and returns its claims', async () => {
    const txn = (await txnRequest(await accessToken(), { scope: 'trade.stocks', request_details: JSON.stringify(TCTX) })).json().access_token;
    const claims = await (await verifierFor(TRUST_DOMAIN)).verify(txn, { scopes: 'trade.stocks' });
    expect(claims.tctx).toEqual(TCTX);
    await expect((await verifierFor(TRUST_DOMAIN)).verify(txn, { scopes: 'trade.bonds' })).rejects.toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE' });
  });

  it('refuses a token for another trust domain and an access token', async () => {
    const txn = (await txnRequest(await accessToken())).json().access_token;
    await expect((await verifierFor('other.example')).verify(txn)).rejects.toMatchObject({ code: 'ERR_AUDIENCE_MISMATCH' });
    await expect((await verifierFor(TRUST_DOMAIN)).verify(await accessToken())).rejects.toMatchObject({ code: 'ERR_TYP_INVALID' });
  });
});

describe('transaction tokens from a user token of a federated issuer', () => {
  let fed: TestServer;
  let idp: ExternalIdp;
  let edge: { clientId: string; clientSecret: string };
  beforeAll(async () => {
    fed = await createTestServer({ config: { outboundAllow: ['127.0.0.1'] } });
    idp = await startExternalIdp();
    edge = await fed.setupClient('default', { apiIdentifier: 'https://edge.example', scopes: ['x'], client: { txnTokenService: true } });
    const federation = await fed.manage('POST', '/tenants/default/federations', { name: 'corporate IdP', kind: 'subject', issuer: idp.issuer, exchangeRules: [{ audience: 'api://edge', clients: [edge.clientId] }] });
    expect(federation.status, JSON.stringify(federation.body)).toBe(201);
  });
  afterAll(async () => {
    await fed.close();
    await idp.close();
  });
  const request = (subjectToken: string, scope?: string) => fed.post('default', 'token', {
    grant_type: TOKEN_EXCHANGE, requested_token_type: TXN_TOKEN, audience: `${PUBLIC_URL}/t/default`, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, ...(scope ? { scope } : {}),
  }, basic(edge.clientId, edge.clientSecret));

  it('the subject is the user (namespaced by issuer) and the user token\'s own scopes are the ceiling', async () => {
    const userToken = await idp.sign({ sub: 'user-1', aud: 'api://edge', scp: 'orders.read orders.write' }, { now: fed.clock.now });
    const res = await request(userToken, 'orders.read');
    expect(res.statusCode, res.body).toBe(200);
    expect(decodeJwt(res.json().access_token)).toMatchObject({ sub: `${idp.issuer}#user-1`, scope: 'orders.read', req_wl: edge.clientId });
    expect((await request(userToken, 'orders.admin')).json().error).toBe('invalid_scope');
  });

  it('a user token for an audience the federation does not let this client exchange is refused', async () => {
    const userToken = await idp.sign({ sub: 'user-1', aud: 'api://other', scp: 'orders.read' }, { now: fed.clock.now });
    expect((await request(userToken)).json().error).toBe('invalid_request');
  });
});
