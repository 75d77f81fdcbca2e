/**
 * A real Tessera inside a service's own test process: the same app that runs in
 * production (buildApp from @tessera/server), on an in-memory embedded store, on a
 * free loopback port or with no socket at all. What passes against it passes against
 * a deployed Tessera, because it is one.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@tessera/server';
import { loadServer } from '@tessera/server/loader';
import type { FastifyInstance } from 'fastify';
import { calculateJwkThumbprint, type JWK, SignJWT } from 'jose';
import { type CertificateSubject, createCertificate, type TestCertificate } from './certificates.js';
import { type ClockOption, createClock, type TestClock } from './clock.js';
import { createTamper, type Tamper } from './tamper.js';

export type SigningAlg = 'ES256' | 'RS256' | 'PS256' | 'EdDSA';

export interface TestIssuerOptions {
  /** The tenant whose issuer this is (`<url>/t/<tenant>`). Default `default`. */
  tenant?: string;
  /** The tenant's signing algorithm. Default ES256. */
  signingAlg?: SigningAlg;
  /** `'real'` (default), or an instant (Date or epoch ms) at which the issuer's clock stands still until moved. */
  clock?: ClockOption;
  /**
   * true (default): listen on a free port of 127.0.0.1, so any HTTP client can reach
   * it. false: no socket; requests go through `issuer.fetch` (in-process inject), and
   * the URLs name the host `tessera.test`.
   */
  listen?: boolean;
  /** The tenant's access-token lifetime in seconds (60 to 86400). Default 3600. */
  accessTokenLifetime?: number;
  /**
   * Back-off after failed client authentications answers 429 in production. Off by
   * default here (counted, not enforced), so a suite full of negative cases is not
   * throttled; true enforces it as `tessera serve` does.
   */
  protection?: boolean;
  /**
   * Mutual TLS (RFC 8705): true (default when listening) also listens with HTTPS on
   * another free port of 127.0.0.1, asking for client certificates, and publishes it
   * as the `mtls_endpoint_aliases` (§5), so `tls_client_auth` and
   * `self_signed_tls_client_auth` clients work and their tokens are certificate-bound.
   * Its server certificate is issued by a CA made for this issuer (`mtls.ca`).
   * Not available with `listen: false` (no socket, no handshake).
   */
  mtls?: boolean;
}

export type TestClientMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'tls_client_auth' | 'self_signed_tls_client_auth';

export interface CreateClientOptions {
  /** The API's identifier (RFC 9068 `aud`); registered when the issuer does not know it yet. */
  audience: string;
  /** Scopes granted on that API; added to the API's scopes when missing. */
  scopes?: string[];
  /** How the client authenticates. Default `client_secret_basic`. */
  method?: TestClientMethod;
  /** A chosen client id; generated when absent. */
  clientId?: string;
  name?: string;
  /** Static claims in every token of the grant. */
  claims?: Record<string, unknown>;
  /** The client's own access-token lifetime in seconds. */
  accessTokenLifetime?: number;
  /** Opaque reference tokens instead of JWTs for the API (only when it is registered now). */
  tokenFormat?: 'jwt' | 'opaque';
  /** Every token request must carry a DPoP proof (RFC 9449 §5.2). */
  dpopBoundAccessTokens?: boolean;
  /** The client may mint transaction tokens. */
  txnTokenService?: boolean;
  /** For the mTLS methods: the client certificate's subject. Default `CN=<clientId or a generated name>`. */
  subject?: CertificateSubject;
}

export interface TestClient {
  clientId: string;
  method: TestClientMethod;
  /** For the secret methods: the client secret (shown once, as the real server does). */
  clientSecret?: string;
  /** For private_key_jwt: the client's private key, for `@tessera/client`'s `privateKeyJwt(key)`, openid-client or jose. */
  privateKey?: KeyObject;
  /** For private_key_jwt: the same key as a private JWK (with `kid` and `alg`). */
  privateJwk?: JWK;
  /**
   * For the mTLS methods: the client certificate and its key (PEM), for `@tessera/client`'s
   * `tlsClientAuth({ cert, key, ca })` or any TLS client. Issued by the issuer's CA for
   * `tls_client_auth` (its subject DN registered), self-signed and registered in the
   * client's JWKS (with `x5c`) for `self_signed_tls_client_auth`.
   */
  certificate?: TestCertificate;
  /** For the mTLS methods: the CA (PEM) that issued the issuer's HTTPS certificate, to trust when connecting. */
  ca?: string;
  /** For the mTLS methods: the token endpoint on the mTLS listener (RFC 8705 §5 alias). */
  mtlsTokenEndpoint?: string;
  audience: string;
  scopes: string[];
  issuer: string;
  tokenEndpoint: string;
  /** A real client-credentials token request with this client's credential (mTLS: over the mTLS listener); resolves to the access token. */
  getToken(options?: { scope?: string | string[] }): Promise<string>;
}

export interface TestIssuerMtls {
  /** Base URL of the HTTPS listener that asks for client certificates. */
  url: string;
  /** Its token endpoint (`mtls_endpoint_aliases.token_endpoint`); introspection and revocation sit beside it. */
  tokenEndpoint: string;
  introspectionEndpoint: string;
  revocationEndpoint: string;
  /** The issuer's CA (PEM): it issued the listener's certificate and the `tls_client_auth` client certificates, and is the client CA the listener trusts. */
  ca: string;
  /** A certificate issued by the issuer's CA, for negative cases (another subject than the one registered). */
  issueCertificate(subject: CertificateSubject): TestCertificate;
}

export interface IssueTokenOptions {
  /** RFC 9068 `aud`: any string, registered or not. */
  audience: string;
  /** Default: the `clientId`. */
  sub?: string;
  /** Default `test-client`. */
  clientId?: string;
  scope?: string | string[];
  /** Extra claims; registered claim names given here win, so a test can make a wrong `iss` too. */
  claims?: Record<string, unknown>;
  /** Seconds from now until `exp`; negative makes an expired token. Default 300. */
  expiresIn?: number;
  /** Seconds from now until `nbf` (positive: not yet valid). Default: no `nbf`. */
  notBefore?: number;
  /** Must be the tenant's algorithm (`signingAlg` of startTestIssuer): the issuer signs with its real keys only. */
  alg?: SigningAlg;
  /** Binds the token to this DPoP key (RFC 9449 §6: `cnf.jkt`, the key's RFC 7638 thumbprint). */
  dpopKey?: KeyObject | JWK;
}

export interface TestIssuer {
  /** The public URL (scheme, host and port) the issuer answers on. */
  url: string;
  issuer: string;
  tokenEndpoint: string;
  jwksUri: string;
  /** The OpenID-style discovery document (RFC 8414 metadata). */
  discoveryUrl: string;
  introspectionEndpoint: string;
  revocationEndpoint: string;
  tenant: string;
  /** fetch that reaches the issuer: the global fetch when listening, in-process inject otherwise. */
  fetch: typeof fetch;
  clock: TestClock;
  createClient(options: CreateClientOptions): Promise<TestClient>;
  /** A JWT access token signed by the issuer's active key, with whatever claims a real flow cannot make. */
  issueToken(options: IssueTokenOptions): Promise<string>;
  /** An opaque reference token (RFC 7662 introspection resolves it) for a registered client and API. */
  issueOpaqueToken(options: { audience: string; clientId?: string; scope?: string | string[]; sub?: string; expiresIn?: number }): Promise<string>;
  /** Rotates the signing keys now; `emergency` drops the active key from the JWKS at once. */
  rotateKeys(options?: { emergency?: boolean }): Promise<void>;
  /** From now on the JWKS answers `status` (default 503), as an issuer outage would. */
  jwksDown(options?: { status?: number }): void;
  jwksUp(): void;
  tamper: Tamper;
  /** The mTLS listener (RFC 8705), or null when started with `mtls: false` or `listen: false`. */
  mtls: TestIssuerMtls | null;
  /** The app itself, for what the helpers above do not cover (management routes, `inject`). */
  app: FastifyInstance;
  stop(): Promise<void>;
}

const ACTOR = 'tessera-testing';
const IN_PROCESS_URL = 'http://tessera.test';

export async function startTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const listen = options.listen ?? true;
  for (let attempt = 1; ; attempt++) {
    const port = listen ? await freeLoopbackPort() : 0;
    try {
      return await start(options, listen ? port : null);
    } catch (error) {
      // Another process took the probed port between the probe and the listen: try another.
      if (attempt < 5 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
      throw error;
    }
  }
}

/**
 * The server, loaded on the first start: through its start-up bundle when there is a
 * fresh one (a few files instead of hundreds of modules, most of what a test file's
 * first issuer costs), as `tessera serve` loads it.
 */
let server: ReturnType<typeof loadServer> | undefined;

async function start(options: TestIssuerOptions, port: number | null): Promise<TestIssuer> {
  const { buildApp, createStore, MasterKey, resolveConfig, unsealPrivateKey } = await (server ??= loadServer());
  const tenantId = options.tenant ?? 'default';
  const clock = createClock(options.clock);
  const url = port === null ? IN_PROCESS_URL : `http://127.0.0.1:${port}`;
  const masterKey = MasterKey.fromBase64(randomBytes(32).toString('base64'));
  if (options.mtls === true && port === null) throw new TypeError('mtls needs a socket: start the issuer with listen: true');
  // Bound first (port 0: nothing to race for), because the configuration names its URL.
  const mtls = port !== null && options.mtls !== false ? await startMtlsListener() : null;
  const config = resolveConfig({
    host: '127.0.0.1',
    port: port ?? 0,
    publicUrl: url,
    // Never created: the store is in memory and the master key is given.
    dataDir: join(tmpdir(), `tessera-testing-unused-${process.pid}`),
    logLevel: 'silent',
    metrics: { enabled: false },
    usage: { enabled: false },
    rateLimit: { mode: options.protection === true ? 'enforce' : 'monitor' },
    // The HTTPS listener is ours (startMtlsListener), the settings are what `serve --tls-*` gives:
    // client certificates verified against the issuer's CA, the mTLS aliases at its URL.
    ...(mtls !== null ? { tls: { cert: mtls.server.cert, key: mtls.server.key, clientCa: mtls.ca.cert }, mtlsPublicUrl: mtls.url } : {}),
  });
  const store: Store = await createStore({ dataDir: config.dataDir, inMemory: true }).catch(async (error: unknown) => {
    await mtls?.close();
    throw error;
  });
  let app: FastifyInstance;
  try {
    app = await buildApp({ config, store, masterKey, now: () => clock.now() });
  } catch (error) {
    await store.close();
    await mtls?.close();
    throw error;
  }
  const tessera = app.tessera;

  let jwksStatus: number | null = null;
  const jwksPath = `/t/${tenantId}/jwks.json`;
  app.addHook('onRequest', (request, reply, done) => {
    if (jwksStatus !== null && request.url.split('?')[0] === jwksPath) {
      void reply.code(jwksStatus).header('cache-control', 'no-store').send({ error: 'temporarily_unavailable', error_description: 'the JWKS is down (jwksDown())' });
      return;
    }
    done();
  });

  const stop = async () => {
    await mtls?.close();
    await app.close();
    await store.close();
  };

  try {
    await tessera.tenants.create({ id: tenantId, ...(options.signingAlg ? { signingAlg: options.signingAlg } : {}), ...(options.accessTokenLifetime !== undefined ? { accessTokenLifetime: options.accessTokenLifetime } : {}) }, ACTOR);
    if (port !== null) await app.listen({ host: '127.0.0.1', port });
    else await app.ready();
    mtls?.serve(app);
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }

  const issuer = `${url}/t/${tenantId}`;
  const tokenEndpoint = `${issuer}/token`;
  const fetchIssuer: typeof fetch = port !== null ? globalThis.fetch.bind(globalThis) : injectFetch(app);
  /** The registry follows the change feed; reading it to its end makes a change visible to the next request. */
  const synced = () => tessera.changeFeed.poll();
  const tenantContext = async () => {
    await synced();
    const context = await tessera.registry.get(tenantId);
    if (context === null) throw new Error(`tenant ${tenantId} is gone`);
    return context;
  };

  async function ensureApi(audience: string, scopes: string[], tokenFormat?: 'jwt' | 'opaque') {
    const existing = (await tenantContext()).apisByIdentifier.get(audience);
    if (existing === undefined) {
      await tessera.apis.create(tenantId, { identifier: audience, scopes: scopes.map((value) => ({ value })), ...(tokenFormat ? { tokenFormat } : {}) }, ACTOR);
      return;
    }
    const missing = scopes.filter((value) => !existing.scopes.some((s) => s.value === value));
    if (missing.length > 0) await tessera.apis.update(tenantId, existing.id, { scopes: [...existing.scopes, ...missing.map((value) => ({ value }))] }, ACTOR);
  }

  async function createClient(input: CreateClientOptions): Promise<TestClient> {
    const method = input.method ?? 'client_secret_basic';
    const scopes = input.scopes ?? [];
    await ensureApi(input.audience, scopes, input.tokenFormat);
    let privateKey: KeyObject | undefined;
    let privateJwk: JWK | undefined;
    let jwks: { keys: Record<string, unknown>[] } | undefined;
    if (method === 'private_key_jwt') {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      privateKey = pair.privateKey;
      const publicJwk = pair.publicKey.export({ format: 'jwk' }) as JWK;
      const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
      privateJwk = { ...(pair.privateKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256' };
      jwks = { keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] };
    }
    let certificate: TestCertificate | undefined;
    let tlsClientAuthSubjectDn: string | undefined;
    if (method === 'tls_client_auth' || method === 'self_signed_tls_client_auth') {
      if (mtls === null) throw new TypeError(`${method} needs the mTLS listener: start the issuer listening (the default) and without mtls: false`);
      const subject = input.subject ?? { commonName: input.clientId ?? `test-client-${randomUUID().slice(0, 8)}` };
      if (method === 'tls_client_auth') {
        // RFC 8705 §2.1: a certificate from the CA the listener trusts, its subject DN registered.
        certificate = createCertificate({ subject, role: 'client', issuer: mtls.ca });
        tlsClientAuthSubjectDn = certificate.subjectDn;
      } else {
        // RFC 8705 §2.2: self-signed, registered as a JWK with the certificate in x5c.
        certificate = createCertificate({ subject, role: 'client' });
        const publicJwk = certificate.x509.publicKey.export({ format: 'jwk' }) as JWK;
        jwks = { keys: [{ ...publicJwk, kid: await calculateJwkThumbprint(publicJwk, 'sha256'), x5c: [certificate.x509.raw.toString('base64')] }] };
      }
    }
    const created = await tessera.clients.create(
      tenantId,
      {
        name: input.name ?? input.clientId ?? `test client for ${input.audience}`.slice(0, 100),
        tokenEndpointAuthMethod: method,
        ...(jwks ? { jwks } : {}),
        ...(tlsClientAuthSubjectDn !== undefined ? { tlsClientAuthSubjectDn } : {}),
        ...(input.accessTokenLifetime !== undefined ? { accessTokenLifetime: input.accessTokenLifetime } : {}),
        ...(input.clientId !== undefined ? { clientId: input.clientId } : {}),
        ...(input.dpopBoundAccessTokens !== undefined ? { dpopBoundAccessTokens: input.dpopBoundAccessTokens } : {}),
        ...(input.txnTokenService !== undefined ? { txnTokenService: input.txnTokenService } : {}),
      },
      ACTOR,
    );
    await tessera.grants.create(tenantId, { clientId: created.clientId, audience: input.audience, scopes, ...(input.claims ? { customClaims: input.claims } : {}) }, ACTOR);
    await synced();
    const client: TestClient = {
      clientId: created.clientId,
      method,
      ...(created.clientSecret !== undefined ? { clientSecret: created.clientSecret } : {}),
      ...(privateKey ? { privateKey } : {}),
      ...(privateJwk ? { privateJwk } : {}),
      ...(certificate !== undefined && mtls !== null ? { certificate, ca: mtls.ca.cert, mtlsTokenEndpoint: `${mtls.url}/t/${tenantId}/token` } : {}),
      audience: input.audience,
      scopes,
      issuer,
      tokenEndpoint,
      async getToken(request = {}) {
        const form = new URLSearchParams({ grant_type: 'client_credentials', audience: input.audience });
        if (request.scope !== undefined) form.set('scope', Array.isArray(request.scope) ? request.scope.join(' ') : request.scope);
        const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
        if (method === 'client_secret_basic') {
          const encode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
          headers.authorization = `Basic ${Buffer.from(`${encode(client.clientId)}:${encode(client.clientSecret ?? '')}`).toString('base64')}`;
        } else if (method === 'client_secret_post') {
          form.set('client_id', client.clientId);
          form.set('client_secret', client.clientSecret ?? '');
        } else if (certificate !== undefined && client.mtlsTokenEndpoint !== undefined) {
          // RFC 8705 §2: the TLS handshake authenticates; client_id says who claims it.
          form.set('client_id', client.clientId);
          const answer = await postOverMtls(client.mtlsTokenEndpoint, form, { cert: certificate.cert, key: certificate.key, ca: client.ca ?? '' });
          return accessTokenOf(client.clientId, answer.status, answer.body);
        } else {
          const now = Math.floor(clock.now() / 1000);
          const assertion = await new SignJWT({})
            .setProtectedHeader({ alg: 'ES256', kid: privateJwk?.kid as string })
            .setIssuer(client.clientId)
            .setSubject(client.clientId)
            .setAudience(issuer)
            .setIssuedAt(now)
            .setExpirationTime(now + 60)
            .setJti(randomUUID())
            .sign(privateKey as KeyObject);
          form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
          form.set('client_assertion', assertion);
        }
        const response = await fetchIssuer(tokenEndpoint, { method: 'POST', headers, body: form.toString() });
        return accessTokenOf(client.clientId, response.status, await response.json());
      },
    };
    return client;
  }

  async function issueToken(input: IssueTokenOptions): Promise<string> {
    const context = await tenantContext();
    const signer = context.signer;
    if (signer === null) throw new Error(`tenant ${tenantId} has no active signing key`);
    if (input.alg !== undefined && input.alg !== signer.alg) {
      throw new TypeError(`this issuer signs with ${signer.alg}: start it with startTestIssuer({ signingAlg: '${input.alg}' }) for ${input.alg} tokens`);
    }
    const now = Math.floor(clock.now() / 1000);
    const clientId = input.clientId ?? 'test-client';
    const scope = Array.isArray(input.scope) ? input.scope.join(' ') : input.scope;
    const claims: Record<string, unknown> = {
      iss: issuer,
      sub: input.sub ?? clientId,
      aud: input.audience,
      exp: now + (input.expiresIn ?? 300),
      iat: now,
      jti: randomUUID(),
      client_id: clientId,
    };
    if (scope !== undefined && scope !== '') claims.scope = scope;
    if (input.notBefore !== undefined) claims.nbf = now + input.notBefore;
    if (input.dpopKey !== undefined) claims.cnf = { jkt: await dpopThumbprint(input.dpopKey) };
    return signer.sign({ ...claims, ...input.claims });
  }

  async function issueOpaqueToken(input: { audience: string; clientId?: string; scope?: string | string[]; sub?: string; expiresIn?: number }): Promise<string> {
    const context = await tenantContext();
    const api = context.apisByIdentifier.get(input.audience);
    if (api === undefined) throw new TypeError(`no API ${input.audience}: register it first (createClient({ audience }))`);
    const clientId = input.clientId;
    if (clientId === undefined) throw new TypeError('issueOpaqueToken() needs the clientId of a client createClient() made: introspection answers only for live clients');
    const entry = await context.client(clientId);
    if (entry === null) throw new TypeError(`no client ${clientId}`);
    const scopes = Array.isArray(input.scope) ? input.scope : input.scope !== undefined ? input.scope.split(' ').filter(Boolean) : api.scopes.map((s) => s.value);
    const issued = await tessera.issuer.issue({
      tenant: context,
      client: { ...entry.client, accessTokenLifetime: null },
      api: { ...api, tokenFormat: 'opaque', accessTokenLifetime: input.expiresIn ?? 300 },
      scopes,
      ...(input.sub !== undefined ? { subject: input.sub } : {}),
    });
    return issued.accessToken;
  }

  const tamper = createTamper({
    async activeKey() {
      const context = await tenantContext();
      const active = context.activeKey;
      if (active === undefined) throw new Error(`tenant ${tenantId} has no active signing key`);
      return { kid: active.kid, alg: active.alg, key: unsealPrivateKey(active, masterKey) };
    },
  });

  return {
    url,
    issuer,
    tokenEndpoint,
    jwksUri: `${issuer}/jwks.json`,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    introspectionEndpoint: `${issuer}/introspect`,
    revocationEndpoint: `${issuer}/revoke`,
    tenant: tenantId,
    fetch: fetchIssuer,
    clock,
    createClient,
    issueToken,
    issueOpaqueToken,
    async rotateKeys(rotation = {}) {
      await tessera.keys.rotate(tenantId, { emergency: rotation.emergency === true, actor: ACTOR });
      await synced();
    },
    jwksDown(down = {}) {
      const status = down.status ?? 503;
      if (!Number.isInteger(status) || status < 400 || status > 599) throw new TypeError('jwksDown() takes an HTTP error status (400 to 599)');
      jwksStatus = status;
    },
    jwksUp() {
      jwksStatus = null;
    },
    tamper,
    mtls:
      mtls === null
        ? null
        : {
            url: mtls.url,
            tokenEndpoint: `${mtls.url}/t/${tenantId}/token`,
            introspectionEndpoint: `${mtls.url}/t/${tenantId}/introspect`,
            revocationEndpoint: `${mtls.url}/t/${tenantId}/revoke`,
            ca: mtls.ca.cert,
            issueCertificate: (subject) => createCertificate({ subject, role: 'client', issuer: mtls.ca }),
          },
    app,
    stop,
  };
}

async function dpopThumbprint(key: KeyObject | JWK): Promise<string> {
  const jwk = 'export' in key && typeof key.export === 'function' ? (key.export({ format: 'jwk' }) as JWK) : (key as JWK);
  // RFC 7638 uses only the required public members, so a private key gives the same thumbprint.
  return calculateJwkThumbprint(jwk, 'sha256');
}

function accessTokenOf(clientId: string, status: number, answer: unknown): string {
  const body = answer as { access_token?: unknown; error?: string; error_description?: string };
  if (status !== 200 || typeof body.access_token !== 'string') {
    throw new Error(`token request for ${clientId} failed: ${status} ${body.error ?? ''} ${body.error_description ?? ''}`.trim());
  }
  return body.access_token;
}

/** A form POST over a TLS connection that presents a client certificate; a new connection each time (nothing kept alive). */
function postOverMtls(url: string, form: URLSearchParams, tls: { cert: string; key: string; ca: string }): Promise<{ status: number; body: unknown }> {
  const payload = form.toString();
  return new Promise((resolve, reject) => {
    const request = httpsRequest(url, { method: 'POST', agent: false, ...tls, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(payload) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          reject(new Error(`the mTLS token endpoint answered ${response.statusCode ?? 0} with no JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    request.once('error', reject);
    request.end(payload);
  });
}

interface MtlsListener {
  url: string;
  ca: TestCertificate;
  server: TestCertificate;
  /** Hands every request of the listener to the app, as its own listener would. */
  serve(app: FastifyInstance): void;
  close(): Promise<void>;
}

/**
 * An HTTPS listener on a free loopback port that asks every connection for a client
 * certificate without requiring one, as `tessera serve --tls-client-ca` does
 * (main.ts), verifying it against the issuer's CA. Its requests go to the same Fastify
 * app as the HTTP listener's: the route reads the certificate from the TLS socket.
 */
async function startMtlsListener(): Promise<MtlsListener> {
  const ca = createCertificate({ subject: { commonName: 'Tessera test issuer CA', organization: 'tessera-testing' }, role: 'ca' });
  const server = createCertificate({ subject: { commonName: '127.0.0.1' }, role: 'server', issuer: ca, hosts: ['127.0.0.1', 'localhost'] });
  let handle: ((request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse) => void) | null = null;
  const https: HttpsServer = createHttpsServer({ cert: server.cert, key: server.key, ca: ca.cert, requestCert: true, rejectUnauthorized: false, keepAliveTimeout: 5_000 }, (request, response) => {
    if (handle !== null) handle(request, response);
    else response.writeHead(503, { 'retry-after': '1' }).end();
  });
  await new Promise<void>((resolve, reject) => {
    https.once('error', reject);
    https.listen(0, '127.0.0.1', () => {
      https.off('error', reject);
      resolve();
    });
  });
  const { port } = https.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `https://127.0.0.1:${port}`,
    ca,
    server,
    serve(app) {
      handle = (request, response) => app.routing(request, response);
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        https.close(() => resolve());
        // Keep-alive connections of the callers' agents would hold close() open.
        https.closeAllConnections();
      });
      return closed;
    },
  };
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** A fetch that never opens a socket: each request goes through Fastify's inject. */
function injectFetch(app: FastifyInstance): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const target = new URL(request.url);
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const response = await app.inject({
      method: request.method as 'GET',
      url: `${target.pathname}${target.search}`,
      headers,
      ...(body !== undefined ? { payload: body } : {}),
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, String(v));
    }
    const empty = response.statusCode === 204 || response.statusCode === 304 || request.method === 'HEAD';
    return new Response(empty ? null : response.rawPayload, { status: response.statusCode, headers: responseHeaders });
  };
}
