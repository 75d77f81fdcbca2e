/**
 * Protection shared by replicas (SPEC §1, §8) with real processes: two `tessera serve`
 * replicas on one PostgreSQL database. Failed client authentications sent half to
 * each replica add up to the back-off on both; a clean address still gets tokens;
 * a client quota is one quota across the replicas. Runs when TESSERA_TEST_DATABASE_URL
 * is set.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../server/test/helpers/postgres.js';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { cliFor, freePort, type ServerProcess, sleep, startServer, stopAllServers } from './helpers/tessera-process.js';

const database = await createTestDatabase();
const AUDIENCE = 'https://orders.example.com';

const suite = database === null ? describe.skip : describe;
const title = database === null
  ? 'protection across replicas on PostgreSQL (skipped: set TESSERA_TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)'
  : 'protection across two replicas on one PostgreSQL database';

/** POSTs a token request from a chosen loopback source address (Linux routes all of 127/8 to lo). */
function tokenRequest(url: string, source: string, clientId: string, secret: string): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams({ grant_type: 'client_credentials', audience: AUDIENCE }).toString();
    const req = request(`${url}/t/default/token`, {
      method: 'POST',
      localAddress: source,
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
      },
    }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Counters live in one-minute windows: start a step only with enough of the window left. */
async function awayFromWindowEdge(secondsNeeded: number): Promise<void> {
  const intoWindow = (Date.now() % 60_000) / 1000;
  if (intoWindow > 60 - secondsNeeded) await sleep((60 - intoWindow) * 1000 + 200);
}

suite(title, { timeout: 120_000 }, () => {
  const db = database as TestDatabase;
  let dir: TempDir;
  let a: ServerProcess;
  let b: ServerProcess;
  let cli: ReturnType<typeof cliFor>;

  beforeAll(async () => {
    dir = await makeTempDir('tessera-protection-');
    const port = await freePort();
    const env = { TESSERA_MASTER_KEY: randomBytes(32).toString('base64'), TESSERA_DATABASE_URL: db.url, TESSERA_RATE_LIMIT: '8', TESSERA_PUBLIC_URL: `http://127.0.0.1:${port}` };
    a = await startServer({ dataDir: join(dir.path, 'a'), port, env, timeoutMs: 30_000 });
    b = await startServer({ dataDir: join(dir.path, 'b'), env, timeoutMs: 30_000 });
    cli = cliFor({ url: a.url, adminFile: a.adminFile });
    await cli.json(['apis', 'create', '--identifier', AUDIENCE, '--scope', 'orders:read']);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await stopAllServers();
    await db.drop();
    await dir?.cleanup();
  });

  async function newClient(name: string): Promise<{ clientId: string; clientSecret: string }> {
    const client = await cli.json(['clients', 'create', '--name', name]);
    await cli.json(['grants', 'create', '--client', client.clientId, '--audience', AUDIENCE, '--scope', 'orders:read']);
    return client;
  }

  it('failures sent half to each replica add up: both answer 429 with Retry-After; a clean address still gets a token', async () => {
    const client = await newClient('attacked');
    await awayFromWindowEdge(15);
    const results: number[] = [];
    for (let i = 0; i < 10; i += 1) results.push((await tokenRequest(i % 2 === 0 ? a.url : b.url, '127.0.0.2', client.clientId, 'wrong')).status);
    // Neither replica saw 10 failures itself; only the shared counters know.
    expect(results).toEqual(Array(10).fill(401));
    await sleep(2500); // each replica shares its counts once a second
    for (const replica of [a, b]) {
      const refused = await tokenRequest(replica.url, '127.0.0.2', client.clientId, client.clientSecret);
      expect(refused.status).toBe(429);
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    for (const replica of [a, b]) expect((await tokenRequest(replica.url, '127.0.0.3', client.clientId, client.clientSecret)).status).toBe(200);
  });

  it('a client quota (--rate-limit 8) is one quota across both replicas', async () => {
    const client = await newClient('metered');
    await awayFromWindowEdge(15);
    const results: number[] = [];
    for (let i = 0; i < 8; i += 1) results.push((await tokenRequest(i % 2 === 0 ? a.url : b.url, '127.0.0.4', client.clientId, client.clientSecret)).status);
    expect(results).toEqual(Array(8).fill(200));
    await sleep(2500);
    for (const replica of [a, b]) {
      const refused = await tokenRequest(replica.url, '127.0.0.4', client.clientId, client.clientSecret);
      expect(refused.status).toBe(429);
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    }
  });
});
