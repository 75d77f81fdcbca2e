/**
 * A small standards-compliant issuer for the tests: discovery (OIDC and RFC 8414), a JWKS
 * with Cache-Control and ETag, RFC 7662 introspection, and RFC 9068 token signing. It
 * counts requests and can be told to fail (500), hang, or refuse connections.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { VerifierError } from '@tessera/verifier';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export type JwksMode = 'ok' | 'error' | 'hang';

export async function createSigningKey(alg = 'ES256', kid: string = randomUUID()): Promise<SigningKey> {
  const options = alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true };
  const { privateKey, publicKey } = await generateKeyPair(alg, options);
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export interface TestIssuer {
  readonly url: string;
  readonly issuer: string;
  readonly port: number;
  keys: SigningKey[];
  /** Extra raw JWKs published next to `keys`. */
  extraJwks: object[];
  jwksMode: JwksMode;
  /** 'openid' serves both documents; 'rfc8414' 404s the OIDC one. */
  discoveryMode: 'openid' | 'rfc8414';
  /** Value of the JWKS Cache-Control header, or null for none. */
  jwksCacheControl: string | null;
  /** Serve a different `issuer` in the metadata than the real one. */
  metadataIssuer: string | undefined;
  readonly counts: { discovery: number; oidcDiscovery: number; rfc8414Discovery: number; jwks: number; jwks304: number; introspection: number };
  /** Opaque token -> introspection answer. */
  opaque: Map<string, Record<string, unknown>>;
  introspectionClient: { id: string; secret: string };
  introspectionStatus: number;
  lastIntrospectionAuthorization: string | undefined;
  sign(claims?: JWTPayload, options?: { key?: SigningKey; header?: Record<string, unknown> }): Promise<string>;
  /** Claims of a normal token for `audience`: iss, sub, aud, exp +1 h, iat, jti, client_id, scope. */
  claims(overrides?: JWTPayload): JWTPayload;
  /** Close the listening socket: connections are refused until `start()`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export const AUDIENCE = 'https://orders.example/api';

export async function startIssuer(options: { path?: string } = {}): Promise<TestIssuer> {
  const path = options.path ?? '/t/default';
  let server: Server;
  const hanging = new Set<ServerResponse>();
  const state = {
    keys: [await createSigningKey('ES256', 'key-1')],
    extraJwks: [] as object[],
    jwksMode: 'ok' as JwksMode,
    discoveryMode: 'openid' as 'openid' | 'rfc8414',
    jwksCacheControl: 'public, max-age=600' as string | null,
    metadataIssuer: undefined as string | undefined,
    counts: { discovery: 0, oidcDiscovery: 0, rfc8414Discovery: 0, jwks: 0, jwks304: 0, introspection: 0 },
    opaque: new Map<string, Record<string, unknown>>(),
    introspectionClient: { id: 'orders-api', secret: 'introspection secret:%' },
    introspectionStatus: 200,
    lastIntrospectionAuthorization: undefined as string | undefined,
  };
  let port = 0;
  const base = () => `http://127.0.0.1:${port}`;
  const issuerUrl = () => `${base()}${path}`;

  function metadata() {
    return {
      issuer: state.metadataIssuer ?? issuerUrl(),
      token_endpoint: `${issuerUrl()}/token`,
      jwks_uri: `${issuerUrl()}/jwks.json`,
      introspection_endpoint: `${issuerUrl()}/introspect`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
    };
  }

  function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', base());
    if (url.pathname === `${path}/.well-known/openid-configuration`) {
      state.counts.discovery++;
      state.counts.oidcDiscovery++;
      if (state.discoveryMode === 'rfc8414') return json(res, 404, { error: 'not_found' });
      return json(res, 200, metadata());
    }
    if (url.pathname === `/.well-known/oauth-authorization-server${path}`) {
      state.counts.discovery++;
      state.counts.rfc8414Discovery++;
      return json(res, 200, metadata());
    }
    if (url.pathname === `${path}/jwks.json`) {
      state.counts.jwks++;
      if (state.jwksMode === 'error') return json(res, 500, { error: 'server_error' });
      if (state.jwksMode === 'hang') {
        hanging.add(res);
        return;
      }
      const body = JSON.stringify({ keys: [...state.keys.map((k) => k.publicJwk), ...state.extraJwks] });
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
      const headers: Record<string, string> = { etag };
      if (state.jwksCacheControl !== null) headers['cache-control'] = state.jwksCacheControl;
      if (req.headers['if-none-match'] === etag) {
        state.counts.jwks304++;
        res.writeHead(304, headers);
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', ...headers });
      return res.end(body);
    }
    if (url.pathname === `${path}/introspect` && req.method === 'POST') {
      state.counts.introspection++;
      state.lastIntrospectionAuthorization = req.headers.authorization;
      let raw = '';
      for await (const chunk of req) raw += String(chunk);
      const form = new URLSearchParams(raw);
      const { id, secret } = state.introspectionClient;
      const encode = (v: string) => new URLSearchParams({ v }).toString().slice(2);
      const expected = `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return json(res, 401, { error: 'invalid_client' });
      if (state.introspectionStatus !== 200) return json(res, state.introspectionStatus, { error: 'server_error' });
      const answer = state.opaque.get(form.get('token') ?? '');
      return json(res, 200, answer ?? { active: false });
    }
    json(res, 404, { error: 'not_found' });
  }

  async function start() {
    server = createServer((req, res) => {
      handle(req, res).catch(() => json(res, 500, { error: 'server_error' }));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }

  async function stop() {
    for (const res of hanging) res.destroy();
    hanging.clear();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  await start();

  const issuer: TestIssuer = Object.assign(state, {
    get url() { return base(); },
    get issuer() { return issuerUrl(); },
    get port() { return port; },
    claims(overrides: JWTPayload = {}): JWTPayload {
      const now = Math.floor(Date.now() / 1000);
      return {
        iss: issuerUrl(), sub: 'client-a', aud: AUDIENCE, exp: now + 3600, iat: now, jti: randomUUID(),
        client_id: 'client-a', scope: 'orders:read orders:write', ...overrides,
      };
    },
    async sign(claims?: JWTPayload, signOptions: { key?: SigningKey; header?: Record<string, unknown> } = {}) {
      const key = signOptions.key ?? state.keys[0];
      if (key === undefined) throw new Error('no signing key');
      return new SignJWT(claims ?? issuer.claims())
        .setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid, ...signOptions.header })
        .sign(key.privateKey);
    },
    stop,
    start,
    close: async () => {
      if (server.listening) await stop();
    },
  });
  return issuer;
}

/** A clock the tests move by hand; starts at the real time so tokens from `claims()` are valid. */
export function manualClock(): { now: () => number; advance: (seconds: number) => void; set: (ms: number) => void } {
  let current = Date.now();
  return {
    now: () => current,
    advance: (seconds) => { current += seconds * 1000; },
    set: (ms) => { current = ms; },
  };
}

/** The stable `code` a verification fails with, or 'resolved' when it does not fail. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof VerifierError)) throw error;
    return error.code;
  }
  return 'resolved';
}
