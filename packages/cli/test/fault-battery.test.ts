/**
 * Fault battery (issue 7): the real `tessera serve` under faults, on 127.0.0.1 only,
 * bounded in count and time. The invariant everywhere: the process does not crash,
 * nothing it acknowledged is lost, and each failing request gets the right 4xx or 503.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDatabaseUrl } from '../../server/test/helpers/postgres.js';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { type ServerProcess, sleep, startServer, stopAllServers } from './helpers/tessera-process.js';

interface Admin {
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  managementApi: string;
}

async function adminToken(admin: Admin): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(admin.tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: admin.clientId,
        client_secret: admin.clientSecret,
        audience: 'urn:tessera:management',
        scope: 'manage:read manage:write',
      }),
    });
    const body = (await response.json()) as { access_token?: string };
    if (response.ok && body.access_token) return body.access_token;
    if (attempt > 20) throw new Error(`no admin token: ${response.status} ${JSON.stringify(body)}`);
    await sleep(100);
  }
}

const dirs: TempDir[] = [];
afterAll(async () => {
  await stopAllServers();
  await Promise.all(dirs.map((dir) => dir.cleanup()));
});

const database = testDatabaseUrl() === undefined ? null : await createTestDatabase();

describe.skipIf(database === null)(
  `PostgreSQL connections terminated under mixed load${database === null ? ' (skipped: set TESSERA_TEST_DATABASE_URL)' : ''}`,
  { timeout: 60_000 },
  () => {
    afterAll(() => database?.drop());

    it('the server stays up, answers 503 for the request at hand, and loses no acknowledged client', async () => {
      const dir = await makeTempDir('tessera-fault-pg-');
      dirs.push(dir);
      const server: ServerProcess = await startServer({
        dataDir: join(dir.path, 'data'),
        env: { TESSERA_DATABASE_URL: database!.url, TESSERA_MASTER_KEY: randomBytes(32).toString('base64') },
        timeoutMs: 30_000,
      });
      const admin = JSON.parse(await readFile(server.adminFile, 'utf8')) as Admin;
      const token = await adminToken(admin);
      const manage = (method: string, path: string, body?: unknown) =>
        fetch(`${admin.managementApi}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });

      // An opaque-token API, so that each token issuance writes to the database.
      const api = await manage('POST', '/tenants/default/apis', { identifier: 'https://opaque.fault', scopes: [{ value: 'r' }], tokenFormat: 'opaque' });
      expect(api.status).toBe(201);
      const client = (await (await manage('POST', '/tenants/default/clients', { name: 'load' })).json()) as { clientId: string; clientSecret: string };
      expect((await manage('POST', '/tenants/default/grants', { clientId: client.clientId, audience: 'https://opaque.fault', scopes: ['r'] })).status).toBe(201);

      const killer = new pg.Client({ connectionString: testDatabaseUrl() });
      await killer.connect();
      const databaseName = new URL(database!.url).pathname.slice(1);
      let stop = false;
      const terminations = (async () => {
        let count = 0;
        while (!stop) {
          await sleep(150 + Math.random() * 200);
          const result = await killer.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [databaseName]);
          count += result.rowCount ?? 0;
        }
        return count;
      })();

      const acknowledged: string[] = [];
      const statuses = new Map<number, number>();
      const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
      const deadline = Date.now() + 5_000;
      const worker = async (index: number) => {
        for (let i = 0; Date.now() < deadline; i++) {
          try {
            if ((index + i) % 2 === 0) {
              const response = await manage('POST', '/tenants/default/clients', { name: `fault-${index}-${i}` });
              count(response.status);
              if (response.status === 201) acknowledged.push(((await response.json()) as { clientId: string }).clientId);
              else await response.arrayBuffer();
            } else {
              const response = await fetch(`${server.url}/t/default/token`, {
                method: 'POST',
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }),
                signal: AbortSignal.timeout(10_000),
              });
              count(response.status);
              await response.arrayBuffer();
            }
          } catch (error) {
            count(-1);
            if (server.output().includes('Unhandled')) throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: 6 }, (_, index) => worker(index)));
      stop = true;
      const terminated = await terminations;
      await killer.end();

      expect(terminated).toBeGreaterThan(0);
      // Only successes and 503s: never a 500, never a dropped connection.
      expect([...statuses.keys()].filter((status) => ![200, 201, 503].includes(status)), JSON.stringify([...statuses])).toEqual([]);
      expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
      expect(server.output()).not.toMatch(/Unhandled 'error' event/);
      // Still alive, and every client it acknowledged is there.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      for (const clientId of acknowledged) {
        let response = await manage('GET', `/tenants/default/clients/${clientId}`);
        if (response.status === 503) response = await manage('GET', `/tenants/default/clients/${clientId}`);
        expect(response.status, clientId).toBe(200);
      }
      await server.stop();
    });
  },
);
