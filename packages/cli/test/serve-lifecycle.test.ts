/**
 * `tessera serve` as a process on the embedded store: start-up time, the bootstrap's
 * admin.json, graceful SIGTERM, and a restart on the same data directory.
 */
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import * as http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { CLI_BIN, cliFor, freePort, isOk, REPO_ROOT, runCli, type ServerProcess, sleep, startServer, stopAllServers } from './helpers/tessera-process.js';

const AUDIENCE = 'https://ledger.example.com';

let dir: TempDir;
let dataDir: string;
let port: number;
let first: ServerProcess | undefined;

beforeAll(async () => {
  dir = await makeTempDir('tessera-serve-');
  dataDir = join(dir.path, 'data');
  port = await freePort();
});

afterAll(async () => {
  await stopAllServers();
  await dir?.cleanup();
});

/** A token request whose body arrives in two parts, so that it is in flight for as long as we like. */
function slowTokenRequest(url: string, credentials: { clientId: string; clientSecret: string }, keepAlive: boolean) {
  const body = new URLSearchParams({ grant_type: 'client_credentials', audience: AUDIENCE }).toString();
  const agent = keepAlive ? new http.Agent({ keepAlive: true }) : false;
  let finish: () => void = () => {};
  const response = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
    const request = http.request(`${url}/t/default/token`, {
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
        authorization: `Basic ${Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`).toString('base64')}`,
      },
    }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection }));
      res.on('error', reject);
    });
    request.on('error', reject);
    request.write(body.slice(0, 10));
    finish = () => request.end(body.slice(10));
  });
  return { response, finish: () => finish(), close: () => (agent === false ? undefined : agent.destroy()) };
}

function withoutLastUse(page: unknown): unknown {
  const { items } = page as { items: { lastUsedAt?: number | null; secrets: { lastUsedAt?: number }[] }[] };
  return items.map(({ lastUsedAt: _, ...client }) => ({ ...client, secrets: client.secrets.map(({ lastUsedAt: __, ...secret }) => secret) }));
}

describe('tessera serve (embedded store)', { timeout: 60_000 }, () => {
  const before: { adminJson?: string; clients?: unknown; apis?: unknown; keys?: unknown; token?: string; credentials?: { clientId: string; clientSecret: string } } = {};

  it('is ready quickly and writes admin.json with mode 0600 and every SPEC §1 field', async () => {
    const spawned = performance.now();
    first = await startServer({ dataDir, port, wait: false });
    let readyMs = 0;
    for (;;) {
      if (await isOk(`${first.url}/readyz`)) {
        readyMs = performance.now() - spawned;
        break;
      }
      if (performance.now() - spawned > 20_000) throw new Error(`not ready after 20 s:\n${first.output()}`);
      await sleep(5);
    }
    console.log(`tessera serve: /readyz answered 200 ${Math.round(readyMs)} ms after spawn (first start, bootstrap included)`);
    expect(readyMs).toBeLessThan(5_000);

    const info = await stat(first.adminFile);
    expect(info.mode & 0o777).toBe(0o600);
    const admin = JSON.parse(await readFile(first.adminFile, 'utf8'));
    const url = `http://127.0.0.1:${port}`;
    expect(admin).toMatchObject({
      url,
      issuer: `${url}/t/admin`,
      tokenEndpoint: `${url}/t/admin/token`,
      clientId: expect.any(String),
      clientSecret: expect.any(String),
      managementApi: `${url}/manage/v1`,
      consoleUrl: expect.any(String),
      consoleUser: expect.any(String),
      consolePassword: expect.any(String),
    });
    expect(first.output()).toContain(first.adminFile);
  });

  it('SIGTERM while a request is in flight: the request completes and the exit code is 0', async () => {
    const server = first as ServerProcess;
    const cli = cliFor(server);
    await cli.json(['apis', 'create', '--identifier', AUDIENCE, '--scope', 'ledger:read']);
    const client = await cli.json(['clients', 'create', '--name', 'ledger-reader']);
    await cli.json(['grants', 'create', '--client', client.clientId, '--audience', AUDIENCE, '--scope', 'ledger:read']);
    before.credentials = { clientId: client.clientId, clientSecret: client.clientSecret };
    const issued = await runCli(['token', '--url', server.url, '--client-id', client.clientId, '--client-secret', client.clientSecret]);
    expect(issued.code).toBe(0);
    before.token = issued.stdout.trim();
    before.adminJson = await readFile(server.adminFile, 'utf8');
    before.clients = await cli.json(['clients', 'list']);
    before.apis = await cli.json(['apis', 'list']);
    before.keys = await cli.json(['keys', 'list']);

    // `Connection: close`, as a client that does not pool connections sends.
    const slow = slowTokenRequest(server.url, before.credentials, false);
    await sleep(200); // the server has the headers and waits for the body
    const exit = server.stop('SIGTERM');
    await sleep(300);
    let exited = false;
    void exit.then(() => (exited = true));
    expect(exited).toBe(false); // still finishing the request
    slow.finish();
    const response = await slow.response;
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).access_token).toEqual(expect.any(String));
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(await isOk(`${server.url}/healthz`)).toBe(false);
  });

  // A keep-alive connection must not hold the server open after its last response.
  it('SIGTERM with a keep-alive request in flight: the request completes and the exit code is 0', async () => {
    const server = await startServer({ dataDir: join(dir.path, 'keepalive') });
    const cli = cliFor(server);
    await cli.json(['apis', 'create', '--identifier', AUDIENCE, '--scope', 'ledger:read']);
    const client = await cli.json(['clients', 'create', '--name', 'pooled']);
    await cli.json(['grants', 'create', '--client', client.clientId, '--audience', AUDIENCE, '--scope', 'ledger:read']);
    const slow = slowTokenRequest(server.url, client, true);
    await sleep(200);
    const started = performance.now();
    const exit = server.stop('SIGTERM');
    await sleep(300);
    slow.finish();
    const response = await slow.response;
    expect(response.status).toBe(200);
    expect(response.connection).toBe('close');
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(performance.now() - started).toBeLessThan(3_000);
    slow.close();
  });

  it('restarts on the same data dir without re-bootstrapping; state, credentials and old tokens survive', async () => {
    expect(before.adminJson).toBeDefined();
    const second = await startServer({ dataDir, port });
    console.log(`tessera serve: healthy ${Math.round(second.startedInMs)} ms after spawn (restart)`);
    expect(second.output()).not.toMatch(/First start|bootstrapped/);
    expect(await readFile(second.adminFile, 'utf8')).toBe(before.adminJson);

    // The old admin credentials still work (the CLI uses them for every call).
    const cli = cliFor(second);
    // Only `lastUsedAt` (of a client and its secrets) may differ: the last token request is recorded at shutdown.
    expect(withoutLastUse(await cli.json(['clients', 'list']))).toEqual(withoutLastUse(before.clients));
    expect(await cli.json(['apis', 'list'])).toEqual(before.apis);
    const keys = await cli.json(['keys', 'list']);
    expect(keys.items.map((k: { kid: string; status: string }) => [k.kid, k.status])).toEqual(
      (before.keys as typeof keys).items.map((k: { kid: string; status: string }) => [k.kid, k.status]),
    );

    // A token issued before the restart verifies against the JWKS served after it.
    const verified = await runCli(['verify', before.token as string, '--url', second.url, '--tenant', 'default', '--audience', AUDIENCE, '--json']);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ aud: AUDIENCE, client_id: before.credentials?.clientId });

    // And the client's secret still works.
    const again = await runCli(['token', '--url', second.url, '--client-id', before.credentials?.clientId ?? '', '--client-secret', before.credentials?.clientSecret ?? '']);
    expect(again.code).toBe(0);
    expect(await second.stop()).toEqual({ code: 0, signal: null });
  });

  it('npm start runs tessera serve', async () => {
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe('node packages/cli/bin/tessera.js serve');
    // A bad flag is a usage error: exit 2 with the serve usage, nothing started.
    const child = spawn(process.execPath, [CLI_BIN, 'serve', '--port', 'eighty'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('--port must be a number');
    expect(stderr).toContain('Usage: tessera serve');
  });
});
