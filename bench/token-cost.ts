/**
 * The cost of one token in-process, without sockets: `app.inject` into the floor's app
 * or into Tessera's (client_secret_basic, ES256, the default configuration: metrics,
 * usage, protection and the access log at info, written to standard output). Routing,
 * the token path and the access log line are measured; the HTTP parser and the socket
 * write are not (they are the same for every target).
 *
 *   node --import tsx bench/token-cost.ts tessera > /dev/null        # CPU µs per token (stderr)
 *   valgrind --tool=cachegrind --cache-sim=no node --import tsx bench/token-cost.ts tessera   # instructions
 *
 * Instruction counts do not depend on what else the machine runs: run it twice under
 * cachegrind, with BENCH_COST_REQUESTS=N and BENCH_COST_REQUESTS=0 (the same warm-up,
 * BENCH_COST_WARMUP, default 2,000), and divide the difference by N. Targets: floor,
 * tessera, tessera-warn (`--log-level warn`: no access log), tessera-sync (the access
 * log written synchronously, `--log-sync`).
 *
 * Allocation per token: BENCH_COST_HEAP=on samples every allocation of the measured
 * loop with V8's sampling heap profiler (one sample per 4 KiB on average, objects the
 * young and old collections freed included) and prints the estimated bytes per token and
 * the functions that allocate most (self); BENCH_COST_HEAP=<file>.heapprofile also
 * writes the profile for Chrome DevTools.
 *
 *   BENCH_COST_HEAP=on node --import tsx bench/token-cost.ts tessera > /dev/null
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { createTestServer, basic } from '../packages/server/test/helpers/app.js';
import { RESOURCE, SCOPE } from './servers/common.js';
import { buildFloorApp } from './servers/floor-app.js';

const target = process.argv[2] ?? 'tessera';
const WARMUP = Number(process.env['BENCH_COST_WARMUP'] ?? 2000);
const REQUESTS = Number(process.env['BENCH_COST_REQUESTS'] ?? 5000);
const payload = new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCE, scope: SCOPE }).toString();

type Inject = () => Promise<number>;

async function setUp(): Promise<{ inject: Inject; close: () => Promise<void> }> {
  if (target === 'floor') {
    const { app } = buildFloorApp('bench-client', 'bench-secret');
    await app.ready();
    const headers = { 'content-type': 'application/x-www-form-urlencoded', ...basic('bench-client', 'bench-secret') };
    return { inject: async () => (await app.inject({ method: 'POST', url: '/token', headers, payload })).statusCode, close: () => app.close() };
  }
  const logLevel = target === 'tessera-warn' ? 'warn' : 'info';
  const server = await createTestServer({ config: { logLevel, ...(target === 'tessera-sync' ? { logSync: true } : {}) } });
  const { clientId, clientSecret } = await server.setupClient('default', { apiIdentifier: RESOURCE, scopes: [SCOPE] });
  const headers = { 'content-type': 'application/x-www-form-urlencoded', ...basic(clientId, clientSecret) };
  return { inject: async () => (await server.app.inject({ method: 'POST', url: '/t/default/token', headers, payload })).statusCode, close: () => server.close() };
}

const { inject, close } = await setUp();
for (let i = 0; i < WARMUP; i++) if ((await inject()) !== 200) throw new Error(`${target}: not 200`);
// The measurement's start on the monotonic clock that --cpu-prof timestamps use (µs).
if (process.env['BENCH_COST_MARK'] !== undefined) process.stderr.write(`measuring from ${process.hrtime.bigint() / 1000n}\n`);
const heap = process.env['BENCH_COST_HEAP'];
const session = heap === undefined ? undefined : new Session();
if (session !== undefined) {
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}
const before = process.cpuUsage();
const started = performance.now();
for (let i = 0; i < REQUESTS; i++) await inject();
const cpu = process.cpuUsage(before);
const wall = performance.now() - started;
const sampled = session === undefined ? undefined : (await session.post('HeapProfiler.stopSampling')).profile;
await close();
if (REQUESTS > 0) {
  process.stderr.write(`${target}: ${REQUESTS} tokens, CPU ${((cpu.user + cpu.system) / REQUESTS).toFixed(1)} µs per token (wall ${((wall * 1000) / REQUESTS).toFixed(1)} µs)\n`);
}
if (sampled !== undefined && REQUESTS > 0) reportAllocation(sampled, heap === 'on' ? undefined : heap);

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

function reportAllocation(profile: { head: HeapNode }, file: string | undefined): void {
  if (file !== undefined) writeFileSync(file, JSON.stringify(profile));
  const bySite = new Map<string, number>();
  let total = 0;
  const visit = (node: HeapNode): void => {
    total += node.selfSize;
    if (node.selfSize > 0) {
      const { functionName, url, lineNumber } = node.callFrame;
      const site = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|packages)\//, '$1/')}:${lineNumber + 1}`;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  process.stderr.write(`${target}: about ${(total / REQUESTS / 1024).toFixed(1)} KiB allocated per token (sampled)\n`);
  const top = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env['BENCH_COST_HEAP_TOP'] ?? 25));
  for (const [site, bytes] of top) process.stderr.write(`  ${(bytes / REQUESTS).toFixed(0).padStart(6)} B  ${site}\n`);
}
