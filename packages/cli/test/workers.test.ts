/**
 * `tessera serve --workers 2` (SPEC §1, §8) as a real process: both workers serve on
 * one port, a worker that dies is started again, and SIGTERM stops them all with exit 0.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../server/test/helpers/postgres.js';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { type ServerProcess, startServer, stopAllServers, waitFor } from './helpers/tessera-process.js';

let dir: TempDir;
let server: ServerProcess;

beforeAll(async () => {
  dir = await makeTempDir('tessera-workers-');
  server = await startServer({ dataDir: join(dir.path, 'data'), env: { TESSERA_WORKERS: '2' }, timeoutMs: 60_000 });
  await waitFor(async () => (server.output().includes('(2 workers, store: sqlite)') ? true : undefined), 60_000);
}, 90_000);

afterAll(async () => {
  await stopAllServers();
  await dir?.cleanup();
});

/** GET /healthz on a new connection each time: the `Tessera-Worker` header that answered. */
function workerOf(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/healthz`, { agent: false, timeout: 2_000 }, (response) => {
        response.resume();
        response.once('end', () => resolve(String(response.headers['tessera-worker'] ?? '')));
      })
      .once('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('no answer within 2 s'));
      })
      .once('error', reject);
  });
}

/** PIDs of the workers that answered `count` requests on fresh connections. */
async function servingPids(count = 12, url = server.url): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < count; i++) {
    const match = /pid (\d+)/.exec(await workerOf(url));
    if (match !== null) pids.add(Number(match[1]));
  }
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('tessera serve --workers 2', () => {
  it('both workers serve one port, each issuing tokens from the one data directory', async () => {
    const pids = await servingPids();
    expect(pids.size).toBe(2);
    expect(pids.has(server.pid)).toBe(false);
    const admin = JSON.parse(await readFile(server.adminFile, 'utf8')) as { clientId: string; clientSecret: string; tokenEndpoint: string };
    const basic = `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}`;
    for (let i = 0; i < 6; i++) {
      const response = await fetch(admin.tokenEndpoint, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
        body: 'grant_type=client_credentials&audience=urn%3Atessera%3Amanagement',
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { token_type: string }).token_type).toBe('Bearer');
    }
  });

  it('a client created through one worker can get tokens from every worker within 2 s (SPEC §8)', async () => {
    const admin = JSON.parse(await readFile(server.adminFile, 'utf8')) as { clientId: string; clientSecret: string; tokenEndpoint: string; managementApi: string };
    const form = { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' };
    const adminToken = await fetch(admin.tokenEndpoint, {
      method: 'POST',
      headers: { ...form, authorization: `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}` },
      body: 'grant_type=client_credentials&audience=urn%3Atessera%3Amanagement&scope=manage%3Awrite',
    });
    const { access_token: token } = (await adminToken.json()) as { access_token: string };
    const manage = async (path: string, body: unknown) => {
      const response = await fetch(`${admin.managementApi}/tenants/default/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(201);
      return (await response.json()) as Record<string, string>;
    };
    await manage('apis', { identifier: 'https://workers.example', scopes: [{ value: 'read' }] });
    const client = await manage('clients', { name: 'across workers' });
    await manage('grants', { clientId: client['clientId'], audience: 'https://workers.example', scopes: ['read'] });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const basic = `Basic ${Buffer.from(`${client['clientId']}:${client['clientSecret']}`).toString('base64')}`;
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${server.url}/t/default/token`, { method: 'POST', headers: { ...form, authorization: basic }, body: 'grant_type=client_credentials' });
      expect(response.status).toBe(200);
    }
  }, 30_000);

  it('a tenant created through one worker is served by both at once, well before their next feed poll (the workers tell each other)', async () => {
    const admin = JSON.parse(await readFile(server.adminFile, 'utf8')) as { clientId: string; clientSecret: string; tokenEndpoint: string; managementApi: string };
    const adminToken = await fetch(admin.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close', authorization: `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}` },
      body: 'grant_type=client_credentials&audience=urn%3Atessera%3Amanagement&scope=manage%3Awrite',
    });
    const { access_token: token } = (await adminToken.json()) as { access_token: string };
    // Fresh connections, so that both workers answer some of them.
    const discoveryStatuses = async (tenant: string) => {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await fetch(`${server.url}/t/${tenant}/.well-known/oauth-authorization-server`, { headers: { connection: 'close' } })).status);
      return statuses;
    };
    // Three times: a poll (every 1 s) landing in the short window by chance must not pass this for the workers' message.
    for (let round = 0; round < 3; round++) {
      const tenant = `across-${randomBytes(4).toString('hex')}`;
      // Both workers' known-tenant directories are loaded: the made-up id is refused without a store query.
      expect(await discoveryStatuses(tenant)).toEqual(Array(8).fill(404));
      const created = await fetch(`${admin.managementApi}/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
        body: JSON.stringify({ id: tenant, name: 'created through one worker' }),
      });
      expect(created.status).toBe(201);
      // Well inside the 1 s poll: both workers serve it within 700 ms of the creation (on an
      // idle machine within a few ms; the margin is for a loaded CI host, not for the poll).
      const deadline = Date.now() + 700;
      let statuses = await discoveryStatuses(tenant);
      while (statuses.some((s) => s !== 200) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        statuses = await discoveryStatuses(tenant);
      }
      expect(statuses).toEqual(Array(8).fill(200));
    }
  }, 30_000);

  it('one /metrics for the host: every worker\'s tokens, whichever worker answers the scrape', async () => {
    const admin = JSON.parse(await readFile(server.adminFile, 'utf8')) as { clientId: string; clientSecret: string; tokenEndpoint: string };
    const basic = `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}`;
    const issued = async (): Promise<number> => {
      const response = await fetch(`${server.url}/metrics`, { headers: { connection: 'close' } });
      expect(response.status).toBe(200);
      const text = await response.text();
      let total = 0;
      for (const line of text.split('\n')) if (line.startsWith('tessera_tokens_issued_total{') && line.includes('tenant="admin"')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
      return total;
    };
    const before = await issued();
    for (let i = 0; i < 8; i++) {
      const response = await fetch(admin.tokenEndpoint, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
        body: 'grant_type=client_credentials&audience=urn%3Atessera%3Amanagement',
      });
      expect(response.status).toBe(200);
    }
    // Several scrapes on fresh connections (answered by either worker) agree on the host's total.
    for (let i = 0; i < 4; i++) expect(await issued()).toBe(before + 8);
  });

  it('a worker that dies is started again', async () => {
    const before = await servingPids();
    const [victim] = [...before];
    process.kill(victim as number, 'SIGKILL');
    const { value: after } = await waitFor(async () => {
      const pids = await servingPids(8).catch(() => new Set<number>());
      return pids.size === 2 && !pids.has(victim as number) ? pids : undefined;
    }, 60_000, 200).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${server.output()}`);
    });
    expect(after.size).toBe(2);
    expect(server.output()).toMatch(/worker \d \(pid \d+\) exited \(signal SIGKILL\); starting it again/);
  }, 90_000);

  it('SIGTERM stops every worker and exits 0', async () => {
    const pids = await servingPids();
    const exit = await server.stop('SIGTERM', 30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    await waitFor(async () => ([...pids].every((pid) => !alive(pid)) ? true : undefined), 10_000, 50);
  }, 60_000);
});

const database = await createTestDatabase();
const pgSuite = database === null ? describe.skip : describe;

pgSuite(
  database === null
    ? 'tessera serve --workers 2 on PostgreSQL (skipped: set TESSERA_TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)'
    : 'tessera serve --workers 2 on PostgreSQL',
  () => {
    let pgDir: TempDir;
    let pgServer: ServerProcess;

    beforeAll(async () => {
      pgDir = await makeTempDir('tessera-workers-pg-');
      const env = { TESSERA_WORKERS: '2', TESSERA_DATABASE_URL: (database as TestDatabase).url, TESSERA_MASTER_KEY: randomBytes(32).toString('base64') };
      pgServer = await startServer({ dataDir: join(pgDir.path, 'data'), env, timeoutMs: 60_000 });
      await waitFor(async () => (pgServer.output().includes('(2 workers, store: postgres)') ? true : undefined), 60_000);
    }, 90_000);

    afterAll(async () => {
      await pgServer?.stop();
      await database?.drop();
      await pgDir?.cleanup();
    });

    it('bootstraps once, both workers serve and issue tokens, SIGTERM exits 0', async () => {
      expect((await servingPids(12, pgServer.url)).size).toBe(2);
      const admin = JSON.parse(await readFile(pgServer.adminFile, 'utf8')) as { clientId: string; clientSecret: string; tokenEndpoint: string };
      for (let i = 0; i < 4; i++) {
        const response = await fetch(admin.tokenEndpoint, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${admin.clientId}:${admin.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
          body: 'grant_type=client_credentials&audience=urn%3Atessera%3Amanagement',
        });
        expect(response.status).toBe(200);
      }
      expect(pgServer.output()).not.toMatch(/error/i);
      expect(await pgServer.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });
    }, 60_000);
  },
);
