/**
 * Mutual-TLS client authentication and certificate-bound tokens (RFC 8705), over real
 * HTTPS: a CA, a server certificate and client certificates are made with `openssl`
 * in a temp dir; Tessera runs through `serve()` with `--tls-cert/--tls-key/--tls-client-ca`
 * on 127.0.0.1; requests go through undici agents that present a client certificate.
 * The trusted-proxy path (X-Client-Cert) is driven with injected requests from chosen
 * remote addresses. Also checks the interop: @tessera/verifier accepts the bound token
 * only with its certificate, and openid-client's TlsClientAuth and PrivateKeyJwt get
 * tokens from Tessera.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createVerifier } from '@tessera/verifier';
import { importPKCS8 } from 'jose';
import * as openidClient from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type RunningServer } from '../src/main.js';
import { CERTIFICATE_NOT_ACCEPTED } from '../src/oauth/client-auth/tls-client-auth.js';
import { distinguishedNamesMatch, parseDistinguishedName } from '../src/domain/distinguished-name.js';
import { certificateThumbprint } from '../src/oauth/mtls.js';
import { createTestServer, type TestServer } from './helpers/app.js';
import { makeTempDir, type TempDir } from './helpers/temp-dir.js';

const run = promisify(execFile);

interface Pem {
  cert: string;
  key: string;
}

/** A CA, a server certificate for 127.0.0.1, and client certificates, made by openssl. */
async function makeCertificates(dir: string) {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const read = async (name: string): Promise<Pem> => ({ cert: await readFile(file(`${name}.pem`), 'utf8'), key: await readFile(file(`${name}.key`), 'utf8') });

  async function selfSigned(name: string, subject: string): Promise<Pem> {
    await openssl('req', '-x509', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject);
    return read(name);
  }
  async function issued(name: string, subject: string, extensions: string, ca = 'ca'): Promise<Pem> {
    await writeFile(file(`${name}.ext`), extensions);
    await openssl('req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    return read(name);
  }
  const clientExt = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n';
  const ca = await selfSigned('ca', '/CN=Tessera Test CA');
  const otherCa = await selfSigned('other-ca', '/CN=Somebody Else CA');
  return {
    ca,
    server: await issued('server', '/CN=127.0.0.1', 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'),
    orders: await issued('orders', '/C=DE/O=Example Corp/OU=Payments/CN=orders-client', clientExt),
    billing: await issued('billing', '/C=DE/O=Example Corp/OU=Payments/CN=billing-client', clientExt),
    /** Same subject DN as `orders`, but from a CA Tessera does not trust. */
    impostor: await issued('impostor', '/C=DE/O=Example Corp/OU=Payments/CN=orders-client', clientExt, 'other-ca'),
    selfSigned: await selfSigned('self', '/CN=self-signed-client'),
    otherSelfSigned: await selfSigned('self2', '/CN=self-signed-client'),
    otherCa,
  };
}

type Certificates = Awaited<ReturnType<typeof makeCertificates>>;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function decodeClaims(jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, any>;
}

let dir: TempDir;
let certs: Certificates;
let server: RunningServer;
let issuer: string;
const agents: Agent[] = [];
/** Trusts the test CA; presents no client certificate. */
let anonymous: Agent;

function agentWith(pem: Pem | null): Agent {
  const agent = new Agent({ connect: { ca: certs.ca.cert, ...(pem !== null ? { cert: pem.cert, key: pem.key } : {}) } });
  agents.push(agent);
  return agent;
}

async function call(agent: Agent, url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const response = await undiciFetch(url, { ...init, dispatcher: agent });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text === '' ? undefined : JSON.parse(text)) as any };
}

async function tokenWith(agent: Agent, form: Record<string, string>, headers: Record<string, string> = {}) {
  return call(agent, `${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...form }).toString(),
  });
}

let adminToken: string;
async function manage(method: string, path: string, body?: unknown) {
  return call(anonymous, `${server.url}/manage/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

const AUDIENCE = 'https://orders.mtls.example';

async function registerClient(client: Record<string, unknown>): Promise<string> {
  const created = await manage('POST', '/tenants/default/clients', { name: `mtls ${Math.random().toString(36).slice(2, 8)}`, ...client });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const clientId = created.body.clientId as string;
  const grant = await manage('POST', '/tenants/default/grants', { clientId, audience: AUDIENCE, scopes: ['orders:read'] });
  expect(grant.status, JSON.stringify(grant.body)).toBe(201);
  return clientId;
}

async function jwkOfCertificate(pem: string, withX5c: boolean): Promise<Record<string, unknown>> {
  const certificate = new X509Certificate(pem);
  const jwk = certificate.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  return withX5c ? { ...jwk, x5c: [certificate.raw.toString('base64')] } : jwk;
}

beforeAll(async () => {
  dir = await makeTempDir('tessera-mtls-');
  certs = await makeCertificates(dir.path);
  const port = await freePort();
  server = await serve(
    {
      port,
      host: '127.0.0.1',
      dataDir: join(dir.path, 'data'),
      logLevel: 'silent',
      tls: { cert: certs.server.cert, key: certs.server.key, clientCa: certs.ca.cert },
    },
    () => {},
  );
  issuer = `${server.url}/t/default`;
  anonymous = agentWith(null);
  const admin = JSON.parse(await readFile(server.adminFile, 'utf8')) as { clientId: string; clientSecret: string; tokenEndpoint: string };
  const token = await call(anonymous, admin.tokenEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}`,
    },
    body: 'grant_type=client_credentials&audience=urn%3Atessera%3Amanagement&scope=manage%3Aread%20manage%3Awrite',
  });
  expect(token.status, JSON.stringify(token.body)).toBe(200);
  adminToken = token.body.access_token as string;
  const api = await manage('POST', '/tenants/default/apis', { identifier: AUDIENCE, scopes: [{ value: 'orders:read' }] });
  expect(api.status, JSON.stringify(api.body)).toBe(201);
}, 60_000);

afterAll(async () => {
  await Promise.all(agents.map((agent) => agent.close()));
  await server?.close();
  await dir?.cleanup();
});

describe('RFC 8705 §2.1 tls_client_auth', () => {
  let clientId: string;
  beforeAll(async () => {
    clientId = await registerClient({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=orders-client, OU=Payments, O=Example Corp, C=DE' });
  });

  it('RFC 8705 §2.1 and §3: a CA-issued certificate with the registered subject DN gets a token bound to it (cnf.x5t#S256)', async () => {
    const response = await tokenWith(agentWith(certs.orders), { client_id: clientId });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const claims = decodeClaims(response.body.access_token);
    expect(claims['client_id']).toBe(clientId);
    expect(claims['cnf']).toEqual({ 'x5t#S256': certificateThumbprint(new X509Certificate(certs.orders.cert)) });
  });

  it('RFC 8705 §2.1.2: a certificate from the trusted CA with another subject DN is rejected', async () => {
    const response = await tokenWith(agentWith(certs.billing), { client_id: clientId });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: 'invalid_client', error_description: CERTIFICATE_NOT_ACCEPTED });
  });

  it('RFC 8705 §2.1: a certificate with the right DN from an untrusted CA (chain not verified) is rejected', async () => {
    const response = await tokenWith(agentWith(certs.impostor), { client_id: clientId });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_client');
  });

  it('RFC 8705 §2.1: a self-signed certificate is never enough for tls_client_auth', async () => {
    const response = await tokenWith(agentWith(certs.selfSigned), { client_id: clientId });
    expect(response.status).toBe(401);
  });

  it('RFC 8705 §2: without a client certificate, a tls_client_auth client cannot authenticate', async () => {
    const response = await tokenWith(anonymous, { client_id: clientId });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_client');
    const withSecret = await tokenWith(anonymous, { client_id: clientId, client_secret: 'anything' });
    expect(withSecret.status).toBe(401);
  });

  it('RFC 8705 §2: an unknown client id with a valid certificate reads the same as a wrong certificate', async () => {
    const response = await tokenWith(agentWith(certs.orders), { client_id: 'no-such-client' });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: 'invalid_client', error_description: CERTIFICATE_NOT_ACCEPTED });
  });

  it('RFC 8705 §2: a disabled client is rejected', async () => {
    const id = await registerClient({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=orders-client,OU=Payments,O=Example Corp,C=DE' });
    expect((await tokenWith(agentWith(certs.orders), { client_id: id })).status).toBe(200);
    expect((await manage('PATCH', `/tenants/default/clients/${id}`, { disabled: true })).status).toBe(200);
    expect((await tokenWith(agentWith(certs.orders), { client_id: id })).status).toBe(401);
  });

  it('RFC 8705 §2: the certificate authenticates at introspection and revocation too', async () => {
    const agent = agentWith(certs.orders);
    const token = (await tokenWith(agent, { client_id: clientId })).body.access_token as string;
    const introspect = await call(agent, `${issuer}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, token }).toString(),
    });
    expect(introspect.status).toBe(200);
    expect(introspect.body).toMatchObject({ active: true, cnf: { 'x5t#S256': certificateThumbprint(new X509Certificate(certs.orders.cert)) } });
  });
});

describe('RFC 8705 §2.2 self_signed_tls_client_auth', () => {
  it('RFC 8705 §2.2 and §3: a self-signed certificate whose key is in the client JWKS (x5c) gets a bound token', async () => {
    const clientId = await registerClient({ tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [await jwkOfCertificate(certs.selfSigned.cert, true)] } });
    const response = await tokenWith(agentWith(certs.selfSigned), { client_id: clientId });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(decodeClaims(response.body.access_token)['cnf']).toEqual({ 'x5t#S256': certificateThumbprint(new X509Certificate(certs.selfSigned.cert)) });
  });

  it('RFC 8705 §2.2: a JWK without x5c matches a certificate with the same public key', async () => {
    const clientId = await registerClient({ tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [await jwkOfCertificate(certs.selfSigned.cert, false)] } });
    expect((await tokenWith(agentWith(certs.selfSigned), { client_id: clientId })).status).toBe(200);
  });

  it('RFC 8705 §2.2: a certificate that is not in the client JWKS is rejected', async () => {
    const clientId = await registerClient({ tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [await jwkOfCertificate(certs.selfSigned.cert, true)] } });
    const response = await tokenWith(agentWith(certs.otherSelfSigned), { client_id: clientId });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: 'invalid_client', error_description: CERTIFICATE_NOT_ACCEPTED });
    expect((await tokenWith(anonymous, { client_id: clientId })).status).toBe(401);
  });

  it('RFC 8705 §2.2: a CA-issued certificate also works when its key is registered', async () => {
    const clientId = await registerClient({ tokenEndpointAuthMethod: 'self_signed_tls_client_auth', jwks: { keys: [await jwkOfCertificate(certs.billing.cert, false)] } });
    expect((await tokenWith(agentWith(certs.billing), { client_id: clientId })).status).toBe(200);
    expect((await tokenWith(agentWith(certs.orders), { client_id: clientId })).status).toBe(401);
  });
});

describe('RFC 8705 §3 and §5: metadata and other methods over the mTLS connection', () => {
  it('RFC 8705 §3.3 and §5: metadata advertises bound tokens, both mTLS methods and the endpoint aliases', async () => {
    const metadata = await call(anonymous, `${issuer}/.well-known/openid-configuration`);
    expect(metadata.status).toBe(200);
    expect(metadata.body.tls_client_certificate_bound_access_tokens).toBe(true);
    expect(metadata.body.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth']));
    expect(metadata.body.mtls_endpoint_aliases).toEqual({
      token_endpoint: `${issuer}/token`,
      introspection_endpoint: `${issuer}/introspect`,
      revocation_endpoint: `${issuer}/revoke`,
    });
  });

  it('RFC 6749 §2.3: a secret client that happens to present a certificate authenticates with its secret', async () => {
    const created = await manage('POST', '/tenants/default/clients', { name: 'secret over mtls', tokenEndpointAuthMethod: 'client_secret_post' });
    const clientId = created.body.clientId as string;
    await manage('POST', '/tenants/default/grants', { clientId, audience: AUDIENCE, scopes: ['orders:read'] });
    const response = await tokenWith(agentWith(certs.orders), { client_id: clientId, client_secret: created.body.clientSecret as string });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
  });
});

describe('RFC 8705 §3: @tessera/verifier and certificate-bound tokens', () => {
  it('RFC 8705 §3.1: the verifier accepts the bound token with its certificate and rejects it with another one', async () => {
    const clientId = await registerClient({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'C=DE, O=Example Corp, OU=Payments, CN=orders-client' });
    const token = (await tokenWith(agentWith(certs.orders), { client_id: clientId })).body.access_token as string;
    const verifier = createVerifier({
      issuer,
      audience: AUDIENCE,
      fetch: (url, init) => undiciFetch(url, { ...(init as object), dispatcher: anonymous }) as unknown as Promise<Response>,
    });
    const claims = await verifier.verify(token, { certificate: certs.orders.cert });
    expect(claims.client_id).toBe(clientId);
    await expect(verifier.verify(token, { certificate: certs.billing.cert })).rejects.toMatchObject({ code: 'ERR_CNF_MISMATCH' });
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'ERR_CNF_MISMATCH' });
  });
});

describe('interop: openid-client v6', () => {
  function fetchThrough(agent: Agent): openidClient.CustomFetch {
    return ((url: string, options: object) => undiciFetch(url, { ...options, dispatcher: agent })) as unknown as openidClient.CustomFetch;
  }

  it('RFC 8705 §2.1: TlsClientAuth gets a certificate-bound token (via the mTLS endpoint alias)', async () => {
    const clientId = await registerClient({ tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=orders-client,OU=Payments,O=Example Corp,C=DE' });
    const agent = agentWith(certs.orders);
    const config = await openidClient.discovery(new URL(issuer), clientId, { use_mtls_endpoint_aliases: true }, openidClient.TlsClientAuth(), {
      [openidClient.customFetch]: fetchThrough(agent),
    });
    const tokens = await openidClient.clientCredentialsGrant(config, { audience: AUDIENCE, scope: 'orders:read' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(decodeClaims(tokens.access_token)['cnf']).toEqual({ 'x5t#S256': certificateThumbprint(new X509Certificate(certs.orders.cert)) });
  });

  it('RFC 7523 §2.2: PrivateKeyJwt gets a token', async () => {
    const pem = (createPrivateKey(certs.selfSigned.key).export({ format: 'pem', type: 'pkcs8' }) as string);
    const privateKey = await importPKCS8(pem, 'ES256');
    const jwk = { ...(await jwkOfCertificate(certs.selfSigned.cert, false)), kid: 'openid-client' };
    const clientId = await registerClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] } });
    const config = await openidClient.discovery(new URL(issuer), clientId, {}, openidClient.PrivateKeyJwt({ key: privateKey, kid: 'openid-client' }), {
      [openidClient.customFetch]: fetchThrough(anonymous),
    });
    const tokens = await openidClient.clientCredentialsGrant(config, { audience: AUDIENCE, scope: 'orders:read' });
    const claims = decodeClaims(tokens.access_token);
    expect(claims['client_id']).toBe(clientId);
    expect(claims['cnf']).toBeUndefined();
  });
});

describe('RFC 8705 §2 behind a TLS-terminating proxy (X-Client-Cert)', () => {
  let t: TestServer;
  let clientId: string;
  const PROXY = '10.0.0.5';

  beforeAll(async () => {
    t = await createTestServer({ config: { trustedProxies: [PROXY] } });
    const setup = await t.setupClient('default', {
      apiIdentifier: AUDIENCE,
      scopes: ['orders:read'],
      client: { tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=orders-client,OU=Payments,O=Example Corp,C=DE' },
    });
    clientId = setup.clientId;
  });
  afterAll(async () => {
    await t?.close();
  });

  function fromAddress(remoteAddress: string, headers: Record<string, string>) {
    return t.app.inject({
      method: 'POST',
      url: '/t/default/token',
      remoteAddress,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId }).toString(),
    });
  }

  it('RFC 8705 §2.1: the certificate a trusted proxy forwards (and verified) authenticates the client and binds the token', async () => {
    const response = await fromAddress(PROXY, { 'x-client-cert': encodeURIComponent(certs.orders.cert), 'x-client-verify': 'SUCCESS' });
    expect(response.statusCode, response.body).toBe(200);
    expect(decodeClaims(response.json().access_token)['cnf']).toEqual({ 'x5t#S256': certificateThumbprint(new X509Certificate(certs.orders.cert)) });
  });

  it('RFC 8705 §2: X-Client-Cert from any other address is ignored', async () => {
    const response = await fromAddress('10.0.0.6', { 'x-client-cert': encodeURIComponent(certs.orders.cert), 'x-client-verify': 'SUCCESS' });
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toBe('invalid_client');
  });

  it('RFC 8705 §2.1: a forwarded certificate the proxy did not verify is not enough for tls_client_auth', async () => {
    const response = await fromAddress(PROXY, { 'x-client-cert': encodeURIComponent(certs.orders.cert), 'x-client-verify': 'FAILED:unable to get issuer certificate' });
    expect(response.statusCode).toBe(401);
  });

  it('RFC 8705 §3: a certificate-bound management token works only with its certificate', async () => {
    const admin = await t.setupClient('admin', {
      apiIdentifier: 'urn:tessera:management',
      scopes: ['manage:read', 'manage:write'],
      granted: ['manage:read'],
      client: { tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=orders-client,OU=Payments,O=Example Corp,C=DE' },
    });
    const forwarded = { 'x-client-cert': encodeURIComponent(certs.orders.cert), 'x-client-verify': 'SUCCESS' };
    const issued = await t.app.inject({
      method: 'POST', url: '/t/admin/token', remoteAddress: PROXY,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...forwarded },
      payload: new URLSearchParams({ grant_type: 'client_credentials', client_id: admin.clientId }).toString(),
    });
    expect(issued.statusCode, issued.body).toBe(200);
    const authorization = `Bearer ${issued.json().access_token}`;
    const withCertificate = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', remoteAddress: PROXY, headers: { authorization, ...forwarded } });
    expect(withCertificate.statusCode).toBe(200);
    const stolen = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization } });
    expect(stolen.statusCode).toBe(401);
    expect(stolen.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('RFC 8705 §5: with a trusted proxy configured, metadata advertises bound tokens and the aliases', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/t/default/.well-known/oauth-authorization-server' });
    expect(response.json()).toMatchObject({
      tls_client_certificate_bound_access_tokens: true,
      mtls_endpoint_aliases: { token_endpoint: 'http://tessera.test/t/default/token' },
    });
  });
});

describe('subject DN comparison (RFC 4514, RFC 4517 distinguishedNameMatch)', () => {
  const nodeSubject = 'C=DE\nO=Example\\, Corp\nOU=Eng + OU=Ops\nCN=orders client';

  it('matches node\'s multi-line subject against RFC 4514 strings in either order, any case and spacing', () => {
    expect(distinguishedNamesMatch('CN=orders client,OU=Ops+OU=Eng,O=Example\\, Corp,C=DE', nodeSubject)).toBe(true);
    expect(distinguishedNamesMatch('cn = Orders  Client , ou=eng + ou=ops, o=Example\\2C Corp, c=de', nodeSubject)).toBe(true);
    expect(distinguishedNamesMatch('C=DE,O=Example\\, Corp,OU=Eng+OU=Ops,CN=orders client', nodeSubject)).toBe(true);
    expect(distinguishedNamesMatch('/C=DE/O=Example, Corp/OU=Eng+OU=Ops/CN=orders client', nodeSubject)).toBe(true);
    expect(distinguishedNamesMatch('commonName=orders client,2.5.4.11=Eng+OU=Ops,O="Example, Corp",countryName=DE', nodeSubject)).toBe(true);
  });

  it('does not match other names, missing or extra RDNs, or a shuffled order', () => {
    expect(distinguishedNamesMatch('CN=orders client,OU=Eng+OU=Ops,O=Example Corp,C=DE', nodeSubject)).toBe(false);
    expect(distinguishedNamesMatch('CN=orders client,O=Example\\, Corp,C=DE', nodeSubject)).toBe(false);
    expect(distinguishedNamesMatch('CN=orders client,OU=Eng,OU=Ops,O=Example\\, Corp,C=DE', nodeSubject)).toBe(false);
    expect(distinguishedNamesMatch('O=Example\\, Corp,CN=orders client,OU=Eng+OU=Ops,C=DE', nodeSubject)).toBe(false);
    expect(distinguishedNamesMatch('CN=orders client,OU=Eng+OU=Ops,O=Example\\, Corp,C=DE,DC=x', nodeSubject)).toBe(false);
  });

  it('reads an escaped space that ends the DN as part of the last value (RFC 4514 §2.4), as node prints a CN ending in a space', () => {
    // node's multi-line subject of a certificate whose CN is "svc " ends in "CN=svc\\ ".
    expect(distinguishedNamesMatch('CN=svc\\ ,O=Example,C=DE', 'C=DE\nO=Example\nCN=svc\\ ')).toBe(true);
    expect(distinguishedNamesMatch('C=DE,O=Example,CN=svc\\ ', 'C=DE\nO=Example\nCN=svc')).toBe(true);
    expect(parseDistinguishedName('CN=svc\\ ')).toEqual(['cn=svc']);
  });

  it('treats unparsable DNs as matching nothing', () => {
    expect(parseDistinguishedName('not a dn')).toBeNull();
    expect(parseDistinguishedName('CN=a,,O=b')).toBeNull();
    expect(distinguishedNamesMatch('', '')).toBe(false);
    expect(distinguishedNamesMatch('CN=a\\', 'CN=a')).toBe(false);
  });
});
