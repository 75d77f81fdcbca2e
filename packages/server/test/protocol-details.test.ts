/**
 * Protocol details a strict client or library checks: a challenge on every 401, the
 * registered client authentication method, and what the discovery documents claim.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

const ISSUER = `${PUBLIC_URL}/t/default`;

const cc = { grant_type: 'client_credentials' };

describe('WWW-Authenticate on every 401 invalid_client', () => {
  let t: TestServer;
  let client: { clientId: string; clientSecret: string };
  beforeAll(async () => {
    t = await createTestServer();
    client = await t.setupClient('default');
  });
  afterAll(() => t.close());

  const cases: [string, () => Promise<{ statusCode: number; headers: Record<string, unknown>; json(): unknown }>][] = [
    ['no credentials at all (token)', () => t.post('default', 'token', cc)],
    ['no credentials at all (introspect)', () => t.post('default', 'introspect', { token: 'x' })],
    ['no credentials at all (revoke)', () => t.post('default', 'revoke', { token: 'x' })],
    ['a client_id without a secret', () => t.post('default', 'token', { ...cc, client_id: client.clientId })],
    ['a wrong secret over Basic', () => t.post('default', 'token', cc, basic(client.clientId, 'wrong'))],
    ['a client assertion that is not a JWT', () => t.post('default', 'token', { ...cc, client_id: client.clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'nope' })],
  ];
  for (const [name, send] of cases) {
    it(`RFC 9110 §15.5.2 / RFC 6749 §5.2: ${name} is 401 with a Basic challenge naming the issuer as realm`, async () => {
      const res = await send();
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: 'invalid_client' });
      expect(res.headers['www-authenticate']).toBe(`Basic realm="${ISSUER}", charset="UTF-8"`);
    });
  }
});

describe('the registered token_endpoint_auth_method is enforced (RFC 7591 §2)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await createTestServer({ config: { clientAuth: { secretMethods: 'registered' } } });
  });
  afterAll(() => t.close());

  it('RFC 7591 §2 with --secret-methods registered: a client registered for client_secret_basic may not send its secret in the body', async () => {
    const c = await t.setupClient('default');
    const res = await t.post('default', 'token', { ...cc, client_id: c.clientId, client_secret: c.clientSecret });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
    expect((await t.post('default', 'token', cc, basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
  });

  it('RFC 7591 §2 with --secret-methods registered: a client registered for client_secret_post may not use Basic', async () => {
    const c = await t.setupClient('default', { client: { tokenEndpointAuthMethod: 'client_secret_post' } });
    const res = await t.post('default', 'token', cc, basic(c.clientId, c.clientSecret));
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'invalid_client' });
    expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect((await t.post('default', 'token', { ...cc, client_id: c.clientId, client_secret: c.clientSecret })).statusCode).toBe(200);
  });

  it('the mismatch reads like a wrong secret or an unknown client (nothing learnt about the secret or the client)', async () => {
    const c = await t.setupClient('default');
    const right = await t.post('default', 'token', { ...cc, client_id: c.clientId, client_secret: c.clientSecret });
    const wrong = await t.post('default', 'token', { ...cc, client_id: c.clientId, client_secret: 'wrong' });
    const unknown = await t.post('default', 'token', { ...cc, client_id: 'nobody', client_secret: 'wrong' });
    expect(right.json()).toEqual(wrong.json());
    expect(right.json()).toEqual(unknown.json());
  });

  it('by default (--secret-methods either) every secret client may use both methods, as SPEC §3 and admin.json users expect', async () => {
    const lenient = await createTestServer();
    try {
      const c = await lenient.setupClient('default');
      expect((await lenient.post('default', 'token', { ...cc, client_id: c.clientId, client_secret: c.clientSecret })).statusCode).toBe(200);
      expect((await lenient.post('default', 'token', cc, basic(c.clientId, c.clientSecret))).statusCode).toBe(200);
      const wrongSecret = await lenient.post('default', 'token', { ...cc, client_id: c.clientId, client_secret: 'wrong' });
      expect(wrongSecret.statusCode).toBe(401);
    } finally {
      await lenient.close();
    }
  });
});

describe('discovery documents', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await createTestServer();
  });
  afterAll(() => t.close());

  it('RFC 8414 §2: the metadata has every REQUIRED member, and claims no endpoint Tessera lacks', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server/t/default' });
    expect(res.statusCode).toBe(200);
    const metadata = res.json();
    expect(metadata.issuer).toBe(ISSUER);
    expect(metadata.token_endpoint).toBe(`${ISSUER}/token`);
    expect(metadata.jwks_uri).toBe(`${ISSUER}/jwks.json`);
    // REQUIRED; empty because there is no authorization endpoint (machine-to-machine only).
    expect(metadata.response_types_supported).toEqual([]);
    expect(metadata).not.toHaveProperty('authorization_endpoint');
    expect(metadata).not.toHaveProperty('id_token_signing_alg_values_supported');
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt']));
  });

  it('RFC 8414 §5: /.well-known/openid-configuration serves the same metadata (docs/tenants.md says why: not an OpenID Provider)', async () => {
    const oidc = (await t.app.inject({ method: 'GET', url: '/t/default/.well-known/openid-configuration' })).json();
    const oauth = (await t.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server/t/default' })).json();
    expect(oidc).toEqual(oauth);
  });
});
