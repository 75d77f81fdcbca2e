/** A throwaway PKI for mTLS tests: a CA, a server certificate for 127.0.0.1 and a client certificate. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  ca: string;
  server: { cert: string; key: string };
  client: { cert: string; key: string };
  /** A client certificate from an unrelated CA. */
  stranger: { cert: string; key: string };
}

export function createTestPki(clientCN: string): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-client-pki-'));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=Tessera Test CA');
    openssl('req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '1', '-subj', '/CN=Other CA');
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    const issue = (name: string, cn: string, ext: string, ca = 'ca'): void => {
      openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
        '-out', `${name}.crt`, '-days', '1', '-extfile', ext);
    };
    issue('server', '127.0.0.1', 'server.ext');
    issue('client', clientCN, 'client.ext');
    issue('stranger', clientCN, 'client.ext', 'other-ca');
    const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
    return {
      ca: read('ca.crt'),
      server: { cert: read('server.crt'), key: read('server.key') },
      client: { cert: read('client.crt'), key: read('client.key') },
      stranger: { cert: read('stranger.crt'), key: read('stranger.key') },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
