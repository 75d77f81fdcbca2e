/**
 * Usage analytics (docs/usage.md), two questions:
 *
 * 1. What does recording cost the token endpoint? Tessera with usage recording on and
 *    off (BENCH_TESSERA_USAGE=off), same flow as the token section (client_secret_basic,
 *    ES256 JWT), measured alternately off/on/off/on so drift in the machine's load hits
 *    both; target: on ≥ 0.97 × off in requests per second.
 * 2. What does a flush cost? 100 000 distinct client × API × scope keys recorded in
 *    memory, then flushed to the embedded SQLite store (and to PostgreSQL when
 *    BENCH_DATABASE_URL is set): once as inserts, once more as additive updates.
 *
 * Small runs: BENCH_USAGE_SECONDS=1 (per measurement; default 10), BENCH_USAGE_KEYS=1000
 * (default 100000), BENCH_USAGE_PARTS=flush or =token to run one half.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore } from '@tessera/server';
import { UsageRecorder } from '../packages/server/src/domain/usage.js';
import { checkTokenResponse, loadOptions, type Measured, measureTokenEndpoint, provisionTessera, startServer } from './token-endpoint.js';
import { opsPerSecond, printHttpTable, ratio } from './util.js';

const GOAL_ON_OVER_OFF = 0.97;

async function tokenEndpoint(seconds: number): Promise<void> {
  const runs: { usage: 'on' | 'off'; measured: Measured }[] = [];
  for (const usage of ['off', 'on', 'off', 'on'] as const) {
    const server = await startServer('tessera', usage === 'off' ? { BENCH_TESSERA_USAGE: 'off' } : {});
    try {
      const { tokenUrl, authorization } = await provisionTessera(server);
      await checkTokenResponse(`usage ${usage}`, tokenUrl, authorization, 'ES256');
      const measured = await measureTokenEndpoint(`Tessera, usage recording ${usage}`, server, loadOptions(tokenUrl, authorization), undefined, {
        warmUp: Math.min(2, seconds),
        measure: seconds,
      });
      runs.push({ usage, measured });
    } finally {
      await server.stop();
    }
  }
  printHttpTable(runs.map((r) => r.measured.http));
  const mean = (usage: 'on' | 'off', pick: (m: Measured) => number) => {
    const of = runs.filter((r) => r.usage === usage).map((r) => pick(r.measured));
    return of.reduce((a, b) => a + b, 0) / of.length;
  };
  const on = mean('on', (m) => m.http.requestsPerSecond);
  const off = mean('off', (m) => m.http.requestsPerSecond);
  const clean = runs.every((r) => r.measured.http.non2xx === 0 && r.measured.http.errors === 0);
  console.log(`every response 2xx: ${clean ? 'yes' : 'NO'}`);
  console.log(`usage on / off, req/s: ${ratio(on, off, 3)} (target ≥ ${GOAL_ON_OVER_OFF}) ${clean && on / off >= GOAL_ON_OVER_OFF ? 'PASS' : 'FAIL'}`);
  console.log(`server CPU per request, on / off: ${ratio(mean('on', (m) => m.cpuPerRequest), mean('off', (m) => m.cpuPerRequest), 3)}`);
}

async function flushCost(keys: number): Promise<void> {
  const targets: { name: string; databaseUrl?: string }[] = [{ name: 'SQLite (embedded)' }];
  const databaseUrl = process.env['BENCH_DATABASE_URL'];
  if (databaseUrl) targets.push({ name: 'PostgreSQL', databaseUrl });
  else console.log('PostgreSQL: set BENCH_DATABASE_URL (a scratch database: the rows of the bench stay in it) to measure it too');

  // The hot path: one Map update per token, over a realistic number of live keys.
  const hot = new UsageRecorder({} as never, Date.now);
  let i = 0;
  const perSecond = await opsPerSecond(() => hot.issued('default', `client-${i++ % 1000}`, 'https://api.example', ['read']));
  console.log(`recording one token in memory: ${(1e9 / perSecond).toFixed(0)} ns (${Math.round(perSecond).toLocaleString('en')} per second)`);

  for (const target of targets) {
    const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-usage-'));
    const store = await createStore({ dataDir, ...(target.databaseUrl !== undefined ? { databaseUrl: target.databaseUrl } : {}) });
    try {
      const now = Date.now();
      // A tenant of its own per run: a PostgreSQL database given to the bench keeps its rows.
      const tenant = `bench-${now}`;
      const recorder = new UsageRecorder(store.usage(), () => now);
      const fill = () => {
        for (let k = 0; k < keys; k++) recorder.issued(tenant, `client-${k % 1000}`, `https://api-${Math.floor(k / 1000)}.example`, [`scope-${k % 7}`]);
      };
      for (const pass of ['inserts', 'additive updates'] as const) {
        fill();
        const started = performance.now();
        await recorder.flush();
        const ms = performance.now() - started;
        console.log(`${target.name}: flush of ${keys.toLocaleString('en')} distinct keys (${pass}): ${ms.toFixed(0)} ms (${((ms * 1000) / keys).toFixed(1)} µs per key)`);
      }
    } finally {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }
}

export async function run(): Promise<void> {
  const seconds = Number(process.env['BENCH_USAGE_SECONDS'] ?? 10);
  const keys = Number(process.env['BENCH_USAGE_KEYS'] ?? 100_000);
  const parts = (process.env['BENCH_USAGE_PARTS'] ?? 'token,flush').split(',');
  if (parts.includes('flush')) await flushCost(keys);
  if (parts.includes('token')) await tokenEndpoint(seconds);
}
