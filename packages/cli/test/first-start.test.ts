/**
 * The first fifteen minutes, with real processes: a failed start leaves no trap, a data
 * directory serves one `serve`, a start killed at any point of its bootstrap is finished
 * by the next one, `npm start` stops when npm is killed, and the CLI's errors name the
 * URL, the admin file and the fix. Bounded: a handful of processes, 127.0.0.1 only.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseUrl } from '../../server/test/helpers/postgres.js';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { CLI_BIN, cliFor, freePort, isOk, REPO_ROOT, runCli, sleep, startServer, stopAllServers, waitFor } from './helpers/tessera-process.js';

let dir: TempDir;
let counter = 0;
const newDataDir = () => join(dir.path, `data-${++counter}`);
const exists = (path: string) => access(path).then(() => true, () => false);

beforeAll(async () => {
  dir = await makeTempDir('tessera-first-start-');
});
afterAll(async () => {
  await stopAllServers();
  await dir?.cleanup();
});

/** `tessera serve` to its exit (for starts that must fail). */
async function serveUntilExit(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI_BIN, 'serve', ...args], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '', TESSERA_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  return { code, stderr };
}

describe('a failed start leaves no trap', () => {
  it('a busy port: exit 1 naming --port and TESSERA_PORT, no admin.json; the next start writes the URL it listens on', { timeout: 60_000 }, async () => {
    const blocker = createTcpServer();
    const busy = await freePort();
    await new Promise<void>((resolve) => blocker.listen(busy, '127.0.0.1', resolve));
    const dataDir = newDataDir();
    try {
      const failed = await serveUntilExit(['--port', String(busy), '--data-dir', dataDir]);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain(`port ${busy} on 127.0.0.1 is already in use`);
      expect(failed.stderr).toMatch(/--port <n> or TESSERA_PORT/);
      expect(failed.stderr).not.toContain('EADDRINUSE:');
      expect(await exists(join(dataDir, 'admin.json'))).toBe(false);
    } finally {
      blocker.close();
    }
    const server = await startServer({ dataDir });
    const admin = JSON.parse(await readFile(server.adminFile, 'utf8'));
    expect(admin.url).toBe(server.url);
    await waitFor(async () => (server.output().includes('npx tessera demo') ? true : undefined), 5_000);
    expect(server.output()).toContain(`Tessera is listening on ${server.url}`);
    await cliFor(server).json(['tenants', 'list']);
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  it('SPEC §8: a second serve on a data directory in use is refused with the first one\'s PID; after kill -9 the directory is free', { timeout: 60_000 }, async () => {
    const dataDir = newDataDir();
    const first = await startServer({ dataDir });
    const second = await serveUntilExit(['--port', String(await freePort()), '--data-dir', dataDir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`is in use by another "tessera serve" (PID ${first.pid})`);
    expect(second.stderr).toMatch(/--data-dir or TESSERA_DATA_DIR/);
    expect(await isOk(`${first.url}/healthz`)).toBe(true);
    expect(await first.stop('SIGKILL')).toMatchObject({ signal: 'SIGKILL' });
    const third = await startServer({ dataDir });
    // Not bootstrapped again; on another port, the banner says admin.json names the old URL.
    await waitFor(async () => (third.output().includes('npx tessera demo') ? true : undefined), 5_000);
    expect(third.output()).not.toContain('written now');
    expect(third.output()).toContain(`names ${first.url} (the first start's URL)`);
    await cliFor(third).json(['tenants', 'list']);
    await third.stop();
  });

  const pgUrl = testDatabaseUrl();
  it.skipIf(pgUrl === undefined)('a PostgreSQL database that does not exist is named, before master.key is written (needs TESSERA_TEST_DATABASE_URL)', { timeout: 60_000 }, async () => {
    const base = new URL(pgUrl as string);
    base.pathname = `/tessera_missing_${randomBytes(4).toString('hex')}`;
    const dataDir = newDataDir();
    const failed = await serveUntilExit(['--port', String(await freePort()), '--data-dir', dataDir, '--database-url', base.toString()]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`the PostgreSQL database "${base.pathname.slice(1)}" does not exist`);
    expect(failed.stderr).toMatch(/--database-url or TESSERA_DATABASE_URL/);
    expect(await exists(join(dataDir, 'master.key'))).toBe(false);
  });
});

describe('kill -9 during the first start', () => {
  /**
   * Kill points chosen by what is on disk, so they land at each step whatever the load:
   * right after the database appears, after master.key, when admin.json's temporary file
   * or admin.json itself appears, and at a few fixed delays.
   */
  const points: [string, (files: string[], ms: number) => boolean][] = [
    ['the database file exists', (files) => files.includes('tessera.db')],
    ['master.key exists', (files) => files.includes('master.key')],
    ['admin.json is being written', (files) => files.some((f) => f.startsWith('.admin.json.tmp-')) || files.includes('admin.json')],
    ['admin.json exists', (files) => files.includes('admin.json')],
    ['150 ms after spawn', (_files, ms) => ms >= 150],
    ['600 ms after spawn', (_files, ms) => ms >= 600],
  ];
  for (const [name, due] of points) {
    it(`killed when ${name}: the next start leaves a complete store with working admin credentials`, { timeout: 60_000 }, async () => {
      const dataDir = newDataDir();
      await mkdir(dataDir, { recursive: true });
      const server = await startServer({ dataDir, wait: false });
      const started = performance.now();
      for (;;) {
        const files = await readdir(dataDir).catch(() => [] as string[]);
        if (due(files, performance.now() - started) || performance.now() - started > 15_000) break;
        await sleep(2);
      }
      await server.stop('SIGKILL');
      const hadAdminFile = await exists(join(dataDir, 'admin.json'));
      const next = await startServer({ dataDir, timeoutMs: 30_000 });
      const admin = JSON.parse(await readFile(next.adminFile, 'utf8'));
      // Either the first start got through its commit (admin.json was already on disk)
      // or it left nothing and this start bootstrapped: the credentials work either way.
      expect(typeof admin.clientSecret).toBe('string');
      const tenants = await cliFor({ url: next.url, adminFile: next.adminFile }).json(['tenants', 'list']);
      expect(tenants.items.map((t: { id: string }) => t.id).sort()).toEqual(['admin', 'default']);
      if (!hadAdminFile) expect(admin.url).toBe(next.url);
      expect((await readdir(dataDir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
      await next.stop();
    });
  }
});

describe('stopping', () => {
  it('killing the npm of `npm start` stops the server: nothing keeps listening', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const dataDir = newDataDir();
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: REPO_ROOT,
      env: { ...process.env, TESSERA_PORT: String(port), TESSERA_DATA_DIR: dataDir, TESSERA_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = `http://127.0.0.1:${port}/healthz`;
    try {
      await waitFor(async () => ((await isOk(url)) ? true : undefined), 30_000, 50);
      npm.kill('SIGTERM');
      await waitFor(async () => ((await isOk(url)) ? undefined : true), 15_000, 100);
      // And it exited (the lock on its data directory is free), not just stopped answering.
      await waitFor(async () => ((await exists(join(dataDir, 'serve.pid'))) ? undefined : true), 15_000, 100);
    } finally {
      npm.kill('SIGKILL');
      // If the server outlived npm (the bug this pins), end it by the PID it recorded.
      const orphan = Number((await readFile(join(dataDir, 'serve.pid'), 'utf8').catch(() => '')).trim());
      if (orphan > 0) process.kill(orphan, 'SIGKILL');
    }
  });
});

describe('CLI errors name the URL, the admin file and the fix', () => {
  let notTessera: Server;
  let notTesseraUrl: string;
  beforeAll(async () => {
    notTessera = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'));
    await new Promise<void>((resolve) => notTessera.listen(0, '127.0.0.1', resolve));
    const address = notTessera.address();
    notTesseraUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((resolve) => notTessera.close(() => resolve())));

  it('a server that is not running: start it or pass --url', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const admin = join(dir.path, 'unused-admin.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(admin, JSON.stringify({ clientId: 'a', clientSecret: 'b', url })));
    const result = await runCli(['tenants', 'list', '--admin', admin]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no Tessera server answers at ${url} (this URL is the one in ${admin})`);
    expect(result.stderr).toMatch(/Start it \(npm start, or npx tessera serve\), or pass the URL of the running one with --url or TESSERA_URL/);
  });

  it('a URL that is not Tessera is named', async () => {
    const admin = join(dir.path, 'unused-admin.json');
    const result = await runCli(['tenants', 'list', '--admin', admin, '--url', notTesseraUrl]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${notTesseraUrl} does not look like a Tessera server`);
  });

  it('401 with an admin file from another server: names both URLs and the file, suggests the stale URL', { timeout: 60_000 }, async () => {
    const a = await startServer({ dataDir: newDataDir() });
    const b = await startServer({ dataDir: newDataDir() });
    const result = await runCli(['tenants', 'list', '--url', b.url, '--admin', a.adminFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the server at ${b.url} does not accept the admin credentials in ${a.adminFile} (invalid_client)`);
    expect(result.stderr).toContain(`was written by the server at ${a.url}`);
    expect(result.stderr).toMatch(/stale URL/);
    await Promise.all([a.stop(), b.stop()]);
  });
});

describe('tessera demo', () => {
  it('registers an API, a client and a grant, and prints a curl (with audience) and a verify command that work', { timeout: 60_000 }, async () => {
    const server = await startServer({ dataDir: newDataDir() });
    const cli = cliFor(server);
    const demo = await cli.json(['demo']);
    expect(demo.curl).toContain(`-d audience=${demo.audience}`);
    expect(demo.curl).toContain(demo.tokenEndpoint);
    // The printed curl, run as a shell would.
    const curl = spawn('sh', ['-c', demo.curl], { stdio: ['ignore', 'pipe', 'inherit'] });
    let body = '';
    curl.stdout.on('data', (chunk: Buffer) => (body += chunk.toString()));
    const curlExit = await new Promise<number | null>((resolve) => curl.once('close', resolve));
    expect(curlExit).toBe(0);
    const token = JSON.parse(body).access_token as string;
    const verifyArgs = (demo.verify as string).replace(/^npx tessera /, '').replace('"$TOKEN"', token).split(' ');
    const verified = await runCli([...verifyArgs, '--json']);
    expect(verified.stderr).toBe('');
    expect(JSON.parse(verified.stdout)).toMatchObject({ aud: demo.audience, client_id: demo.clientId, scope: 'orders:read' });
    // A second run reuses the API and adds another client.
    const again = await cli.json(['demo']);
    expect(again.clientId).not.toBe(demo.clientId);
    const text = await cli.ok(['demo']);
    expect(text).toContain('curl -s');
    expect(text).toContain('npx tessera verify');
    await server.stop();
  });
});
