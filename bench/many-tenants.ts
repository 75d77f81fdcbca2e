/**
 * Many tenants without a cliff: token req/s with every request to a tenant of
 * BENCH_TENANTS_SIZES (10,000 and 100,000) taken in turn ÷ every request to one tenant,
 * on the same server, with the server's RSS. Targets: 10,000 tenants ≥ 0.8x, 100,000
 * ≥ 0.5x with RSS under 1 GiB, all with the default cache bounds (docs/configuration.md):
 * every tenant and client fits, the unsealed signers do not (128 MiB, some 21,000 ES256
 * keys), so at 100,000 tenants most requests unseal their tenant's key again, and only
 * a cheap unseal (a JWK import) and scan-resistant eviction keep the rate up.
 *
 * Seeding: one tenant through the domain services (keys, an API, a client with a secret
 * and a grant), then copied row by row in SQL to `bench-1` ... `bench-<n-1>` (the same
 * encrypted key in each: a fixture, never a deployment). Each tenant still loads, and
 * unseals its key, on its own.
 *
 *   BENCH_TENANTS_SIZES=10000,100000 BENCH_TENANTS_SECONDS=10 npm run bench -- tenants
 *   BENCH_TENANTS_PROFILE=/tmp/prof ...   # the server under --cpu-prof, one profile per size
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { rssMb, tokenLoad, tokenLoadOptions } from './registry.js';
import { seededClientId, seedRegistry } from './seed-registry.js';
import { startServer } from './token-endpoint.js';
import { measureHttp, printHttpTable, ratio } from './util.js';

const SIZES = (process.env['BENCH_TENANTS_SIZES'] ?? '10000,100000').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 1);
const SECONDS = Number(process.env['BENCH_TENANTS_SECONDS'] ?? 10);
const GOALS: Record<number, number> = { 10_000: 0.8, 100_000: 0.5 };
const RSS_LIMIT_MB = 1024;
const PROFILE_DIR = process.env['BENCH_TENANTS_PROFILE'];

/** Copies every row of tenant `bench-0` to `bench-1` ... `bench-<count-1>`, in one transaction. */
function cloneTenant(file: string, count: number): void {
  const db = new BetterSqlite3(file);
  try {
    const tables = ['tenants', 'apis', 'signing_keys', 'clients', 'client_secrets', 'grants'];
    db.exec('begin immediate');
    db.exec(`create temp table n(i integer primary key); with recursive r(i) as (select 1 union all select i + 1 from r where i < ${count - 1}) insert into n select i from r`);
    for (const table of tables) {
      const columns = (db.prepare(`pragma table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
      const tenantColumn = table === 'tenants' ? 'id' : 'tenant_id';
      const values = columns.map((c) => (c === tenantColumn ? `'bench-' || n.i` : table === 'client_secrets' && c === 'id' ? `id || '-' || n.i` : c));
      db.exec(`insert into ${table} (${columns.join(', ')}) select ${values.join(', ')} from ${table}, n where ${tenantColumn} = 'bench-0'`);
    }
    db.exec('commit');
  } finally {
    db.close();
  }
}

export async function run(): Promise<void> {
  console.log(`tenant counts: ${SIZES.join(', ')}; ${SECONDS} s per measurement; the default cache bounds`);
  for (const count of SIZES) {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-tenants-'));
    try {
      const started = performance.now();
      await seedRegistry({ dataDir, tenants: 1, clientsPerTenant: 1 });
      cloneTenant(join(dataDir, 'tessera.db'), count);
      console.log(`\n### ${count} tenants (seeded in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
      const server = await startServer('tessera-seeded', { BENCH_DATA_DIR: dataDir }, PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : []);
      try {
        const clientId = seededClientId(0, 0);
        // Server CPU per request next to req/s: on a shared machine it moves far less.
        const measured = async (label: string, targets: { tenant: string; clientId: string }[]) => {
          const before = await server.cpuTime();
          const http = await tokenLoad(label, server, targets, SECONDS);
          const cpu = ((await server.cpuTime()) - before) / Math.max(1, http.requestsPerSecond * (SECONDS + 2));
          return { http, cpu };
        };
        // The process's first seconds (JIT, first loads) are not what either side is about: warm up on one tenant first.
        await measured('all requests to one tenant (warm-up)', [{ tenant: 'bench-0', clientId }]);
        const one = await measured('all requests to one tenant', [{ tenant: 'bench-0', clientId }]);
        // Every tenant in turn, from a shuffled start so no order of the seeding helps.
        const targets = Array.from({ length: count }, (_, t) => ({ tenant: `bench-${(t * 7919) % count}`, clientId }));
        // First every tenant once (each one's first token loads it and its client cold),
        // then the measurement: the steady state of a working set of `count` tenants.
        const warm = await measureHttp(`first pass over ${count} tenants`, { ...tokenLoadOptions(server, targets), amount: count });
        console.log(`first pass over ${count} tenants: ${Math.round(warm.requestsPerSecond)} req/s`);
        const many = await measured(`each request to the next of ${count} tenants`, targets);
        const rss = rssMb(server.pid);
        printHttpTable([one.http, many.http]);
        console.log(`server CPU per request: one tenant ${Math.round(one.cpu)} µs, ${count} tenants ${Math.round(many.cpu)} µs`);
        const r = many.http.requestsPerSecond / one.http.requestsPerSecond;
        const goal = GOALS[count];
        const verdict = (value: number) => (goal !== undefined ? ` (target ≥ ${goal}) ${value >= goal ? 'PASS' : 'FAIL'}` : '');
        console.log(`${count} tenants ÷ one tenant, req/s: ${ratio(many.http.requestsPerSecond, one.http.requestsPerSecond)}${verdict(r)}`);
        console.log(`${count} tenants ÷ one tenant, by CPU per request (one core): ${ratio(one.cpu, many.cpu)}${verdict(one.cpu / many.cpu)}`);
        console.log(`server RSS after the load: ${rss} MiB (target < ${RSS_LIMIT_MB} MiB) ${rss < RSS_LIMIT_MB ? 'PASS' : 'FAIL'}; non-2xx: ${one.http.non2xx + many.http.non2xx}`);
      } finally {
        await server.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
}
