/**
 * The registry at scale (issue 8): the cost of serving must not grow with the size
 * of the registry or its rate of change. Side by side in one run:
 *
 * 1. token req/s with BENCH_REGISTRY_CLIENTS (100,000) clients in one tenant ÷ with
 *    10 clients (the load cycles over 10 clients in both);                target ≥ 0.95
 * 2. the same while the registry takes 10 writes/s (client creations through the
 *    management API) ÷ quiet;                              target ≥ 0.9, p99 ≤ 2x quiet
 * 3. BENCH_REGISTRY_MANY_CLIENTS (1,000,000) clients across BENCH_REGISTRY_TENANTS
 *    (1,000) tenants, BENCH_REGISTRY_DISTINCT (10,000) distinct clients in the load
 *    ÷ one client on the same server; the server's RSS is reported;        target ≥ 0.8
 * 4. the first token after a restart with the 100,000-client store;   target < 200 ms
 * 5. propagation of a change to a second replica on PostgreSQL (NOTIFY, and polling
 *    only), BENCH_REGISTRY_PROPAGATIONS (50) samples each; needs
 *    BENCH_REGISTRY_DATABASE_URL or TESSERA_TEST_DATABASE_URL (a server where
 *    databases may be created);              target p99 < 500 ms NOTIFY, < 2 s polling
 * 6. management: create BENCH_REGISTRY_CREATES (10,000) clients on SQLite. target ≥ 1,000/s
 *
 * Stores are seeded directly by bench/seed-registry.ts. Every size is an environment
 * variable, so `BENCH_REGISTRY_CLIENTS=1000 BENCH_REGISTRY_MANY_CLIENTS=2000
 * BENCH_REGISTRY_TENANTS=10 BENCH_REGISTRY_DISTINCT=100 BENCH_REGISTRY_SECONDS=2
 * BENCH_REGISTRY_CREATES=200 BENCH_REGISTRY_PROPAGATIONS=5 npm run bench -- registry`
 * checks that it runs in a minute.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import pg from 'pg';
import { buildApp, createStore, MasterKey, resolveConfig } from '@tessera/server';
import { SEEDED_AUDIENCE, SEEDED_MASTER_KEY, SEEDED_SCOPE, SEEDED_SECRET, seededClientId, seedRegistry } from './seed-registry.js';
import { type ServerChild, startServer } from './token-endpoint.js';
import { type HttpResult, measureHttp, printHttpTable, ratio } from './util.js';

function size(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

const SIZES = {
  clients: size('BENCH_REGISTRY_CLIENTS', 100_000),
  manyClients: size('BENCH_REGISTRY_MANY_CLIENTS', 1_000_000),
  manyTenants: size('BENCH_REGISTRY_TENANTS', 1000),
  distinct: size('BENCH_REGISTRY_DISTINCT', 10_000),
  seconds: size('BENCH_REGISTRY_SECONDS', 10),
  creates: size('BENCH_REGISTRY_CREATES', 10_000),
  propagations: size('BENCH_REGISTRY_PROPAGATIONS', 50),
};
const SMALL = 10;
const WARM_UP_SECONDS = 2;
const BODY = new URLSearchParams({ grant_type: 'client_credentials', audience: SEEDED_AUDIENCE, scope: SEEDED_SCOPE }).toString();

interface Target {
  tenant: string;
  clientId: string;
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** Token requests cycling over `targets`, 32 connections, after a warm-up. */
export async function tokenLoad(label: string, server: ServerChild, targets: Target[], seconds = SIZES.seconds): Promise<HttpResult> {
  const options = tokenLoadOptions(server, targets);
  await measureHttp(`${label} (warm-up)`, { ...options, duration: WARM_UP_SECONDS });
  return measureHttp(label, { ...options, duration: seconds });
}

/** Autocannon options for token requests cycling over `targets`. */
export function tokenLoadOptions(server: ServerChild, targets: Target[]): autocannon.Options {
  let next = 0;
  return {
    url: server.url,
    requests: [
      {
        method: 'POST',
        setupRequest: (request: autocannon.Request) => {
          const target = targets[next++ % targets.length]!;
          return {
            ...request,
            path: `/t/${target.tenant}/token`,
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(target.clientId, SEEDED_SECRET) },
            body: BODY,
          };
        },
      },
    ],
  };
}

/** Spread over the seeded clients: every `count`-th one of `total`. */
function spread(tenants: number, clientsPerTenant: number, count: number): Target[] {
  const targets: Target[] = [];
  const total = tenants * clientsPerTenant;
  const step = Math.max(1, Math.floor(total / count));
  for (let n = 0; n < total && targets.length < count; n += step) {
    const t = n % tenants;
    const i = Math.floor(n / tenants) % clientsPerTenant;
    targets.push({ tenant: `bench-${t}`, clientId: seededClientId(t, i) });
  }
  return targets;
}

export function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    return Math.round(kb / 1024);
  } catch {
    return Number.NaN;
  }
}

async function seeded(tenants: number, clientsPerTenant: number) {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-registry-'));
  const seed = await seedRegistry({ dataDir, tenants, clientsPerTenant, log: (line) => console.log(`  ${line}`) });
  return { dataDir, seed, start: () => startServer('tessera-seeded', { BENCH_DATA_DIR: dataDir }) };
}

async function adminToken(url: string, admin: { clientId: string; clientSecret: string }): Promise<string> {
  const response = await fetch(`${url}/t/admin/token`, {
    method: 'POST',
    headers: { authorization: basic(admin.clientId, admin.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: 'urn:tessera:management', scope: 'manage:write' }),
  });
  if (!response.ok) throw new Error(`admin token: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

const verdict = (pass: boolean) => (pass ? 'PASS' : 'FAIL');

async function sizeAndChangeRate(): Promise<void> {
  console.log(`\n### 1-2, 4: ${SMALL} vs ${SIZES.clients} clients in one tenant, quiet and under 10 writes/s, first token after restart`);
  const small = await seeded(1, SMALL);
  const large = await seeded(1, SIZES.clients);
  const loadTargets = (clients: number) => spread(1, clients, SMALL);
  try {
    let smallResult: HttpResult;
    let server = await small.start();
    try {
      smallResult = await tokenLoad(`${SMALL} clients`, server, loadTargets(SMALL));
    } finally {
      await server.stop();
    }

    // 4: a cold start on the large store, then its first token.
    const spawned = performance.now();
    server = await large.start();
    const readyMs = performance.now() - spawned;
    const firstStarted = performance.now();
    const first = await fetch(`${server.url}/t/bench-0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(seededClientId(0, SIZES.clients - 1), SEEDED_SECRET) },
      body: BODY,
    });
    const firstMs = performance.now() - firstStarted;
    if (first.status !== 200) throw new Error(`first token: ${first.status} ${await first.text()}`);

    let quiet: HttpResult;
    let busy: HttpResult;
    let written = 0;
    try {
      quiet = await tokenLoad(`${SIZES.clients} clients, quiet`, server, loadTargets(SIZES.clients));
      const token = await adminToken(server.url, large.seed.admin);
      let writing = true;
      const writer = (async () => {
        for (let n = 0; writing; n++) {
          const started = performance.now();
          const response = await fetch(`${server.url}/manage/v1/tenants/bench-0/clients`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ name: `written ${n}` }),
          });
          if (response.status === 201) written++;
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (performance.now() - started))));
        }
      })();
      busy = await tokenLoad(`${SIZES.clients} clients, 10 writes/s`, server, loadTargets(SIZES.clients));
      writing = false;
      await writer;
    } finally {
      await server.stop();
    }
    printHttpTable([smallResult, quiet, busy]);
    const sizeRatio = quiet.requestsPerSecond / smallResult.requestsPerSecond;
    const writeRatio = busy.requestsPerSecond / quiet.requestsPerSecond;
    console.log(`${SIZES.clients} clients / ${SMALL} clients: ${ratio(quiet.requestsPerSecond, smallResult.requestsPerSecond)} (target ≥ 0.95) ${verdict(sizeRatio >= 0.95)}`);
    console.log(`10 writes/s / quiet: ${ratio(busy.requestsPerSecond, quiet.requestsPerSecond)}, p99 ${busy.p99} ms vs ${quiet.p99} ms (target ≥ 0.9, p99 ≤ 2x) ${verdict(writeRatio >= 0.9 && busy.p99 <= 2 * Math.max(1, quiet.p99))}; ${written} writes done`);
    console.log(`restart with ${SIZES.clients} clients: ready (listening) after ${Math.round(readyMs)} ms, first token ${Math.round(firstMs)} ms (target < 200 ms) ${verdict(firstMs < 200)}`);
  } finally {
    await rm(small.dataDir, { recursive: true, force: true });
    await rm(large.dataDir, { recursive: true, force: true });
  }
}

async function manyTenants(): Promise<void> {
  const perTenant = Math.max(1, Math.floor(SIZES.manyClients / SIZES.manyTenants));
  console.log(`\n### 3: ${perTenant * SIZES.manyTenants} clients across ${SIZES.manyTenants} tenants, ${SIZES.distinct} distinct in the load`);
  const many = await seeded(SIZES.manyTenants, perTenant);
  try {
    const server = await many.start();
    try {
      const rssStart = rssMb(server.pid);
      const single = await tokenLoad('one client', server, spread(SIZES.manyTenants, perTenant, 1));
      const spreadResult = await tokenLoad(`${SIZES.distinct} distinct clients`, server, spread(SIZES.manyTenants, perTenant, SIZES.distinct));
      const rssAfter = rssMb(server.pid);
      printHttpTable([single, spreadResult]);
      const r = spreadResult.requestsPerSecond / single.requestsPerSecond;
      console.log(`${SIZES.distinct} distinct / one client: ${ratio(spreadResult.requestsPerSecond, single.requestsPerSecond)} (target ≥ 0.8) ${verdict(r >= 0.8)}`);
      console.log(`server RSS: ${rssStart} MB after start, ${rssAfter} MB after the load (bounded by cache.maxClients / maxTenants)`);
    } finally {
      await server.stop();
    }
  } finally {
    await rm(many.dataDir, { recursive: true, force: true });
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function propagation(): Promise<void> {
  const adminUrl = process.env['BENCH_REGISTRY_DATABASE_URL'] ?? process.env['TESSERA_TEST_DATABASE_URL'];
  console.log('\n### 5: propagation of a change to a second replica on PostgreSQL');
  if (adminUrl === undefined || adminUrl === '') {
    console.log('skipped: set BENCH_REGISTRY_DATABASE_URL (or TESSERA_TEST_DATABASE_URL) to a PostgreSQL server where databases may be created');
    return;
  }
  const name = `tessera_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-propagation-'));
  const rows: Record<string, string | number>[] = [];
  try {
    await seedRegistry({ dataDir, databaseUrl, tenants: 1, clientsPerTenant: SMALL });
    for (const listen of [true, false]) {
      const open = async () => {
        const config = resolveConfig({ dataDir, databaseUrl, logLevel: 'silent', cache: { listen } });
        const store = await createStore({ dataDir, databaseUrl });
        const app = await buildApp({ config, store, masterKey: MasterKey.fromBase64(SEEDED_MASTER_KEY) });
        return { app, store };
      };
      const writer = await open();
      const reader = await open();
      await reader.app.tessera.changeFeed.start();
      const samples: number[] = [];
      try {
        const clientId = seededClientId(0, 0);
        for (let i = 0; i < SIZES.propagations; i++) {
          const name = `renamed ${listen} ${i}`;
          await reader.app.tessera.registry.client('bench-0', clientId);
          const started = performance.now();
          await writer.app.tessera.clients.update('bench-0', clientId, { name }, 'bench');
          while ((await reader.app.tessera.registry.client('bench-0', clientId))?.client.name !== name) {
            if (performance.now() - started > 10_000) throw new Error('a change did not reach the second replica in 10 s');
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
          samples.push(performance.now() - started);
        }
      } finally {
        await reader.app.close();
        await reader.store.close();
        await writer.app.close();
        await writer.store.close();
      }
      const goal = listen ? 500 : 2000;
      const p99 = percentile(samples, 99);
      rows.push({ mode: listen ? 'LISTEN/NOTIFY' : 'polling only', samples: samples.length, 'p50 ms': Math.round(percentile(samples, 50)), 'p99 ms': Math.round(p99), target: `< ${goal} ms`, verdict: verdict(p99 < goal) });
    }
    console.table(rows);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
    await admin.query(`drop database if exists ${name}`);
    await admin.end();
  }
}

async function creates(): Promise<void> {
  console.log(`\n### 6: management: create ${SIZES.creates} clients on SQLite`);
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-creates-'));
  const store = await createStore({ dataDir });
  const app = await buildApp({ config: resolveConfig({ dataDir, logLevel: 'silent' }), store, masterKey: MasterKey.fromBase64(SEEDED_MASTER_KEY) });
  try {
    const boot = await app.tessera.bootstrap();
    if (boot === null) throw new Error('fresh store was bootstrapped already');
    const tokenResponse = await app.inject({
      method: 'POST',
      url: '/t/admin/token',
      headers: { authorization: basic(boot.adminClientId, boot.adminClientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'client_credentials', audience: 'urn:tessera:management', scope: 'manage:write' }).toString(),
    });
    const token = (tokenResponse.json() as { access_token: string }).access_token;
    let next = 0;
    let failed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < SIZES.creates) {
          next++;
          const response = await app.inject({ method: 'POST', url: '/manage/v1/tenants/default/clients', headers: { authorization: `Bearer ${token}` }, payload: { name: `client ${next}` } });
          if (response.statusCode !== 201) failed++;
        }
      }),
    );
    const perSecond = (SIZES.creates / (performance.now() - started)) * 1000;
    console.log(`${Math.round(perSecond)} clients/s through the management API, in process (target ≥ 1,000/s) ${verdict(perSecond >= 1000 && failed === 0)}${failed > 0 ? `; ${failed} failed` : ''}`);
  } finally {
    await app.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  console.log(`sizes: ${JSON.stringify(SIZES)}`);
  await sizeAndChangeRate();
  await manyTenants();
  await propagation();
  await creates();
}
