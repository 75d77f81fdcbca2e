/** RFC 9701: JWT responses from the introspection endpoint. */
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

let t: TestServer;
let client: { clientId: string; clientSecret: string };
beforeAll(async () => {
  t = await createTestServer();
  client = await t.setupClient('default', { apiIdentifier: 'https://introspected.example', scopes: ['a'] });
});
afterAll(() => t.close());

describe('JWT introspection responses (RFC 9701)', () => {
  it('RFC 9701 §4, §5: Accept application/token-introspection+jwt gets a JWT signed by the tenant key with the answer in token_introspection', async () => {
    const token = (await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(client.clientId, client.clientSecret))).json().access_token;
    const res = await t.post('default', 'introspect', { token }, { ...basic(client.clientId, client.clientSecret), accept: 'application/token-introspection+jwt' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/token-introspection\+jwt/);
    expect(res.headers['cache-control']).toBe('no-store');
    const jwks = createLocalJWKSet((await t.app.inject({ method: 'GET', url: '/t/default/jwks.json' })).json());
    const { payload, protectedHeader } = await jwtVerify(res.body, jwks, { issuer: `${PUBLIC_URL}/t/default`, audience: client.clientId, typ: 'token-introspection+jwt', currentDate: new Date(t.clock.now) });
    expect(protectedHeader.typ).toBe('token-introspection+jwt');
    expect(payload.iat).toBe(Math.floor(t.clock.now / 1000));
    expect(payload.token_introspection).toMatchObject({ active: true, client_id: client.clientId, aud: 'https://introspected.example' });
  });

  it('RFC 9701 §5: an inactive token is {"active": false} inside the JWT', async () => {
    const res = await t.post('default', 'introspect', { token: 'nope' }, { ...basic(client.clientId, client.clientSecret), accept: 'application/token-introspection+jwt' });
    const payload = JSON.parse(Buffer.from(res.body.split('.')[1] ?? '', 'base64url').toString());
    expect(payload.token_introspection).toEqual({ active: false });
  });

  it('without that Accept the answer stays plain JSON; a signed answer is never an access token', async () => {
    const token = (await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(client.clientId, client.clientSecret))).json().access_token;
    const plain = await t.post('default', 'introspect', { token }, { ...basic(client.clientId, client.clientSecret), accept: 'application/json' });
    expect(plain.json().active).toBe(true);
    const signed = (await t.post('default', 'introspect', { token }, { ...basic(client.clientId, client.clientSecret), accept: 'application/token-introspection+jwt' })).body;
    const again = await t.post('default', 'introspect', { token: signed }, basic(client.clientId, client.clientSecret));
    expect(again.json()).toEqual({ active: false });
  });

  it('RFC 9701 §7: discovery lists introspection_signing_alg_values_supported', async () => {
    const metadata = (await t.app.inject({ method: 'GET', url: '/t/default/.well-known/openid-configuration' })).json();
    expect(metadata.introspection_signing_alg_values_supported).toEqual(['ES256']);
  });
});
