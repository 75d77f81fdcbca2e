/**
 * private_key_jwt (RFC 7523 §2.2 and §3, RFC 7521 §4.2) at the token, introspection
 * and revocation endpoints, with a frozen clock. Every rule of RFC 7523 §3 has a test
 * named after it; the client's key set is inline (jwks) or remote (jwksUri, served
 * by a real HTTP server on 127.0.0.1 so the fetch, the cache and the refetch on an
 * unknown kid are the ones production uses).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientKeys } from '../src/oauth/client-auth/client-keys.js';
import { ASSERTION_NOT_VERIFIED, JWT_BEARER_ASSERTION_TYPE } from '../src/oauth/client-auth/private-key-jwt.js';
import type { Client } from '../src/store/types.js';
import { createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

interface KeyPair {
  kid: string;
  alg: string;
  privateKey: PrivateKey;
  publicJwk: JWK;
}

async function keyPair(kid: string, alg = 'ES256'): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' } };
}

const ISSUER = `${PUBLIC_URL}/t/default`;
const TOKEN_ENDPOINT = `${ISSUER}/token`;

let t: TestServer;
let key: KeyPair;
let otherKey: KeyPair;
let clientId: string;
let identifier: string;
let jtiCounter = 0;

function nowSeconds(): number {
  return Math.floor(t.clock.now / 1000);
}

/** A valid assertion for `clientId`, with `claims` overriding (undefined removes a claim). */
async function assertion(
  options: { claims?: Record<string, unknown>; key?: KeyPair; header?: Record<string, unknown>; subject?: string } = {},
): Promise<string> {
  const signer = options.key ?? key;
  const subject = options.subject ?? clientId;
  jtiCounter += 1;
  const base: Record<string, unknown> = {
    iss: subject,
    sub: subject,
    aud: TOKEN_ENDPOINT,
    iat: nowSeconds(),
    exp: nowSeconds() + 60,
    jti: `jti-${jtiCounter}-${Math.random().toString(36).slice(2)}`,
  };
  const payload = Object.fromEntries(
    Object.entries({ ...base, ...options.claims }).filter(([, v]) => v !== undefined),
  );
  return new SignJWT(payload)
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, ...options.header })
    .sign(signer.privateKey);
}

function tokenRequest(clientAssertion: string, extra: Record<string, string> = {}) {
  return t.post('default', 'token', {
    grant_type: 'client_credentials',
    client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
    client_assertion: clientAssertion,
    ...extra,
  });
}

async function expectInvalidClient(response: Awaited<ReturnType<typeof tokenRequest>>, description?: RegExp | string): Promise<void> {
  expect(response.statusCode, response.body).toBe(401);
  const body = response.json() as { error: string; error_description: string };
  expect(body.error).toBe('invalid_client');
  if (typeof description === 'string') expect(body.error_description).toBe(description);
  else if (description !== undefined) expect(body.error_description).toMatch(description);
}

async function createKeyClient(client: Record<string, unknown>): Promise<string> {
  const created = await t.setupClient('default', { apiIdentifier: identifier, scopes: ['orders:read'], client: { tokenEndpointAuthMethod: 'private_key_jwt', ...client } });
  return created.clientId;
}

beforeAll(async () => {
  t = await createTestServer({ config: { outboundAllow: ['127.0.0.1'] } });
  key = await keyPair('key-1');
  otherKey = await keyPair('key-1');
  const created = await t.setupClient('default', {
    apiIdentifier: 'https://orders.example',
    scopes: ['orders:read'],
    client: { tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [key.publicJwk] } },
  });
  clientId = created.clientId;
  identifier = created.identifier;
});

afterAll(async () => {
  await t.close();
});

describe('private_key_jwt: accepted assertions', () => {
  it('draft-ietf-oauth-rfc7523bis: typ client-authentication+jwt with aud = issuer is accepted, as are JWT and no typ', async () => {
    for (const typ of ['client-authentication+jwt', 'application/client-authentication+jwt', 'JWT', undefined]) {
      const response = await tokenRequest(await assertion({ header: typ === undefined ? {} : { typ }, claims: { aud: `${PUBLIC_URL}/t/default` } }));
      expect(response.statusCode, `${typ}: ${response.body}`).toBe(200);
    }
  });

  it('draft-ietf-oauth-rfc7523bis: another JWT type (at+jwt, dpop+jwt) is no client assertion', async () => {
    for (const typ of ['at+jwt', 'dpop+jwt']) await expectInvalidClient(await tokenRequest(await assertion({ header: { typ } })), /typ/);
  });

  it('RFC 7523 §2.2: a valid assertion authenticates the client and the token names it', async () => {
    const response = await tokenRequest(await assertion());
    expect(response.statusCode, response.body).toBe(200);
    const { access_token } = response.json() as { access_token: string };
    const claims = JSON.parse(Buffer.from(access_token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
    expect(claims['sub']).toBe(clientId);
    expect(claims['client_id']).toBe(clientId);
    expect(claims['cnf']).toBeUndefined();
  });

  it('RFC 7523 §3 item 3: aud may be the issuer, the token endpoint, or a list containing one', async () => {
    for (const aud of [ISSUER, TOKEN_ENDPOINT, ['https://elsewhere.example', ISSUER]]) {
      const response = await tokenRequest(await assertion({ claims: { aud } }));
      expect(response.statusCode, `${JSON.stringify(aud)}: ${response.body}`).toBe(200);
    }
  });

  it('RFC 7523 §3 item 3: at the introspection and revocation endpoints, their own URL is an accepted aud', async () => {
    const token = (await tokenRequest(await assertion())).json().access_token as string;
    const introspect = await t.post('default', 'introspect', {
      token,
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: await assertion({ claims: { aud: `${ISSUER}/introspect` } }),
    });
    expect(introspect.statusCode, introspect.body).toBe(200);
    expect(introspect.json()).toMatchObject({ active: true, client_id: clientId });
    const revoke = await t.post('default', 'revoke', {
      token,
      client_assertion_type: JWT_BEARER_ASSERTION_TYPE,
      client_assertion: await assertion({ claims: { aud: `${ISSUER}/revoke` } }),
    });
    expect(revoke.statusCode, revoke.body).toBe(200);
  });

  it('RFC 7521 §4.2: a client_id parameter equal to the assertion sub is allowed', async () => {
    const response = await tokenRequest(await assertion(), { client_id: clientId });
    expect(response.statusCode, response.body).toBe(200);
  });

  it('RFC 7523 §3 item 4: exp exactly maxLifetime (300 s) ahead, and exp just inside the clock tolerance, are accepted', async () => {
    expect((await tokenRequest(await assertion({ claims: { exp: nowSeconds() + 300 } }))).statusCode).toBe(200);
    expect((await tokenRequest(await assertion({ claims: { exp: nowSeconds() - 5, iat: nowSeconds() - 60 } }))).statusCode).toBe(200);
  });

  it('RFC 7515 §4.1.4: without a kid, every registered key of the right type is tried', async () => {
    const second = await keyPair('second');
    const id = await createKeyClient({ jwks: { keys: [key.publicJwk, second.publicJwk].map(({ kid: _kid, ...jwk }) => jwk) } });
    for (const signer of [key, second]) {
      const jwt = await new SignJWT({ iss: id, sub: id, aud: ISSUER, exp: nowSeconds() + 60, jti: `no-kid-${signer.kid}` })
        .setProtectedHeader({ alg: 'ES256' })
        .sign(signer.privateKey);
      const response = await tokenRequest(jwt);
      expect(response.statusCode, response.body).toBe(200);
    }
  });

  it('RFC 7518 §3: RS256, PS256 and EdDSA client keys work too', async () => {
    for (const alg of ['RS256', 'PS256', 'EdDSA']) {
      const pair = await keyPair(`k-${alg}`, alg);
      const id = await createKeyClient({ jwks: { keys: [pair.publicJwk] } });
      const response = await tokenRequest(await assertion({ key: pair, subject: id }));
      expect(response.statusCode, `${alg}: ${response.body}`).toBe(200);
    }
  });
});

describe('private_key_jwt: RFC 7521 §4.2 request parameters', () => {
  it('RFC 7521 §4.2.1: an unsupported client_assertion_type is invalid_client', async () => {
    const response = await t.post('default', 'token', {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
      client_assertion: await assertion(),
    });
    await expectInvalidClient(response, /client_assertion_type must be/);
  });

  it('RFC 7521 §4.2: client_assertion without client_assertion_type (or the reverse) is invalid_request', async () => {
    const missingType = await t.post('default', 'token', { grant_type: 'client_credentials', client_assertion: await assertion() });
    expect(missingType.statusCode).toBe(400);
    expect(missingType.json().error).toBe('invalid_request');
    const missingAssertion = await t.post('default', 'token', { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE });
    expect(missingAssertion.statusCode).toBe(400);
    expect(missingAssertion.json().error).toBe('invalid_request');
  });

  it('RFC 7521 §4.2: a client_id parameter that differs from the assertion sub is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion(), { client_id: 'someone-else' }), /client_id does not match/);
  });

  it('RFC 6749 §2.3: an assertion together with a client secret is more than one method', async () => {
    const response = await tokenRequest(await assertion(), { client_secret: 'x' });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe('invalid_request');
  });

  it('RFC 7523 §3: an assertion that is not a compact JWS is rejected', async () => {
    await expectInvalidClient(await tokenRequest('not-a-jwt'), /not a compact JWS/);
  });
});

describe('private_key_jwt: RFC 7523 §3 claims', () => {
  it('RFC 7523 §3 item 1: iss other than the client_id is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { iss: 'someone-else' } })), /iss and sub must both be the client_id/);
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { iss: undefined } })), /iss is required/);
  });

  it('RFC 7523 §3 item 2: sub other than the client_id is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { sub: 'someone-else' } })), /iss and sub must both be the client_id/);
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { sub: undefined } })), /sub is required/);
  });

  it('RFC 7523 §3 item 3: an aud that is not this server is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { aud: 'https://other-as.example/token' } })), /aud must contain the issuer/);
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { aud: `${PUBLIC_URL}/t/admin` } })), /aud must contain the issuer/);
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { aud: undefined } })), /aud is required/);
    // SPEC §3: at the token endpoint, the issuer or the token endpoint; not another endpoint's URL.
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { aud: `${ISSUER}/revoke` } })), /aud must contain the issuer/);
  });

  it('RFC 7523 §3 item 4: an assertion without exp is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { exp: undefined } })), /exp is required/);
  });

  it('RFC 7523 §3 item 4: an expired assertion is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { exp: nowSeconds() - 31, iat: nowSeconds() - 120 } })), 'client assertion has expired (RFC 7523 §3 item 4)');
    const stored = await assertion();
    t.clock.advance(91_000);
    await expectInvalidClient(await tokenRequest(stored), /has expired/);
  });

  it('RFC 7523 §3 item 4 (SPEC §3): exp more than 5 minutes ahead is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { exp: nowSeconds() + 600 } })), /too far in the future/);
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { exp: nowSeconds() + 301 } })), /too far in the future/);
    expect((await tokenRequest(await assertion({ claims: { exp: nowSeconds() + 300 } }))).statusCode).toBe(200);
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { exp: nowSeconds() + 10 * 365 * 86_400 } })), /too far in the future/);
  });

  it('RFC 7519 §2: exp that is not a NumericDate is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { exp: String(nowSeconds() + 60) } })), /NumericDate/);
  });

  it('RFC 7523 §3 item 5: nbf in the future is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { nbf: nowSeconds() + 120 } })), /nbf is in the future/);
    expect((await tokenRequest(await assertion({ claims: { nbf: nowSeconds() + 10 } }))).statusCode).toBe(200);
  });

  it('RFC 7523 §3 item 6: iat in the future is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { iat: nowSeconds() + 120 } })), /iat is in the future/);
  });

  it('RFC 7523 §3 item 7: an assertion without jti is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { jti: undefined } })), /jti is required/);
  });

  it('RFC 7523 §3 item 7: a replayed jti is rejected', async () => {
    const jwt = await assertion();
    expect((await tokenRequest(jwt)).statusCode).toBe(200);
    await expectInvalidClient(await tokenRequest(jwt), 'client assertion jti was already used (RFC 7523 §3 item 7)');
    // A new assertion that reuses the jti is a replay too.
    const jti = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()).jti as string;
    await expectInvalidClient(await tokenRequest(await assertion({ claims: { jti } })), /already used/);
  });

  it('RFC 7523 §3 item 7: a jti stays used while its assertion is still accepted within the clock tolerance, even after a purge', async () => {
    const jwt = await assertion({ claims: { exp: nowSeconds() + 1 } });
    expect((await tokenRequest(jwt)).statusCode).toBe(200);
    t.clock.advance(10_000); // exp has passed, but is within the 30 s tolerance
    await t.store.state().purgeExpired(t.clock.now);
    await expectInvalidClient(await tokenRequest(jwt), /already used/);
  });

  it('RFC 7523 §3 item 7: two concurrent requests with one assertion get exactly one token', async () => {
    const jwt = await assertion();
    const responses = await Promise.all([tokenRequest(jwt), tokenRequest(jwt), tokenRequest(jwt)]);
    expect(responses.map((r) => r.statusCode).sort()).toEqual([200, 401, 401]);
  });

  it('RFC 7523 §3 item 7: a jti is consumed only by an assertion whose signature verifies', async () => {
    const jti = 'forged-first';
    await expectInvalidClient(await tokenRequest(await assertion({ key: otherKey, claims: { jti } })), ASSERTION_NOT_VERIFIED);
    expect((await tokenRequest(await assertion({ claims: { jti } }))).statusCode).toBe(200);
  });
});

describe('private_key_jwt: RFC 7523 §3 item 9 signatures and keys', () => {
  it('RFC 7523 §3 item 9: a signature by a key the client did not register is rejected', async () => {
    await expectInvalidClient(await tokenRequest(await assertion({ key: otherKey })), ASSERTION_NOT_VERIFIED);
  });

  it('RFC 7523 §3 item 9: a tampered payload is rejected', async () => {
    const [h, , s] = (await assertion()).split('.');
    const forged = Buffer.from(JSON.stringify({ iss: clientId, sub: clientId, aud: ISSUER, exp: nowSeconds() + 60, jti: 'tampered' })).toString('base64url');
    await expectInvalidClient(await tokenRequest(`${h}.${forged}.${s}`), ASSERTION_NOT_VERIFIED);
  });

  it('RFC 7518 §3.2 / RFC 8725 §3.1: an HMAC-signed assertion is rejected whatever its key', async () => {
    const secret = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!!');
    const jwt = await new SignJWT({ iss: clientId, sub: clientId, aud: ISSUER, exp: nowSeconds() + 60, jti: 'hmac' })
      .setProtectedHeader({ alg: 'HS256', kid: key.kid })
      .sign(secret);
    await expectInvalidClient(await tokenRequest(jwt), /alg must be one of/);
  });

  it('RFC 7518 §3.6 / RFC 8725 §3.1: an unsecured (alg none) assertion is rejected', async () => {
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsecured = `${encode({ alg: 'none' })}.${encode({ iss: clientId, sub: clientId, aud: ISSUER, exp: nowSeconds() + 60, jti: 'none' })}.`;
    await expectInvalidClient(await tokenRequest(unsecured), /not a compact JWS|alg must be one of/);
    const withJunkSignature = `${encode({ alg: 'none' })}.${encode({ iss: clientId, sub: clientId, aud: ISSUER, exp: nowSeconds() + 60, jti: 'none2' })}.AA`;
    await expectInvalidClient(await tokenRequest(withJunkSignature), /alg must be one of/);
  });

  it('RFC 7515 §4.1.4: an unknown kid is rejected', async () => {
    const stranger = await keyPair('not-registered');
    await expectInvalidClient(await tokenRequest(await assertion({ key: stranger })), ASSERTION_NOT_VERIFIED);
  });

  it('RFC 7518 §3.1: a registered key whose alg differs from the header alg is not used', async () => {
    const pinned = await keyPair('pinned');
    const id = await createKeyClient({ jwks: { keys: [{ ...pinned.publicJwk, alg: 'ES384' }] } });
    await expectInvalidClient(await tokenRequest(await assertion({ key: pinned, subject: id })), ASSERTION_NOT_VERIFIED);
  });

  it('RFC 7523 §3 item 9: an unknown client reads the same as a bad signature', async () => {
    const response = await tokenRequest(await assertion({ subject: 'no-such-client' }));
    await expectInvalidClient(response, ASSERTION_NOT_VERIFIED);
  });

  it('RFC 7591 §2 token_endpoint_auth_method: a client registered for another method cannot use private_key_jwt', async () => {
    const secretClient = await t.setupClient('default', { apiIdentifier: identifier, scopes: ['orders:read'] });
    const response = await tokenRequest(await assertion({ subject: secretClient.clientId }));
    await expectInvalidClient(response, ASSERTION_NOT_VERIFIED);
  });

  it('RFC 7523 §3 item 9: a disabled client is rejected the same way', async () => {
    const pair = await keyPair('disabled-key');
    const id = await createKeyClient({ jwks: { keys: [pair.publicJwk] } });
    expect((await tokenRequest(await assertion({ key: pair, subject: id }))).statusCode).toBe(200);
    const patched = await t.manage('PATCH', `/tenants/default/clients/${id}`, { disabled: true });
    expect(patched.status).toBe(200);
    await expectInvalidClient(await tokenRequest(await assertion({ key: pair, subject: id })), ASSERTION_NOT_VERIFIED);
  });

  it('a private_key_jwt client cannot authenticate with a secret or with client_id alone', async () => {
    const secret = await t.post('default', 'token', { grant_type: 'client_credentials', client_id: clientId, client_secret: 'guess' });
    expect(secret.statusCode).toBe(401);
    const bare = await t.post('default', 'token', { grant_type: 'client_credentials', client_id: clientId });
    expect(bare.statusCode).toBe(401);
  });

  it('RFC 7523 §3 item 9: after a PATCH of the client jwks (rotation with overlap), old and new keys work, then only the new one', async () => {
    const oldKey = await keyPair('old');
    const newKey = await keyPair('new');
    const id = await createKeyClient({ jwks: { keys: [oldKey.publicJwk] } });
    expect((await tokenRequest(await assertion({ key: oldKey, subject: id }))).statusCode).toBe(200);
    t.clock.advance(1000);
    expect((await t.manage('PATCH', `/tenants/default/clients/${id}`, { jwks: { keys: [oldKey.publicJwk, newKey.publicJwk] } })).status).toBe(200);
    expect((await tokenRequest(await assertion({ key: oldKey, subject: id }))).statusCode).toBe(200);
    expect((await tokenRequest(await assertion({ key: newKey, subject: id }))).statusCode).toBe(200);
    t.clock.advance(1000);
    expect((await t.manage('PATCH', `/tenants/default/clients/${id}`, { jwks: { keys: [newKey.publicJwk] } })).status).toBe(200);
    await expectInvalidClient(await tokenRequest(await assertion({ key: oldKey, subject: id })), ASSERTION_NOT_VERIFIED);
    expect((await tokenRequest(await assertion({ key: newKey, subject: id }))).statusCode).toBe(200);
  });
});

describe('private_key_jwt: jwksUri', () => {
  let jwksServer: Server;
  let jwksUrl: string;
  let served: { keys: JWK[] } = { keys: [] };
  let fetches = 0;
  let down = false;

  beforeAll(async () => {
    jwksServer = createServer((_request, response) => {
      fetches += 1;
      if (down) {
        response.writeHead(503).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=600' });
      response.end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  });

  afterAll(async () => {
    await new Promise((resolve) => jwksServer.close(resolve));
  });

  it('RFC 7523 §3 item 9: rotation at the remote key set is picked up with one refetch, at most once per cooldown', async () => {
    const first = await keyPair('remote-1');
    const second = await keyPair('remote-2');
    const third = await keyPair('remote-3');
    served = { keys: [first.publicJwk] };
    const id = await createKeyClient({ jwksUri: jwksUrl });
    fetches = 0;

    expect((await tokenRequest(await assertion({ key: first, subject: id }))).statusCode).toBe(200);
    expect((await tokenRequest(await assertion({ key: first, subject: id }))).statusCode).toBe(200);
    expect(fetches).toBe(1); // cached for max-age

    // The client rotates: its set now holds the new key only.
    served = { keys: [second.publicJwk] };
    t.clock.advance(31_000);
    expect((await tokenRequest(await assertion({ key: second, subject: id }))).statusCode).toBe(200);
    expect(fetches).toBe(2);

    // Another unknown kid right away: no refetch within the cooldown.
    served = { keys: [second.publicJwk, third.publicJwk] };
    await expectInvalidClient(await tokenRequest(await assertion({ key: third, subject: id })), ASSERTION_NOT_VERIFIED);
    expect(fetches).toBe(2);
    t.clock.advance(31_000);
    expect((await tokenRequest(await assertion({ key: third, subject: id }))).statusCode).toBe(200);
    expect(fetches).toBe(3);
  });

  it('RFC 7523 §3 item 9: while the remote key set is down, the cached keys keep working', async () => {
    const pair = await keyPair('outage');
    served = { keys: [pair.publicJwk] };
    // Another URL path, so this test has its own cache entry.
    const id = await createKeyClient({ jwksUri: `${jwksUrl}?outage` });
    expect((await tokenRequest(await assertion({ key: pair, subject: id }))).statusCode).toBe(200);
    down = true;
    try {
      t.clock.advance(3600_000); // past the cache lifetime
      expect((await tokenRequest(await assertion({ key: pair, subject: id }))).statusCode).toBe(200);
    } finally {
      down = false;
    }
  });

  it('RFC 7523 §3 item 9: a client whose key set was never reachable is rejected like a bad signature', async () => {
    const pair = await keyPair('unreachable');
    const id = await createKeyClient({ jwksUri: 'http://127.0.0.1:9/jwks.json' });
    await expectInvalidClient(await tokenRequest(await assertion({ key: pair, subject: id })), ASSERTION_NOT_VERIFIED);
  });
});

describe('ClientKeys', () => {
  const client = (overrides: Partial<Client>): Client => ({
    customClaims: {},
    tenantId: 'default',
    clientId: 'c1',
    name: 'c1',
    tokenEndpointAuthMethod: 'private_key_jwt',
    jwks: null,
    jwksUri: 'https://client.example/jwks.json',
    tlsClientAuthSubjectDn: null,
    accessTokenLifetime: null,
    disabled: false,
    createdAt: 0,
    updatedAt: 0,
    ...overrides,
  });

  function fakeFetch(handler: () => Response | Promise<Response>) {
    const calls: string[] = [];
    const fetch = async (url: string) => {
      calls.push(url);
      return handler();
    };
    return { calls, fetch };
  }

  it('refuses a key set that streams past the size limit without a Content-Length, and never follows redirects', async () => {
    const huge = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(64 * 1024).fill(32));
      },
    });
    const seen: { redirect?: string }[] = [];
    const keys = new ClientKeys({
      fetch: async (_url, init) => {
        seen.push(init);
        return new Response(huge);
      },
      now: () => 0,
    });
    await expect(keys.find(client({}), () => true)).rejects.toThrow();
    expect(seen[0]?.redirect).toBe('error');
  });

  it('fetches once for concurrent callers, honours Cache-Control max-age, and keeps stale keys when a refetch fails', async () => {
    const pair = await keyPair('a');
    let clock = 0;
    let fail = false;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { calls, fetch } = fakeFetch(async () => {
      await gate;
      if (fail) throw new Error('network down');
      return new Response(JSON.stringify({ keys: [pair.publicJwk] }), { headers: { 'cache-control': 'max-age=120' } });
    });
    const keys = new ClientKeys({ fetch, now: () => clock });
    const all = () => true;
    const pending = [keys.find(client({}), all), keys.find(client({}), all), keys.find(client({ clientId: 'c2' }), all)];
    release();
    const results = await Promise.all(pending);
    expect(results.map((r) => r.length)).toEqual([1, 1, 1]);
    expect(calls).toHaveLength(1);

    clock = 119_000;
    await keys.find(client({}), all);
    expect(calls).toHaveLength(1);
    clock = 121_000;
    fail = true;
    expect(await keys.find(client({}), all)).toHaveLength(1); // stale keys served
    expect(calls).toHaveLength(2);
    await keys.find(client({}), all);
    expect(calls).toHaveLength(2); // no retry within the cooldown
  });

  it('bounds Cache-Control max-age and refetches on an unknown key at most once per cooldown', async () => {
    const pair = await keyPair('a');
    let clock = 0;
    const { calls, fetch } = fakeFetch(() => new Response(JSON.stringify({ keys: [pair.publicJwk] }), { headers: { 'cache-control': 'max-age=31536000' } }));
    const keys = new ClientKeys({ fetch, now: () => clock });
    const kid = (wanted: string) => (k: { jwk: Record<string, unknown> }) => k.jwk['kid'] === wanted;
    expect(await keys.find(client({}), kid('a'))).toHaveLength(1);
    expect(await keys.find(client({}), kid('b'))).toHaveLength(0);
    expect(calls).toHaveLength(1); // within the cooldown of the first fetch
    clock = 30_000;
    expect(await keys.find(client({}), kid('b'))).toHaveLength(0);
    expect(calls).toHaveLength(2);
    clock = 3_600_000 + 30_000; // max-age capped at one hour
    await keys.find(client({}), kid('a'));
    expect(calls).toHaveLength(3);
  });

  it('gives up after the timeout and reports the set unavailable', async () => {
    const fetch = (_url: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    const keys = new ClientKeys({ fetch, timeout: 50 });
    await expect(keys.find(client({}), () => true)).rejects.toMatchObject({ code: 'ERR_CLIENT_JWKS_UNAVAILABLE' });
  });

  it('imports an inline jwks once per client version and skips private, symmetric and encryption keys', async () => {
    const pair = await keyPair('a');
    const keys = new ClientKeys();
    const jwks = { keys: [pair.publicJwk, { kty: 'oct', k: 'c2VjcmV0' }, { ...pair.publicJwk, kid: 'enc', use: 'enc' }, { ...pair.publicJwk, kid: 'priv', d: 'AAAA' }] };
    const first = await keys.find(client({ jwks, jwksUri: null }), () => true);
    expect(first.map((k) => k.jwk['kid'])).toEqual(['a']);
    const again = await keys.find(client({ jwks, jwksUri: null }), () => true);
    expect(again[0]?.key).toBe(first[0]?.key);
    const updated = await keys.find(client({ jwks: { keys: [pair.publicJwk] }, jwksUri: null, updatedAt: 1 }), () => true);
    expect(updated[0]?.key).not.toBe(first[0]?.key);
  });
});
