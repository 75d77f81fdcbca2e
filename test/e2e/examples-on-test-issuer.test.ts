/**
 * The example services tested as a team would test its own: against a real issuer
 * started in the test process by @tessera/testing, no `tessera serve` needed.
 * examples/resource-service.mjs runs as its own process (as in production) and must
 * answer each token as RFC 6750 says; examples/calling-service.mjs gets a token with a
 * client the test issuer registered and calls it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { startTestIssuer, type TestIssuer } from '@tessera/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const AUDIENCE = 'https://orders.example/api';

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

let issuer: TestIssuer;
let resourceService: ChildProcess;
let ordersUrl: string;

beforeAll(async () => {
  issuer = await startTestIssuer();
  const port = await freePort();
  ordersUrl = `http://127.0.0.1:${port}/orders`;
  resourceService = spawn(process.execPath, ['examples/resource-service.mjs'], {
    cwd: ROOT,
    env: { ...process.env, TESSERA_ISSUER: issuer.issuer, API_AUDIENCE: AUDIENCE, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`resource service did not start:\n${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('listening on')) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    resourceService.stdout?.on('data', onData);
    resourceService.stderr?.on('data', onData);
    resourceService.once('exit', (code) => reject(new Error(`resource service exited with ${String(code)}:\n${output}`)));
  });
}, 30_000);

afterAll(async () => {
  if (resourceService?.pid !== undefined && resourceService.exitCode === null) {
    const exited = new Promise((r) => resourceService.once('exit', r));
    process.kill(resourceService.pid, 'SIGTERM');
    await exited;
  }
  await issuer?.stop();
});

const call = (token: string) => fetch(ordersUrl, { headers: { authorization: `Bearer ${token}` } });

describe('examples/resource-service.mjs against @tessera/testing', () => {
  it('answers 200 with the caller for a token from a real client_credentials request', async () => {
    const client = await issuer.createClient({ audience: AUDIENCE, scopes: ['orders:read'] });
    const response = await call(await client.getToken());
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub: client.clientId, scope: 'orders:read' });
  });

  it('answers 401 invalid_token (RFC 6750 §3.1) for an expired token, another audience and a forged signature', async () => {
    for (const token of [
      await issuer.issueToken({ audience: AUDIENCE, scope: 'orders:read', expiresIn: -60 }),
      await issuer.issueToken({ audience: 'https://billing.example', scope: 'orders:read' }),
      await issuer.tamper.wrongKey(await issuer.issueToken({ audience: AUDIENCE, scope: 'orders:read' })),
    ]) {
      const response = await call(token);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    }
  });

  it('answers 403 insufficient_scope (RFC 6750 §3.1) for a token without orders:read', async () => {
    const response = await call(await issuer.issueToken({ audience: AUDIENCE, scope: 'orders:write', sub: 'someone' }));
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
  });
});

describe('examples/calling-service.mjs against @tessera/testing', () => {
  it('gets a token with its client secret and calls the resource service', async () => {
    const client = await issuer.createClient({ audience: AUDIENCE, scopes: ['orders:read'] });
    const child = spawn(process.execPath, ['examples/calling-service.mjs'], {
      cwd: ROOT,
      env: { ...process.env, TESSERA_ISSUER: issuer.issuer, CLIENT_ID: client.clientId, CLIENT_SECRET: client.clientSecret as string, API_AUDIENCE: AUDIENCE, API_URL: ordersUrl },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
    expect(code, stdout).toBe(0);
    expect(stdout).toMatch(/^200 OK/);
  }, 30_000);
});
