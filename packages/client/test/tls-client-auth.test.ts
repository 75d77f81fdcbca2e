import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigurationError, createTokenClient, selfSignedTlsClientAuth, tlsClientAuth } from '../src/index.js';
import { createTestPki, type TestPki } from './helpers/certificates.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';

let pki: TestPki;
let issuer: TestIssuer;

beforeAll(async () => {
  pki = createTestPki('orders-service');
  issuer = await startTestIssuer({
    clients: [{ clientId: 'mtls-client', method: 'tls_client_auth', subjectCN: 'orders-service' }],
    mtls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca },
  });
});
afterAll(async () => {
  await issuer?.close();
});

describe('tls_client_auth (RFC 8705)', () => {
  it('presents the certificate at the mTLS alias of the token endpoint and sends client_id', async () => {
    const auth = tlsClientAuth({ cert: pki.client.cert, key: pki.client.key, ca: pki.ca });
    const client = createTokenClient({ issuer: issuer.issuer, clientId: 'mtls-client', auth });
    try {
      expect(await client.tokenEndpoint()).toBe(issuer.mtlsTokenEndpoint);
      const token = await client.getToken({ audience: 'orders-api' });

      expect(token.accessToken).toBe('at-1');
      const [request] = issuer.tokenRequests;
      expect(request?.via).toBe('https');
      expect(request?.peerCertificateCN).toBe('orders-service');
      expect(request?.clientId).toBe('mtls-client');
      expect(request?.params.get('client_id')).toBe('mtls-client');
      expect(request?.params.has('client_secret')).toBe(false);
      expect(request?.authorization).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it('is refused when the certificate comes from an untrusted CA', async () => {
    const auth = tlsClientAuth({ cert: pki.stranger.cert, key: pki.stranger.key, ca: pki.ca });
    const client = createTokenClient({ issuer: issuer.issuer, clientId: 'mtls-client', auth });
    try {
      await expect(client.getToken({ audience: 'other' })).rejects.toMatchObject({
        code: 'ERR_OAUTH_ERROR',
        error: 'invalid_client',
      });
      expect(issuer.tokenRequests.at(-1)?.peerCertificateCN).toBe('orders-service');
    } finally {
      await client.close();
    }
  });

  it('fails with ERR_NETWORK when the server certificate is not trusted', async () => {
    const auth = selfSignedTlsClientAuth({ cert: pki.client.cert, key: pki.client.key }); // no ca: Node's roots
    const client = createTokenClient({
      issuer: issuer.issuer,
      clientId: 'mtls-client',
      auth,
      retry: { maxAttempts: 1 },
    });
    try {
      expect(auth.method).toBe('self_signed_tls_client_auth');
      await expect(client.getToken()).rejects.toMatchObject({ code: 'ERR_NETWORK' });
    } finally {
      await client.close();
    }
  });

  it('presents the certificate to the API through the fetch wrapper (certificate-bound tokens)', async () => {
    const { createServer } = await import('node:https');
    const seen: Array<{ cn: unknown; authorization: string | undefined }> = [];
    const api = createServer(
      { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const socket = req.socket as import('node:tls').TLSSocket;
        seen.push({ cn: socket.getPeerCertificate().subject?.CN, authorization: req.headers.authorization });
        res.end('ok');
      },
    );
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const { port } = api.address() as { port: number };
    const auth = tlsClientAuth({ cert: pki.client.cert, key: pki.client.key, ca: pki.ca });
    const client = createTokenClient({ issuer: issuer.issuer, clientId: 'mtls-client', auth });
    try {
      const response = await client.fetch(`https://127.0.0.1:${port}/orders`, undefined, { audience: 'orders-api' });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('ok');
      expect(seen).toEqual([{ cn: 'orders-service', authorization: expect.stringMatching(/^Bearer at-\d+$/) }]);
    } finally {
      await client.close();
      api.closeAllConnections();
      await new Promise<void>((resolve) => api.close(() => resolve()));
    }
  });

  it('needs a certificate and a key', () => {
    expect(() => tlsClientAuth({ cert: '', key: '' })).toThrow(ConfigurationError);
  });
});
