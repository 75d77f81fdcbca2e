/**
 * Junk costs less than work: token requests to tenants that do not exist ÷ real
 * client_secret_basic token requests, on one Tessera server (`bench/servers/tessera.ts`,
 * the default configuration, pinned with taskset as the token section pins its servers),
 * side by side in one run. Target: junk req/s ≥ 1.5x token req/s, for both junk rows,
 * which holds only if a junk request costs no store query and little else.
 *
 * - `client_secret_basic`: a real client's token request (ES256 JWT);
 * - `/t/<junk>/token`: the same request (body and Basic credentials) to one of
 *   BENCH_JUNK_TENANTS made-up tenants in turn (default 1,000: the negative cache, 10,000
 *   entries, holds them all), answered 404 `not_found`;
 * - `/t/<fresh>/token`: a new made-up tenant on every request, truly random: the
 *   negative cache never hits, so only the known-tenant directory (every tenant id in
 *   memory, domain/tenant-directory.ts) keeps it from costing a store query each.
 *
 * The ratio is given by req/s and by server CPU per request (what a busy machine moves
 * less). Knobs: BENCH_TOKEN_DURATION (s, default 10), BENCH_TOKEN_WARMUP (s, default 2),
 * BENCH_JUNK_ROUNDS (alternate the targets this many times; medians, default 2),
 * BENCH_TOKEN_PROFILE (a directory: the server runs with --cpu-prof into it).
 *
 *   npm run bench -- junk
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import type autocannon from 'autocannon';
import { RESOURCE, SCOPE } from './servers/common.js';
import { checkTokenResponse, loadOptions, type Measured, measureTokenEndpoint, provisionTessera, type ServerChild, startServer } from './token-endpoint.js';
import { pinLoadGenerator, printHttpTable, ratio } from './util.js';

function numberFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? '');
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const MEASURE_SECONDS = numberFromEnv('BENCH_TOKEN_DURATION', 10);
const WARM_UP_SECONDS = numberFromEnv('BENCH_TOKEN_WARMUP', 2);
const ROUNDS = Math.floor(numberFromEnv('BENCH_JUNK_ROUNDS', 2));
const JUNK_TENANTS = Math.floor(numberFromEnv('BENCH_JUNK_TENANTS', 1000));
const GOAL = 1.5;
const BODY = new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCE, scope: SCOPE }).toString();

/** POSTs of BODY with `authorization` to `/t/<next tenant>/token`. */
function junkOptions(server: ServerChild, authorization: string | null, nextTenant: () => string): autocannon.Options {
  return {
    url: server.url,
    requests: [{
      method: 'POST',
      path: '/t/junk/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization !== null ? { authorization } : {}) },
      body: BODY,
      setupRequest: (request: autocannon.Request) => ({ ...request, path: `/t/${nextTenant()}/token` }),
    }],
  };
}

async function expectNotFound(url: string, authorization: string | null): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization !== null ? { authorization } : {}) }, body: BODY });
  const body = (await response.json()) as { error?: string };
  if (response.status !== 404 || body.error !== 'not_found') throw new Error(`${url}: expected 404 not_found, got ${response.status} ${JSON.stringify(body)}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export async function run(): Promise<void> {
  console.log(`${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}; load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(pinLoadGenerator() ? 'pinned with taskset: the server to BENCH_SERVER_CORES (default 0), the load generator to BENCH_LOAD_CORES (default 1)' : 'NOT pinned: taskset is not available (or there is one core)');
  console.log(`${ROUNDS} round(s), each target ${MEASURE_SECONDS} s (${WARM_UP_SECONDS} s warm-up first); ${JUNK_TENANTS} made-up tenants in turn`);
  const profileDir = process.env['BENCH_TOKEN_PROFILE'];
  const server = await startServer('tessera', {}, profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []);
  try {
    const { tokenUrl, authorization } = await provisionTessera(server);
    await checkTokenResponse('client_secret_basic', tokenUrl, authorization, 'ES256');
    const pool = Array.from({ length: JUNK_TENANTS }, () => `junk-${randomBytes(6).toString('hex')}`);
    let next = 0;
    const fromPool = () => pool[next++ % pool.length] as string;
    const fresh = () => `fresh-${randomBytes(6).toString('hex')}`;
    await expectNotFound(`${server.url}/t/${fromPool()}/token`, authorization);
    const targets: { name: string; label: string; options: autocannon.Options }[] = [
      { name: 'token', label: 'client_secret_basic token', options: loadOptions(tokenUrl, authorization) },
      { name: 'junk', label: `/t/<one of ${JUNK_TENANTS} made-up>/token`, options: junkOptions(server, authorization, fromPool) },
      { name: 'fresh', label: '/t/<new made-up each time>/token', options: junkOptions(server, authorization, fresh) },
    ];
    const rounds = new Map<string, Measured[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) {
        const seconds = { warmUp: round === 0 ? WARM_UP_SECONDS : 1, measure: MEASURE_SECONDS };
        rounds.set(target.name, [...(rounds.get(target.name) ?? []), await measureTokenEndpoint(target.label, server, target.options, undefined, seconds)]);
      }
    }
    const figure = (name: string) => {
      const measured = rounds.get(name) ?? [];
      const first = measured[0] as Measured;
      return {
        ...first.http,
        requestsPerSecond: median(measured.map((m) => m.http.requestsPerSecond)),
        p50: median(measured.map((m) => m.http.p50)),
        p99: median(measured.map((m) => m.http.p99)),
        non2xx: measured.reduce((sum, m) => sum + m.http.non2xx, 0),
        errors: measured.reduce((sum, m) => sum + m.http.errors, 0),
        cpuPerRequest: median(measured.map((m) => m.cpuPerRequest)),
      };
    };
    const [token, junk, freshly] = [figure('token'), figure('junk'), figure('fresh')];
    printHttpTable([token, junk, freshly]);
    console.log(`req/s per round: ${[...rounds].map(([name, m]) => `${name} ${m.map((x) => Math.round(x.http.requestsPerSecond)).join('/')}`).join('; ')}; load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`(non-2xx of the junk rows are their 404 answers; the token row must have none: ${token.non2xx === 0 && token.errors === 0 ? 'none' : `${token.non2xx} non-2xx, ${token.errors} errors`})`);
    const verdict = (value: number) => `(target ≥ ${GOAL}) ${value >= GOAL ? 'PASS' : 'FAIL'}`;
    console.log(`/t/<junk>/token ÷ client_secret_basic token, req/s: ${ratio(junk.requestsPerSecond, token.requestsPerSecond)} ${verdict(junk.requestsPerSecond / token.requestsPerSecond)}`);
    console.log(`/t/<junk>/token ÷ client_secret_basic token, by server CPU per request (${Math.round(token.cpuPerRequest)} µs ÷ ${Math.round(junk.cpuPerRequest)} µs): ${ratio(token.cpuPerRequest, junk.cpuPerRequest)} ${verdict(token.cpuPerRequest / junk.cpuPerRequest)}`);
    console.log(`/t/<new each time>/token ÷ client_secret_basic token, req/s: ${ratio(freshly.requestsPerSecond, token.requestsPerSecond)} ${verdict(freshly.requestsPerSecond / token.requestsPerSecond)}`);
    console.log(`/t/<new each time>/token ÷ client_secret_basic token, by server CPU per request (${Math.round(token.cpuPerRequest)} µs ÷ ${Math.round(freshly.cpuPerRequest)} µs): ${ratio(token.cpuPerRequest, freshly.cpuPerRequest)} ${verdict(token.cpuPerRequest / freshly.cpuPerRequest)}`);
  } finally {
    await server.stop();
  }
}
