/**
 * The certificates createCertificate writes (RFC 5280): parsed by node:crypto's
 * X509Certificate, and, where the openssl command exists, verified by OpenSSL for the
 * purpose they were made for.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCertificate, subjectDn } from '../src/index.js';

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('createCertificate', () => {
  const ca = createCertificate({ subject: { commonName: 'Test CA', organization: 'Example Corp' }, role: 'ca' });
  const server = createCertificate({ subject: { commonName: '127.0.0.1' }, role: 'server', issuer: ca, hosts: ['127.0.0.1', 'localhost'] });
  const client = createCertificate({ subject: { commonName: 'orders-client', organizationalUnit: 'Payments', organization: 'Example Corp', country: 'DE' }, role: 'client', issuer: ca });
  const selfSigned = createCertificate({ subject: { commonName: 'self' }, role: 'client' });

  it('RFC 5280 §4.2.1.9: a CA certificate is marked CA; leaf certificates are not, and are signed by their issuer', () => {
    expect(ca.x509.ca).toBe(true);
    expect(ca.x509.checkIssued(ca.x509)).toBe(true);
    for (const leaf of [server, client]) {
      expect(leaf.x509.ca).toBe(false);
      expect(leaf.x509.checkIssued(ca.x509)).toBe(true);
      expect(leaf.x509.verify(ca.x509.publicKey)).toBe(true);
      expect(leaf.x509.issuer).toBe(ca.x509.subject);
    }
    expect(selfSigned.x509.verify(selfSigned.x509.publicKey)).toBe(true);
    expect(client.x509.verify(selfSigned.x509.publicKey)).toBe(false);
  });

  it('RFC 5280 §4.2.1.12 and §4.2.1.6: extended key usage by role, subjectAltName for the server', () => {
    expect(server.x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(client.x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(server.x509.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost');
    expect(server.x509.checkHost('localhost')).toBe('localhost');
    expect(server.x509.checkIP('127.0.0.2')).toBeUndefined();
  });

  it('the subject DN in RFC 4514 form, most specific first, with special characters escaped', () => {
    expect(client.subjectDn).toBe('CN=orders-client,OU=Payments,O=Example Corp,C=DE');
    expect(client.x509.subject.split('\n')).toEqual(['C=DE', 'O=Example Corp', 'OU=Payments', 'CN=orders-client']);
    expect(subjectDn({ commonName: 'a,b+c', organization: ' lead' })).toBe('CN=a\\,b\\+c,O=\\ lead');
    // RFC 4514 §2.4: a leading and a trailing space are each escaped once, even when they are the same one; NUL as \00.
    expect(subjectDn({ commonName: ' ' })).toBe('CN=\\ ');
    expect(subjectDn({ commonName: '  ' })).toBe('CN=\\ \\ ');
    expect(subjectDn({ commonName: '# x ' })).toBe('CN=\\# x\\ ');
    expect(subjectDn({ commonName: 'a\u0000b' })).toBe('CN=a\\00b');
    expect(() => createCertificate({ subject: { commonName: 'x', country: 'Germany' }, role: 'client' })).toThrow(/country/);
    expect(() => createCertificate({ subject: { commonName: '' }, role: 'client' })).toThrow(/commonName/);
  });

  it('validity: an hour ago to a day ahead by default, or the dates given (UTCTime and GeneralizedTime)', () => {
    const now = Date.now();
    expect(new Date(client.x509.validFrom).getTime()).toBeLessThan(now);
    expect(new Date(client.x509.validTo).getTime()).toBeGreaterThan(now + 23 * 3_600_000);
    const expired = createCertificate({ subject: { commonName: 'old' }, role: 'client', notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2020-01-02T00:00:00Z') });
    expect(new Date(expired.x509.validTo).toISOString()).toBe('2020-01-02T00:00:00.000Z');
    const late = createCertificate({ subject: { commonName: 'late' }, role: 'client', notAfter: new Date('2051-06-01T12:00:00Z') });
    expect(new Date(late.x509.validTo).toISOString()).toBe('2051-06-01T12:00:00.000Z');
    expect(() => createCertificate({ subject: { commonName: 'x' }, role: 'client', notBefore: new Date(now), notAfter: new Date(now - 1) })).toThrow(/notBefore/);
  });

  it('the key is the certificate\'s, and the thumbprint is RFC 8705 §3.1 x5t#S256 of the DER', async () => {
    const { createHash, createPublicKey } = await import('node:crypto');
    expect(createPublicKey(client.key).export({ type: 'spki', format: 'der' }).equals(client.x509.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(client.thumbprint).toBe(createHash('sha256').update(new X509Certificate(client.cert).raw).digest('base64url'));
    expect(createCertificate({ subject: { commonName: 'orders-client' }, role: 'client', issuer: ca }).x509.serialNumber).not.toBe(client.x509.serialNumber);
  });

  it.skipIf(!hasOpenssl)('OpenSSL verifies the chain for each purpose (skipped without the openssl command)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-certificates-check-'));
    try {
      const write = (name: string, pem: string) => {
        writeFileSync(join(dir, name), pem);
        return join(dir, name);
      };
      const caFile = write('ca.pem', ca.cert);
      const verify = (purpose: string, file: string) => execFileSync('openssl', ['verify', '-CAfile', caFile, '-purpose', purpose, file], { encoding: 'utf8', stdio: 'pipe' });
      expect(verify('sslserver', write('server.pem', server.cert))).toMatch(/: OK/);
      expect(verify('sslclient', write('client.pem', client.cert))).toMatch(/: OK/);
      // A certificate made for clients is not one for servers.
      expect(() => verify('sslserver', join(dir, 'client.pem'))).toThrow();
      expect(() => verify('sslclient', write('self.pem', selfSigned.cert))).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
