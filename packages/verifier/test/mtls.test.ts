import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, httpAuthenticator } from '@tessera/verifier';
import { AUDIENCE, startIssuer } from './issuer.js';
import type { TestIssuer } from './issuer.js';

interface Pair { key: string; cert: string }

function selfSigned(dir: string, name: string): Pair {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
    '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`), '-days', '1'], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.pem`), 'utf8') };
}

function thumbprint(pem: string): string {
  return Buffer.from(new X509Certificate(pem).fingerprint256.replaceAll(':', ''), 'hex').toString('base64url');
}

let issuer: TestIssuer;
let server: Server;
let url: string;
let clientA: Pair;
let clientB: Pair;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-mtls-'));
  const serverPair = selfSigned(dir, 'server');
  clientA = selfSigned(dir, 'client-a');
  clientB = selfSigned(dir, 'client-b');
  issuer = await startIssuer();
  const authenticate = httpAuthenticator(createVerifier({ issuer: issuer.issuer, audience: AUDIENCE }));
  // Self-signed client certificates (RFC 8705 §2.2): the TLS layer proves key possession,
  // the binding check decides; so the chain is not validated here.
  server = createServer({ ...serverPair, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    void authenticate(req, res, { scopes: ['orders:read'] }).then((claims) => {
      if (claims === null) return;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: claims.sub }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await issuer.close();
});

function call(token: string, client?: Pair): Promise<{ status: number; challenge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, agent: false, ...client }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('RFC 8705 §3 over a real mutual-TLS connection (node:http adapter, default certificate source)', () => {
  it('RFC 8705 §3: accepts a bound token over the connection with its certificate', async () => {
    const token = await issuer.sign(issuer.claims({ cnf: { 'x5t#S256': thumbprint(clientA.cert) } }));
    expect((await call(token, clientA)).status).toBe(200);
  });

  it('RFC 8705 §3: answers 401 invalid_token for another certificate or none', async () => {
    const token = await issuer.sign(issuer.claims({ cnf: { 'x5t#S256': thumbprint(clientA.cert) } }));
    for (const client of [clientB, undefined]) {
      const answer = await call(token, client);
      expect(answer.status).toBe(401);
      expect(answer.challenge).toBe(
        `Bearer realm="${AUDIENCE}", error="invalid_token", error_description="The access token is bound to a different client certificate"`,
      );
    }
  });

  it('unbound tokens work with or without a client certificate', async () => {
    const token = await issuer.sign();
    expect((await call(token, clientB)).status).toBe(200);
    expect((await call(token)).status).toBe(200);
  });
});
