import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';

let t: TestServer;
let owner: { clientId: string; clientSecret: string; identifier: string; apiId: string };
let stranger: { clientId: string; clientSecret: string };
let introspector: { clientId: string; clientSecret: string };

async function tokenFor(c: { clientId: string; clientSecret: string }, tenant = 'default'): Promise<string> {
  const res = await t.post(tenant, 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret));
  expect(res.statusCode).toBe(200);
  return res.json().access_token as string;
}

beforeAll(async () => {
  t = await createTestServer();
  owner = await t.setupClient('default', { apiIdentifier: 'https://inventory.example', scopes: ['inv:read'] });
  stranger = await t.setupClient('default', { apiIdentifier: 'https://elsewhere.example' });
  introspector = await t.setupClient('default', { apiIdentifier: 'https://elsewhere2.example' });
  await t.manage('PATCH', `/tenants/default/apis/${owner.apiId}`, { introspectors: [introspector.clientId] });
});
afterAll(() => t.close());

describe('introspection (RFC 7662)', () => {
  it('§2.2: the token\'s own client learns everything about it', async () => {
    const token = await tokenFor(owner);
    const res = await t.post('default', 'introspect', { token }, basic(owner.clientId, owner.clientSecret));
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toMatchObject({ active: true, client_id: owner.clientId, sub: owner.clientId, aud: 'https://inventory.example', scope: 'inv:read', token_type: 'Bearer' });
  });

  it('an API\'s introspector learns about its tokens', async () => {
    const token = await tokenFor(owner);
    const res = await t.post('default', 'introspect', { token, token_type_hint: 'access_token' }, basic(introspector.clientId, introspector.clientSecret));
    expect(res.json()).toMatchObject({ active: true, client_id: owner.clientId });
  });

  it('anyone else gets {"active": false} alone', async () => {
    const token = await tokenFor(owner);
    const res = await t.post('default', 'introspect', { token }, basic(stranger.clientId, stranger.clientSecret));
    expect(res.json()).toEqual({ active: false });
  });

  it('unknown, garbage and expired tokens are {"active": false} alone', async () => {
    for (const token of ['nope', 'a.b.c', 'x'.repeat(5000)]) {
      const res = await t.post('default', 'introspect', { token }, basic(owner.clientId, owner.clientSecret));
      expect(res.json()).toEqual({ active: false });
    }
    const token = await tokenFor(owner);
    t.clock.advance(3601_000);
    const res = await t.post('default', 'introspect', { token }, basic(owner.clientId, owner.clientSecret));
    t.clock.advance(-3601_000);
    expect(res.json()).toEqual({ active: false });
  });

  it('§2.1: introspection requires client authentication', async () => {
    const token = await tokenFor(owner);
    const res = await t.post('default', 'introspect', { token });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('§2.1: a missing token parameter is invalid_request', async () => {
    const res = await t.post('default', 'introspect', {}, basic(owner.clientId, owner.clientSecret));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('a token of another tenant is inactive here', async () => {
    await t.manage('POST', '/tenants', { id: 'other' });
    const other = await t.setupClient('other');
    const token = await tokenFor(other, 'other');
    const res = await t.post('default', 'introspect', { token }, basic(owner.clientId, owner.clientSecret));
    expect(res.json()).toEqual({ active: false });
  });
});

describe('revocation (RFC 7009)', () => {
  it('§2.2: revoking a JWT makes it inactive; the answer is 200', async () => {
    const token = await tokenFor(owner);
    const res = await t.post('default', 'revoke', { token, token_type_hint: 'access_token' }, basic(owner.clientId, owner.clientSecret));
    expect(res.statusCode).toBe(200);
    const after = await t.post('default', 'introspect', { token }, basic(owner.clientId, owner.clientSecret));
    expect(after.json()).toEqual({ active: false });
  });

  it('§2.2: an invalid token still gets 200', async () => {
    const res = await t.post('default', 'revoke', { token: 'garbage' }, basic(owner.clientId, owner.clientSecret));
    expect(res.statusCode).toBe(200);
  });

  it('§2.1: a client cannot revoke another client\'s token', async () => {
    const token = await tokenFor(owner);
    const res = await t.post('default', 'revoke', { token }, basic(stranger.clientId, stranger.clientSecret));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'unauthorized_client' });
    const still = await t.post('default', 'introspect', { token }, basic(owner.clientId, owner.clientSecret));
    expect(still.json().active).toBe(true);
  });

  it('§2.1: revocation requires client authentication', async () => {
    const res = await t.post('default', 'revoke', { token: 'x' });
    expect(res.statusCode).toBe(401);
  });
});

describe('opaque tokens', () => {
  it('are random references that only introspection resolves, revocable at once', async () => {
    const setup = await t.setupClient('default', { apiIdentifier: 'https://opaque.example', tokenFormat: 'opaque' });
    const token = await tokenFor(setup);
    expect(token.split('.')).toHaveLength(1);
    expect(token.length).toBeGreaterThanOrEqual(43);
    const active = await t.post('default', 'introspect', { token }, basic(setup.clientId, setup.clientSecret));
    expect(active.json()).toMatchObject({ active: true, aud: 'https://opaque.example', client_id: setup.clientId });
    expect((await t.post('default', 'revoke', { token }, basic(setup.clientId, setup.clientSecret))).statusCode).toBe(200);
    const revoked = await t.post('default', 'introspect', { token }, basic(setup.clientId, setup.clientSecret));
    expect(revoked.json()).toEqual({ active: false });
  });
});

describe('client lifecycle ends tokens', () => {
  it('deleting an API makes its tokens inactive', async () => {
    const setup = await t.setupClient('default', { apiIdentifier: 'https://short-lived-api.example' });
    const token = await tokenFor(setup);
    expect((await t.post('default', 'introspect', { token }, basic(setup.clientId, setup.clientSecret))).json().active).toBe(true);
    await t.manage('DELETE', `/tenants/default/apis/${setup.apiId}`);
    expect((await t.post('default', 'introspect', { token }, basic(setup.clientId, setup.clientSecret))).json()).toEqual({ active: false });
    t.clock.advance(5000);
    await t.manage('POST', '/tenants/default/apis', { identifier: 'https://short-lived-api.example', scopes: [{ value: 'read' }] });
    expect((await t.post('default', 'introspect', { token }, basic(setup.clientId, setup.clientSecret))).json()).toEqual({ active: false });
  });

  it('disabling a client makes its tokens inactive; deleting it too', async () => {
    const setup = await t.setupClient('default', { apiIdentifier: 'https://inventory.example', scopes: ['inv:read'] });
    const token = await tokenFor(setup);
    await t.manage('PATCH', `/tenants/default/clients/${setup.clientId}`, { disabled: true });
    const viaIntrospector = await t.post('default', 'introspect', { token }, basic(introspector.clientId, introspector.clientSecret));
    expect(viaIntrospector.json()).toEqual({ active: false });
    await t.manage('PATCH', `/tenants/default/clients/${setup.clientId}`, { disabled: false });
    expect((await t.post('default', 'introspect', { token }, basic(introspector.clientId, introspector.clientSecret))).json().active).toBe(true);
    await t.manage('DELETE', `/tenants/default/clients/${setup.clientId}`);
    expect((await t.post('default', 'introspect', { token }, basic(introspector.clientId, introspector.clientSecret))).json()).toEqual({ active: false });
  });
});
