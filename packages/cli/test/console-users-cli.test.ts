/**
 * `tessera console-users` and `tessera usage --by` against a real `tessera serve`
 * (docs/cli.md). The rules are tested in-process (packages/server/test/console-users
 * and usage-top); here, the commands, their output and their errors.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { cliFor, type ServerProcess, startServer, stopAllServers } from './helpers/tessera-process.js';

let dir: TempDir;
let server: ServerProcess;
let cli: ReturnType<typeof cliFor>;

beforeAll(async () => {
  dir = await makeTempDir('tessera-console-users-cli-');
  server = await startServer({ dataDir: join(dir.path, 'data'), env: { TESSERA_USAGE_FLUSH_INTERVAL: '1' } });
  cli = cliFor(server);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await stopAllServers();
  await dir?.cleanup();
});

const signIn = (username: string, password: string) =>
  fetch(`${server.url}/console/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });

describe('tessera console-users', { timeout: 60_000 }, () => {
  it('creates a user with a one-time password that signs in, lists, shows, updates and deletes it', async () => {
    const created = await cli.json(['console-users', 'create', 'bob', '--role', 'viewer', '--tenant', 'default']);
    expect(created).toMatchObject({ username: 'bob', role: 'viewer', tenants: ['default'] });
    expect(typeof created.password).toBe('string');
    expect((await signIn('bob', created.password)).status).toBe(200);

    const table = await cli.run(['console-users', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^USERNAME +ROLE +TENANTS +CREATED$/m);
    expect(table.stdout).toMatch(/^admin +admin +all /m);
    expect(table.stdout).toMatch(/^bob +viewer +default /m);
    expect(table.stdout).not.toContain(created.password);

    const shown = await cli.run(['console-users', 'get', 'bob']);
    expect(shown.stdout).toMatch(/^role: +viewer$/m);
    expect(shown.stdout).not.toMatch(/password/);

    const updated = await cli.json(['console-users', 'update', 'bob', '--role', 'admin', '--all-tenants']);
    expect(updated).toMatchObject({ username: 'bob', role: 'admin' });
    expect(updated.tenants).toBeUndefined();
    expect(updated.password).toBeUndefined();

    const reset = await cli.run(['console-users', 'update', 'bob', '--reset-password']);
    expect(reset.code).toBe(0);
    const password = /^password: +(\S+)$/m.exec(reset.stdout)?.[1];
    expect(password).toBeDefined();
    expect(reset.stderr).toContain('shown only now');
    expect((await signIn('bob', password ?? '')).status).toBe(200);

    expect(await cli.json(['console-users', 'delete', 'bob'])).toEqual({ deleted: true, username: 'bob' });
    expect((await signIn('bob', password ?? '')).status).toBe(401);
  });

  it('reports the server refusing the last admin, and usage mistakes, on stderr with a non-zero exit', async () => {
    const last = await cli.run(['console-users', 'delete', 'admin', '--json']);
    expect(last.code).toBe(1);
    expect(JSON.parse(last.stderr)).toMatchObject({ error: 'conflict', status: 409 });
    const noRole = await cli.run(['console-users', 'create', 'carol']);
    expect(noRole.code).toBe(2);
    expect(noRole.stderr).toContain('--role is required');
    const nothing = await cli.run(['console-users', 'update', 'admin']);
    expect(nothing.code).toBe(2);
  });
});

describe('tessera usage --by', { timeout: 60_000 }, () => {
  it('lists the busiest clients and APIs first', async () => {
    await cli.json(['apis', 'create', '--identifier', 'https://busy.example', '--scope', 'read']);
    const busy = await cli.json(['clients', 'create', '--name', 'busy-one']);
    const quiet = await cli.json(['clients', 'create', '--name', 'quiet-one']);
    for (const c of [busy, quiet]) await cli.json(['grants', 'create', '--client', c.clientId, '--audience', 'https://busy.example', '--scope', 'read']);
    for (const [c, n] of [[busy, 3], [quiet, 1]] as const) {
      for (let i = 0; i < n; i++) {
        const res = await fetch(`${server.url}/t/default/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        });
        expect(res.status).toBe(200);
      }
    }
    // One flush interval, with room for a loaded machine.
    await new Promise((resolve) => setTimeout(resolve, 2500));

    const json = await cli.json(['usage', '--by', 'client', '--since', '1h']);
    expect(json.by).toBe('client');
    expect(json.rows.map((r: { clientId: string; issued: number }) => [r.clientId, r.issued])).toEqual([[busy.clientId, 3], [quiet.clientId, 1]]);
    const table = await cli.ok(['usage', '--by', 'api']);
    expect(table).toMatch(/^API +NAME +ISSUED +REFUSED +LAST USED$/m);
    expect(table).toMatch(/^https:\/\/busy\.example +\S.* +4 +0 +\d{4}-/m);
    expect(await cli.json(['usage', '--by', 'client', '--limit', '1'])).toMatchObject({ rows: [{ clientId: busy.clientId }] });
    // One client's APIs: its own counts, not the API's.
    expect(await cli.json(['usage', '--by', 'api', '--client', quiet.clientId])).toMatchObject({ rows: [{ audience: 'https://busy.example', issued: 1 }] });
    expect(await cli.json(['usage', 'waste', '--client', quiet.clientId])).toMatchObject({ clients: [] });
    const wrong = await cli.run(['usage', '--by', 'scope']);
    expect(wrong.code).toBe(2);
    const misplaced = await cli.run(['usage', '--by', 'client', '--granularity', 'hour']);
    expect(misplaced.code).toBe(2);
  });
});
