/**
 * Mutual-TLS clients from createClient (RFC 8705): real handshakes against the test
 * issuer's HTTPS listener, through @tessera/client, openid-client, undici and node:https, tokens bound
 * to the certificate (§3.1 `cnf.x5t#S256`) and checked by @tessera/verifier, and the
 * certificates that must not authenticate refused with `invalid_client`.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { selfSignedTlsClientAuth, createTokenClient, tlsClientAuth } from '@tessera/client';
import { createVerifier } from '@tessera/verifier';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificate, startTestIssuer, type TestCertificate, type TestClient, type TestIssuer } from '../src/index.js';

const API = 'https://orders.example';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await startTestIssuer();
});
afterAll(() => issuer.stop());

/** A client_credentials request to the mTLS token endpoint with undici, presenting `presented` (or no certificate). */
async function tokenRequest(client: TestClient, presented: TestCertificate | null): Promise<{ status: number; body: Record<string, unknown>; challenge: string | null }> {
  const agent = new Agent({ connect: { ca: issuer.mtls!.ca, ...(presented !== null ? { cert: presented.cert, key: presented.key } : {}) } });
  try {
    const response = await undiciFetch(issuer.mtls!.tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, audience: API }),
      dispatcher: agent,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown>, challenge: response.headers.get('www-authenticate') };
  } finally {
    await agent.close();
  }
}

const thumbprintOf = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');

describe('the mTLS listener', () => {
  it('RFC 8705 §5: discovery names both mTLS methods, certificate-bound tokens and the endpoint aliases on the HTTPS listener', async () => {
    expect(issuer.mtls?.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const metadata = (await (await fetch(issuer.discoveryUrl)).json()) as Record<string, unknown>;
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['tls_client_auth', 'self_signed_tls_client_auth']));
    expect(metadata.tls_client_certificate_bound_access_tokens).toBe(true);
    expect(metadata.mtls_endpoint_aliases).toMatchObject({
      token_endpoint: issuer.mtls?.tokenEndpoint,
      introspection_endpoint: issuer.mtls?.introspectionEndpoint,
      revocation_endpoint: issuer.mtls?.revocationEndpoint,
    });
  });

  it('its server certificate is issued by the CA it hands out, for 127.0.0.1', async () => {
    const { connect } = await import('node:tls');
    const url = new URL(issuer.mtls!.url);
    const peer = await new Promise<X509Certificate>((resolve, reject) => {
      const socket = connect({ host: url.hostname, port: Number(url.port), ca: issuer.mtls!.ca }, () => {
        const certificate = socket.getPeerX509Certificate();
        socket.end();
        if (certificate === undefined) reject(new Error('no server certificate'));
        else resolve(certificate);
      });
      socket.once('error', reject);
    });
    const ca = new X509Certificate(issuer.mtls!.ca);
    expect(ca.ca).toBe(true);
    expect(peer.checkIssued(ca)).toBe(true);
    expect(peer.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });
});

describe('createClient({ method: "tls_client_auth" }) (RFC 8705 §2.1)', () => {
  it('returns a certificate from the issuer CA whose subject DN is registered; a token over mTLS through @tessera/client is bound to it (§3.1)', async () => {
    const client = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'tls_client_auth' });
    const certificate = client.certificate!;
    expect(client.clientSecret).toBeUndefined();
    expect(certificate.x509.checkIssued(new X509Certificate(client.ca!))).toBe(true);
    expect(certificate.subjectDn).toMatch(/^CN=test-client-[0-9a-f]{8}$/);
    expect(certificate.x509.subject).toBe(certificate.subjectDn);

    const tokens = createTokenClient({ issuer: issuer.issuer, clientId: client.clientId, auth: tlsClientAuth({ cert: certificate.cert, key: certificate.key, ca: client.ca! }) });
    try {
      const { accessToken } = await tokens.getToken({ audience: API, scope: 'orders:read' });
      expect(decodeJwt(accessToken).cnf).toEqual({ 'x5t#S256': certificate.thumbprint });
      expect(certificate.thumbprint).toBe(thumbprintOf(certificate.cert));

      const verifier = createVerifier({ issuer: issuer.issuer, audience: API });
      await expect(verifier.verify(accessToken, { certificate: certificate.cert })).resolves.toMatchObject({ client_id: client.clientId });
      const other = issuer.mtls!.issueCertificate({ commonName: 'someone-else' });
      await expect(verifier.verify(accessToken, { certificate: other.cert })).rejects.toMatchObject({ code: 'ERR_CNF_MISMATCH' });
      await expect(verifier.verify(accessToken)).rejects.toMatchObject({ code: 'ERR_CNF_MISMATCH' });
    } finally {
      await tokens.close();
    }
  });

  it('a chosen subject is registered as its RFC 4514 DN; plain undici and the client getToken() (node:https) get bound tokens', async () => {
    const client = await issuer.createClient({
      audience: API,
      scopes: ['orders:read'],
      method: 'tls_client_auth',
      subject: { commonName: 'orders, client', organizationalUnit: 'Payments', organization: 'Example Corp', country: 'DE' },
    });
    expect(client.certificate!.subjectDn).toBe('CN=orders\\, client,OU=Payments,O=Example Corp,C=DE');
    const answer = await tokenRequest(client, client.certificate!);
    expect(answer.status).toBe(200);
    expect(answer.body.token_type).toBe('Bearer');
    expect(decodeJwt(answer.body.access_token as string).cnf).toEqual({ 'x5t#S256': client.certificate!.thumbprint });
    expect(decodeJwt(await client.getToken()).cnf).toEqual({ 'x5t#S256': client.certificate!.thumbprint });
  });

  it('refuses (401 invalid_client) a certificate with the registered DN from another CA, one from the issuer CA with another DN, and none at all', async () => {
    const client = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'tls_client_auth', subject: { commonName: 'billing-client' } });
    const impostor = createCertificate({ subject: { commonName: 'billing-client' }, role: 'client' });
    const otherSubject = issuer.mtls!.issueCertificate({ commonName: 'shipping-client' });
    for (const presented of [impostor, otherSubject, null]) {
      const answer = await tokenRequest(client, presented);
      expect(answer.status, presented?.subjectDn ?? 'no certificate').toBe(401);
      expect(answer.body.error).toBe('invalid_client');
      expect(answer.body.error_description).toEqual(expect.any(String));
    }
    // The right certificate on the same endpoint works: the refusals were about the certificate.
    expect((await tokenRequest(client, client.certificate!)).status).toBe(200);
  });
});

describe('openid-client against the mTLS listener', () => {
  it('TlsClientAuth with use_mtls_endpoint_aliases (RFC 8705 §5) gets a certificate-bound token', async () => {
    const client = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'tls_client_auth' });
    const agent = new Agent({ connect: { ca: client.ca!, cert: client.certificate!.cert, key: client.certificate!.key } });
    try {
      const fetchThrough = ((url: string, options: object) => undiciFetch(url, { ...options, dispatcher: agent })) as unknown as oidc.CustomFetch;
      const config = await oidc.discovery(new URL(issuer.issuer), client.clientId, { use_mtls_endpoint_aliases: true }, oidc.TlsClientAuth(), {
        [oidc.customFetch]: fetchThrough,
        execute: [oidc.allowInsecureRequests], // discovery is on the plain-HTTP listener
      });
      const tokens = await oidc.clientCredentialsGrant(config, { audience: API, scope: 'orders:read' });
      expect(decodeJwt(tokens.access_token).cnf).toEqual({ 'x5t#S256': client.certificate!.thumbprint });
    } finally {
      await agent.close();
    }
  });
});

describe('createClient({ method: "self_signed_tls_client_auth" }) (RFC 8705 §2.2)', () => {
  it('returns a self-signed certificate registered in the client JWKS (x5c); a bound token through @tessera/client', async () => {
    const client = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'self_signed_tls_client_auth' });
    const certificate = client.certificate!;
    expect(certificate.x509.issuer).toBe(certificate.x509.subject);
    expect(certificate.x509.verify(certificate.x509.publicKey)).toBe(true);
    expect(certificate.x509.verify(new X509Certificate(client.ca!).publicKey)).toBe(false);

    const tokens = createTokenClient({ issuer: issuer.issuer, clientId: client.clientId, auth: selfSignedTlsClientAuth({ cert: certificate.cert, key: certificate.key, ca: client.ca! }) });
    try {
      const { accessToken } = await tokens.getToken({ audience: API });
      expect(decodeJwt(accessToken).cnf).toEqual({ 'x5t#S256': certificate.thumbprint });
      await expect(createVerifier({ issuer: issuer.issuer, audience: API }).verify(accessToken, { certificate: certificate.x509 })).resolves.toMatchObject({ scope: 'orders:read' });
    } finally {
      await tokens.close();
    }
    expect(decodeJwt(await client.getToken()).cnf).toEqual({ 'x5t#S256': certificate.thumbprint });
  });

  it('refuses (401 invalid_client) another self-signed certificate with the same subject, and another client\'s certificate', async () => {
    const client = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'self_signed_tls_client_auth', subject: { commonName: 'inventory' } });
    const sameSubject = createCertificate({ subject: { commonName: 'inventory' }, role: 'client' });
    const otherClient = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'self_signed_tls_client_auth' });
    for (const presented of [sameSubject, otherClient.certificate!]) {
      const answer = await tokenRequest(client, presented);
      expect(answer.status).toBe(401);
      expect(answer.body.error).toBe('invalid_client');
    }
    await expect(client.getToken()).resolves.toEqual(expect.any(String));
  });
});

describe('without the mTLS listener', () => {
  it('mtls: false and listen: false have none, and an mTLS client is refused with a TypeError that says why', async () => {
    for (const options of [{ mtls: false }, { listen: false }] as const) {
      const plain = await startTestIssuer(options);
      try {
        expect(plain.mtls).toBeNull();
        await expect(plain.createClient({ audience: API, method: 'tls_client_auth' })).rejects.toThrow(/mTLS listener/);
        const metadata = (await (await plain.fetch(plain.discoveryUrl)).json()) as Record<string, unknown>;
        expect(metadata.mtls_endpoint_aliases).toBeUndefined();
      } finally {
        await plain.stop();
      }
    }
    await expect(startTestIssuer({ listen: false, mtls: true })).rejects.toThrow(/listen: true/);
  });
});
