/**
 * Day two, end to end with the real `tessera serve` and CLI, on the embedded store and
 * (with TESSERA_TEST_DATABASE_URL) PostgreSQL: first-start credentials from the
 * environment, `tessera admin reset` with the server stopped and while it runs, one
 * public URL per deployment and how to change it, and master-key rotation
 * (`tessera keys rewrap`).
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../../server/test/helpers/postgres.js';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { freePort, runCli, startServer, stopAllServers, waitFor } from './helpers/tessera-process.js';

const AUDIENCE = 'urn:tessera:management';

interface Admin {
  url: string;
  clientId: string;
  clientSecret?: string;
  consoleUser: string;
  consolePassword?: string;
}

async function readAdmin(path: string): Promise<Admin> {
  return JSON.parse(await readFile(path, 'utf8')) as Admin;
}

/** The status of a client-credentials request for the management API at `url`. */
async function tokenStatus(url: string, clientId: string, secret: string): Promise<number> {
  const response = await fetch(`${url}/t/admin/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: AUDIENCE, scope: 'manage:read manage:write' }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Starts `serve` expecting it to refuse: its exit code and standard error. */
async function refusedStart(options: Parameters<typeof startServer>[0]): Promise<{ code: number | null; stderr: string }> {
  const server = await startServer({ ...options, wait: false });
  const exit = await Promise.race([server.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000))]);
  if (exit === null) {
    await server.stop('SIGKILL');
    throw new Error(`serve did not refuse to start:\n${server.output()}`);
  }
  return { code: exit.code, stderr: server.stderr() };
}

const pgAdminUrl = testDatabaseUrl();
const stores: { name: string; pg: boolean }[] = [
  { name: 'embedded store', pg: false },
  { name: `PostgreSQL${pgAdminUrl === undefined ? ' (skipped: set TESSERA_TEST_DATABASE_URL)' : ''}`, pg: true },
];

const dirs: TempDir[] = [];
const databases: TestDatabase[] = [];
afterAll(async () => {
  await stopAllServers();
  await Promise.all(databases.map((db) => db.drop()));
  await Promise.all(dirs.map((dir) => dir.cleanup()));
});

for (const { name, pg } of stores) {
  describe.skipIf(pg && pgAdminUrl === undefined)(`day two (${name})`, { timeout: 120_000 }, () => {
    /** A fresh deployment: its data directory, and for PostgreSQL a database and a shared master key. */
    async function deployment(): Promise<{ dataDir: string; env: Record<string, string>; storeArgs: string[]; dir: TempDir }> {
      const dir = await makeTempDir('tessera-daytwo-');
      dirs.push(dir);
      const dataDir = join(dir.path, 'data');
      if (!pg) return { dataDir, env: {}, storeArgs: ['--data-dir', dataDir], dir };
      const db = (await createTestDatabase()) as TestDatabase;
      databases.push(db);
      return { dataDir, env: { TESSERA_DATABASE_URL: db.url, TESSERA_MASTER_KEY: randomBytes(32).toString('base64') }, storeArgs: ['--database-url', db.url, '--data-dir', dataDir], dir };
    }

    it('TESSERA_BOOTSTRAP_ADMIN_SECRET and _CONSOLE_PASSWORD give the first start its credentials, left out of admin.json; later starts ignore them', async () => {
      const { dataDir, env } = await deployment();
      const secret = randomBytes(33).toString('base64url');
      const password = 'correct horse battery staple';
      const server = await startServer({ dataDir, env: { ...env, TESSERA_BOOTSTRAP_ADMIN_SECRET: secret, TESSERA_BOOTSTRAP_CONSOLE_PASSWORD: password }, timeoutMs: 30_000 });
      const admin = await readAdmin(server.adminFile);
      expect(admin.clientSecret).toBeUndefined();
      expect(admin.consolePassword).toBeUndefined();
      expect(await readFile(server.adminFile, 'utf8')).not.toContain(secret);
      expect(await tokenStatus(server.url, admin.clientId, secret)).toBe(200);
      const login = (pw: string) => fetch(`${server.url}/console/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: admin.consoleUser, password: pw }) }).then((r) => r.status);
      expect(await login(password)).toBe(200);
      expect(await login(`${password}!`)).toBe(401);
      // The CLI takes the secret from the same variable where admin.json has none.
      const listed = await runCli(['tenants', 'list', '--json', '--url', server.url, '--admin', server.adminFile], { env: { TESSERA_BOOTSTRAP_ADMIN_SECRET: secret } });
      expect(listed.stderr).toBe('');
      expect(JSON.parse(listed.stdout).items.map((t: { id: string }) => t.id).sort()).toEqual(['admin', 'default']);
      const withoutSecret = await runCli(['tenants', 'list', '--url', server.url, '--admin', server.adminFile]);
      expect(withoutSecret.stderr).toMatch(/TESSERA_BOOTSTRAP_ADMIN_SECRET/);
      await server.stop();

      // Ignored after the first start: another value changes nothing.
      const other = randomBytes(33).toString('base64url');
      const again = await startServer({ dataDir, port: server.port, env: { ...env, TESSERA_BOOTSTRAP_ADMIN_SECRET: other }, timeoutMs: 30_000 });
      expect(await tokenStatus(again.url, admin.clientId, secret)).toBe(200);
      expect(await tokenStatus(again.url, admin.clientId, other)).toBe(401);
      await again.stop();
    });

    it('a TESSERA_BOOTSTRAP_ADMIN_SECRET shorter than 32 characters is refused before anything is written', async () => {
      const { dataDir, env } = await deployment();
      const refused = await refusedStart({ dataDir, env: { ...env, TESSERA_BOOTSTRAP_ADMIN_SECRET: 'x'.repeat(31) } });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('TESSERA_BOOTSTRAP_ADMIN_SECRET must be at least 32 characters');
      await expect(stat(join(dataDir, 'admin.json'))).rejects.toThrow();
    });

    it('admin reset with the server stopped: a new admin.json (0600) whose secret works, the old secret revoked, audited', async () => {
      const { dataDir, env, storeArgs } = await deployment();
      const first = await startServer({ dataDir, env, timeoutMs: 30_000 });
      const old = await readAdmin(first.adminFile);
      await first.stop();

      const reset = await runCli(['admin', 'reset', ...storeArgs, '--json'], { env });
      expect(reset.stderr).toBe('');
      expect(reset.code).toBe(0);
      const outcome = JSON.parse(reset.stdout);
      expect(outcome).toMatchObject({ clientId: old.clientId, url: old.url, adminFile: join(dataDir, 'admin.json') });
      expect(outcome.revokedSecrets).toHaveLength(1);
      expect(reset.stdout).not.toContain(old.clientSecret as string);
      const renewed = await readAdmin(join(dataDir, 'admin.json'));
      expect((await stat(join(dataDir, 'admin.json'))).mode & 0o777).toBe(0o600);
      expect(renewed.clientSecret).not.toBe(old.clientSecret);
      // The console password still works, so it is kept.
      expect(renewed.consolePassword).toBe(old.consolePassword);

      const second = await startServer({ dataDir, port: first.port, env, timeoutMs: 30_000 });
      expect(await tokenStatus(second.url, old.clientId, old.clientSecret as string)).toBe(401);
      expect(await tokenStatus(second.url, renewed.clientId, renewed.clientSecret as string)).toBe(200);
      const audit = await runCli(['audit', '--tenant', 'admin', '--json', '--url', second.url, '--admin', join(dataDir, 'admin.json')]);
      const entries = JSON.parse(audit.stdout).items as { action: string; actor: string }[];
      expect(entries.find((e) => e.action === 'admin.reset')?.actor).toMatch(/^cli:.+@.+/);
      await second.stop();
    });

    it('admin reset while the server runs: the old secret stops working and the new one gets a token, without a restart', async () => {
      const { dataDir, env, storeArgs } = await deployment();
      const server = await startServer({ dataDir, env, timeoutMs: 30_000 });
      const old = await readAdmin(server.adminFile);
      expect(await tokenStatus(server.url, old.clientId, old.clientSecret as string)).toBe(200);
      const reset = await runCli(['admin', 'reset', ...storeArgs], { env });
      expect(reset.code, reset.stderr).toBe(0);
      const renewed = await readAdmin(server.adminFile);
      expect(renewed.clientSecret).not.toBe(old.clientSecret);
      await waitFor(async () => ((await tokenStatus(server.url, old.clientId, old.clientSecret as string)) === 401 ? true : undefined), 5_000);
      expect(await tokenStatus(server.url, renewed.clientId, renewed.clientSecret as string)).toBe(200);
      const listed = await runCli(['tenants', 'list', '--json', '--url', server.url, '--admin', server.adminFile]);
      expect(listed.code, listed.stderr).toBe(0);
      expect(await server.stop()).toEqual({ code: 0, signal: null });
    });

    it('admin reset with a wrong master key or without a store is refused with the reason', async () => {
      const { dataDir, env, storeArgs, dir } = await deployment();
      const server = await startServer({ dataDir, env, timeoutMs: 30_000 });
      await server.stop();
      const wrongKey = await runCli(['admin', 'reset', ...storeArgs], { env: { ...env, TESSERA_MASTER_KEY: randomBytes(32).toString('base64') } });
      expect(wrongKey.code).toBe(1);
      expect(wrongKey.stderr).toMatch(/master key cannot decrypt/);
      if (!pg) {
        const missing = await runCli(['admin', 'reset', '--data-dir', join(dir.path, 'nowhere')]);
        expect(missing.code).toBe(1);
        expect(missing.stderr).toMatch(/no master key|no embedded store/);
      }
    });

    it('one public URL per deployment: another one is refused naming both and --public-url; admin set-public-url changes it', async () => {
      const { dataDir, env, storeArgs } = await deployment();
      const port = await freePort();
      const first = `http://127.0.0.1:${port}`;
      const server = await startServer({ dataDir, port, env, args: ['--public-url', first], timeoutMs: 30_000 });
      await server.stop();

      const moved = 'http://localhost:' + String(port);
      const refused = await refusedStart({ dataDir, port, env, args: ['--public-url', moved] });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(first);
      expect(refused.stderr).toContain(moved);
      expect(refused.stderr).toContain('--public-url');

      const changed = await runCli(['admin', 'set-public-url', moved, ...storeArgs, '--json'], { env });
      expect(changed.code, changed.stderr).toBe(0);
      expect(JSON.parse(changed.stdout)).toMatchObject({ previous: first, url: moved });
      expect((await readAdmin(join(dataDir, 'admin.json'))).url).toBe(moved);
      const again = await startServer({ dataDir, port, env, args: ['--public-url', moved], timeoutMs: 30_000 });
      const discovery = await (await fetch(`${again.url}/t/default/.well-known/openid-configuration`)).json() as { issuer: string };
      expect(discovery.issuer).toBe(`${moved}/t/default`);
      const audit = await runCli(['audit', '--tenant', 'admin', '--json', '--url', again.url, '--admin', join(dataDir, 'admin.json')]);
      expect(audit.code, audit.stderr).toBe(0);
      const entries = JSON.parse(audit.stdout).items as { action: string; details: Record<string, unknown> }[];
      expect(entries.find((entry) => entry.action === 'deployment.public_url.update')?.details).toEqual({ previous: first, url: moved });
      await again.stop();
      // And the old one is now the one refused.
      expect((await refusedStart({ dataDir, port, env, args: ['--public-url', first] })).stderr).toContain(`public URL is ${moved}`);
    });

    it(pg
      ? 'two replicas of one database: one without --public-url on another port is refused; its banner separates address and public URL'
      : 'the embedded store: a restart on another port without --public-url follows it (one server per data directory)', async () => {
      const { dataDir, env, dir } = await deployment();
      const port = await freePort();
      const a = await startServer({ dataDir, port, env, timeoutMs: 30_000 });
      if (!pg) {
        await a.stop();
        const b = await startServer({ dataDir, env, timeoutMs: 30_000 });
        const discovery = await (await fetch(`${b.url}/t/default/.well-known/openid-configuration`)).json() as { issuer: string };
        expect(discovery.issuer).toBe(`${b.url}/t/default`);
        await b.stop();
        return;
      }
      const other = join(dir.path, 'b');
      const refused = await refusedStart({ dataDir: other, env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`public URL is ${a.url}`);
      expect(refused.stderr).toContain(`--public-url ${a.url}`);
      // The replica behind the same public URL starts; its banner names both addresses, and the next step works from there.
      const b = await startServer({ dataDir: other, env: { ...env, TESSERA_PUBLIC_URL: a.url }, timeoutMs: 30_000 });
      await waitFor(async () => (b.stderr().includes('Next') ? true : undefined), 5_000);
      expect(b.stderr()).toContain(`Tessera is listening on ${b.url}`);
      expect(b.stderr()).toMatch(new RegExp(`public URL +${a.url.replace(/[.]/g, '\\.')}`));
      const next = /Next, from this machine: +curl -s (\S+)/.exec(b.stderr())?.[1];
      expect(next).toBe(`${b.url}/t/default/.well-known/openid-configuration`);
      expect((await fetch(next as string)).status).toBe(200);
      await Promise.all([a.stop(), b.stop()]);
    });

    it('keys rewrap: the signing keys move to a new master key; the old key no longer starts the server, the new one does, the keys are the same', async () => {
      const { dataDir, env, storeArgs } = await deployment();
      const port = await freePort();
      const first = await startServer({ dataDir, port, env, timeoutMs: 30_000 });
      const jwks = await (await fetch(`${first.url}/t/default/jwks.json`)).json() as { keys: { kid: string }[] };
      const admin = await readAdmin(first.adminFile);

      // Refused while the embedded store's server runs.
      if (!pg) {
        const busy = await runCli(['keys', 'rewrap', ...storeArgs], { env });
        expect(busy.code).toBe(1);
        expect(busy.stderr).toMatch(/Stop the server/);
      }
      await first.stop();

      const newKey = randomBytes(32).toString('base64');
      const rewrap = await runCli(['keys', 'rewrap', ...storeArgs, '--json'], { env: pg ? { ...env, TESSERA_NEW_MASTER_KEY: newKey } : env });
      expect(rewrap.code, rewrap.stderr).toBe(0);
      const outcome = JSON.parse(rewrap.stdout);
      expect(outcome.rewrapped).toBeGreaterThanOrEqual(4);
      expect(outcome.tenants).toBe(2);
      let newEnv = env;
      if (pg) {
        const stale = await refusedStart({ dataDir, port, env });
        expect(stale.stderr).toMatch(/master key cannot decrypt/);
        newEnv = { ...env, TESSERA_MASTER_KEY: newKey };
      } else {
        expect(outcome.masterKeyFile).toBe(join(dataDir, 'master.key'));
        expect((await stat(join(dataDir, 'master.key.previous'))).mode & 0o777).toBe(0o600);
      }
      const second = await startServer({ dataDir, port, env: newEnv, timeoutMs: 30_000 });
      const after = await (await fetch(`${second.url}/t/default/jwks.json`)).json() as { keys: { kid: string }[] };
      expect(after.keys.map((k) => k.kid).sort()).toEqual(jwks.keys.map((k) => k.kid).sort());
      expect(await tokenStatus(second.url, admin.clientId, admin.clientSecret as string)).toBe(200);
      await second.stop();
      // Running it again changes nothing.
      const repeat = await runCli(['keys', 'rewrap', ...storeArgs, '--json'], { env: pg ? { ...newEnv, TESSERA_NEW_MASTER_KEY: newKey } : newEnv });
      if (pg) expect(JSON.parse(repeat.stdout)).toMatchObject({ rewrapped: 0 });
    });
  });
}
