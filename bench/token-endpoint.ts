/**
 * Tessera's token endpoint against the references, side by side in one run (issue
 * "token endpoint at the floor of the runtime"):
 *
 * - plain: a Fastify 5 POST route that parses the form and returns fixed JSON (the HTTP ceiling);
 * - floor: a Fastify 5 route that checks Basic credentials (timing-safe), builds RFC 9068
 *   claims and signs one ES256 JWT with crypto.sign and a prepared KeyObject;
 * - tessera: client_credentials, client_secret_basic, ES256 (set up through the management API);
 * - oidc-provider: node-oidc-provider 9 configured for the same flow;
 * - tessera-pkjwt: the same with private_key_jwt (a fresh assertion and jti per request);
 * - floor-pkjwt: private_key_jwt's floor, a Fastify 5 route that verifies the ES256 assertion,
 *   records its jti with one durable SQLite insert and signs one ES256 JWT;
 * - tessera-jwt-bearer: RFC 7523 §2.1, a fresh federated ES256 assertion per request from an
 *   issuer whose key set this process serves on 127.0.0.1 (single-use replay protection);
 * - tessera-mixed: ES256 load while an RS256 tenant of the same process is loaded too;
 * - tessera-workers: the real `tessera serve --workers 1` and `--workers 2`, server CPU per
 *   token from /proc/<pid>/stat of the primary and its workers, and whether both served.
 *
 * Each server runs alone in its own child process, pinned with taskset to the server
 * cores and the load generator (autocannon, in this process) to the load cores, when
 * taskset exists. Knobs (environment): BENCH_TOKEN_TARGETS, BENCH_TOKEN_DURATION (s,
 * default 10), BENCH_TOKEN_WARMUP (s, default 2), BENCH_TOKEN_CONNECTIONS (default 32),
 * BENCH_SERVER_CORES (default 0), BENCH_LOAD_CORES (default 1), BENCH_TOKEN_RSA_RATE
 * (RS256 req/s in the mixed run, default 200), BENCH_TOKEN_WORKERS (the multi-worker run,
 * default 2), BENCH_TOKEN_PROFILE (--cpu-prof dir), BENCH_TOKEN_ROUNDS (alternate the targets this
 * many times and report medians: for a machine whose load changes).
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type autocannon from 'autocannon';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CpuMessage, type CpuRequest, freePort, HOST, type ReadyMessage, RESOURCE, SCOPE } from './servers/common.js';
import { type HttpResult, measureHttp, printHttpTable, ratio } from './util.js';

const BODY = new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCE, scope: SCOPE }).toString();
const FORM = 'application/x-www-form-urlencoded';
const START_TIMEOUT_MS = 60_000;
const CLI_BIN = fileURLToPath(new URL('../packages/cli/bin/tessera.js', import.meta.url));

function numberFromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? '');
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const MEASURE_SECONDS = numberFromEnv('BENCH_TOKEN_DURATION', 10);
const WARM_UP_SECONDS = numberFromEnv('BENCH_TOKEN_WARMUP', 2);
const CONNECTIONS = numberFromEnv('BENCH_TOKEN_CONNECTIONS', 32);
const RSA_RATE = numberFromEnv('BENCH_TOKEN_RSA_RATE', 200);
const WORKERS = numberFromEnv('BENCH_TOKEN_WORKERS', 2);
/** More than 1: every target is started first, then measured in turn this many times (medians reported). */
const ROUNDS = Math.floor(numberFromEnv('BENCH_TOKEN_ROUNDS', 1));
const SERVER_CORES = process.env['BENCH_SERVER_CORES'] ?? '0';
const LOAD_CORES = process.env['BENCH_LOAD_CORES'] ?? '1';

/** The issue's targets. */
const GOALS = {
  ratioToFloor: 0.9,
  p99ToFloor: 1.5,
  ratioToOidcProvider: 3.5,
  mixedToAlone: 0.8,
  workersCpuRatio: 1.1,
  pkjwtToBasic: 0.6,
  pkjwtToFloor: 0.8,
  jwtBearerToPkjwt: 0.9,
  metricsOnToOff: 0.95,
  tracingToOff: 0.9,
} as const;

// ---------------------------------------------------------------- pinning

const TASKSET = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
})();

/** Pins every thread of `pid` (the event loop and the libuv pool alike) to `cores`. */
function pin(pid: number, cores: string): void {
  if (!TASKSET) return;
  execFileSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' });
}

// ---------------------------------------------------------------- server children

export interface ServerChild {
  url: string;
  pid: number;
  detail: Record<string, string>;
  /** CPU time (user + system, microseconds) the server's processes have used so far. */
  cpuTime(): Promise<number>;
  /** Per process (the primary and each worker of a cluster): CPU microseconds so far. */
  cpuByProcess(): Map<number, number>;
  stop(): Promise<void>;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a live process from /proc/<pid>/stat, in microseconds; 0 once it is gone. */
function procCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Forks bench/servers/<name>.ts under tsx and waits for its "ready" message. */
export async function startServer(name: string, env: Record<string, string> = {}, extraExecArgv: string[] = []): Promise<ServerChild> {
  const script = fileURLToPath(new URL(`./servers/${name}.ts`, import.meta.url));
  const child = fork(script, [], {
    execArgv: ['--import', 'tsx', ...extraExecArgv],
    env: { ...process.env, NODE_ENV: 'production', ...env },
    // Tessera logs every request at its default level (info): the lines are written, to /dev/null.
    stdio: ['ignore', name.startsWith('tessera') ? 'ignore' : 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<ReadyMessage>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message as ReadyMessage);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited with code ${String(code)} before it was ready`));
    });
  }).catch(async (error: unknown) => {
    await stopChild(child, exited);
    throw error;
  });
  if (child.pid !== undefined) pin(child.pid, SERVER_CORES);
  const cpuTime = () =>
    new Promise<number>((resolve) => {
      child.once('message', (message) => {
        const { usage } = message as CpuMessage;
        resolve(usage.user + usage.system);
      });
      child.send({ type: 'cpu' } satisfies CpuRequest);
    });
  const cpuByProcess = () => new Map(child.pid !== undefined ? [[child.pid, procCpu(child.pid)]] : []);
  return { url: ready.url, pid: child.pid ?? 0, detail: ready.detail ?? {}, cpuTime, cpuByProcess, stop: () => stopChild(child, exited) };
}

/**
 * The real `tessera serve --workers <n>` on a temporary data directory: ready once
 * /healthz answers and the primary says every worker listens. CPU from /proc.
 */
async function startCli(workers: number): Promise<ServerChild> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-cli-'));
  const port = await freePort();
  const child = spawn(process.execPath, [CLI_BIN, 'serve', '--port', String(port), '--host', HOST, '--data-dir', dataDir, '--workers', String(workers)], {
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // The start banner and the primary's messages are for people: on standard error.
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://${HOST}:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  const listening = workers > 1 ? `(${workers} workers` : 'listening on';
  while (!output.includes(listening)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child, exited);
      await rm(dataDir, { recursive: true, force: true });
      throw new Error(`tessera serve --workers ${workers} did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pids = () => (child.pid === undefined ? [] : [child.pid, ...childPids(child.pid)]);
  for (const pid of pids()) pin(pid, SERVER_CORES);
  const cpuByProcess = () => new Map(pids().map((pid) => [pid, procCpu(pid)]));
  return {
    url,
    pid: child.pid ?? 0,
    detail: { adminFile: join(dataDir, 'admin.json') },
    cpuTime: async () => [...cpuByProcess().values()].reduce((a, b) => a + b, 0),
    cpuByProcess,
    async stop() {
      await stopChild(child, exited);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A port of 127.0.0.1 that nothing listens on (bound, read, released). */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** SIGTERM by PID (the child closes its server and exits 0), SIGKILL if it lingers. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  process.kill(child.pid, 'SIGTERM');
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000).unref());
  if ((await Promise.race([exited, timeout])) === 'timeout' && child.exitCode === null) {
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function postJson(url: string, token: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

interface Provisioned {
  tokenUrl: string;
  authorization: string | null;
  /** A fresh request body per request (private_key_jwt: a new assertion, new jti); else BODY. */
  nextBody?: () => string;
}

/** A management API token from the admin.json the server wrote. */
async function adminToken(server: ServerChild): Promise<string> {
  const adminFile = server.detail['adminFile'];
  if (adminFile === undefined) throw new Error('the Tessera child did not say where admin.json is');
  const admin = JSON.parse(await readFile(adminFile, 'utf8')) as { clientId: string; clientSecret: string };
  const response = await fetch(`${server.url}/t/admin/token`, {
    method: 'POST',
    headers: { authorization: basic(admin.clientId, admin.clientSecret), 'content-type': FORM },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: 'urn:tessera:management', scope: 'manage:write' }),
  });
  if (!response.ok) throw new Error(`admin token: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/**
 * Through the management API: an API with one scope, a client, and a grant of that
 * scope, in `tenant` (created first, signing with `signingAlg`, unless it is `default`).
 */
export async function provisionTessera(
  server: ServerChild,
  method: 'client_secret_basic' | 'private_key_jwt' = 'client_secret_basic',
  tenant = 'default',
  signingAlg: 'ES256' | 'RS256' = 'ES256',
): Promise<Provisioned> {
  const token = await adminToken(server);
  if (tenant !== 'default') await postJson(`${server.url}/manage/v1/tenants`, token, { id: tenant, signingAlg });
  const manage = `${server.url}/manage/v1/tenants/${tenant}`;
  await postJson(`${manage}/apis`, token, { identifier: RESOURCE, scopes: [{ value: SCOPE }] });
  const tokenUrl = `${server.url}/t/${tenant}/token`;
  if (method === 'private_key_jwt') {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'ES256', use: 'sig' };
    const client = await postJson(`${manage}/clients`, token, { name: 'token benchmark (private_key_jwt)', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] } });
    const clientId = String(client['clientId']);
    await postJson(`${manage}/grants`, token, { clientId, audience: RESOURCE, scopes: [SCOPE] });
    return { tokenUrl, authorization: null, nextBody: assertionBodies(clientId, `${server.url}/t/${tenant}`, privateKey) };
  }
  const client = await postJson(`${manage}/clients`, token, { name: 'token benchmark' });
  const clientId = String(client['clientId']);
  await postJson(`${manage}/grants`, token, { clientId, audience: RESOURCE, scopes: [SCOPE] });
  return { tokenUrl, authorization: basic(clientId, String(client['clientSecret'])) };
}

/** A compact ES256 JWS of `claims`. */
function es256Jwt(key: KeyObject, kid: string, claims: Record<string, unknown>): string {
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${header}.${payload}.${sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/**
 * Request bodies that each carry a fresh assertion (its own jti), signed before the
 * measurement starts so the load generator spends its time sending, not signing.
 * Runs out only if a run is far faster than expected; then it signs on the fly.
 */
function presigned(make: () => string, count = Math.min(120_000, Math.ceil((MEASURE_SECONDS + WARM_UP_SECONDS) * 6000))): () => string {
  const bodies = Array.from({ length: count }, make);
  let next = 0;
  return () => bodies[next++] ?? make();
}

/** RFC 7523 §2.2 client assertions (private_key_jwt) for `audience`. */
function assertionBodies(clientId: string, audience: string, key: KeyObject): () => string {
  return presigned(() => {
    const now = Math.floor(Date.now() / 1000);
    return new URLSearchParams({
      grant_type: 'client_credentials', resource: RESOURCE, scope: SCOPE,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: es256Jwt(key, 'bench-1', { iss: clientId, sub: clientId, aud: audience, iat: now, exp: now + 240, jti: randomUUID() }),
    }).toString();
  });
}

/** RFC 7523 §2.1 jwt-bearer grants: a workload's assertion from a federated issuer. */
function jwtBearerBodies(keySet: KeySetServer, subject: string, audience: string): () => string {
  return presigned(() => {
    const now = Math.floor(Date.now() / 1000);
    return new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', resource: RESOURCE, scope: SCOPE,
      assertion: es256Jwt(keySet.privateKey, keySet.kid, { iss: keySet.issuer, sub: subject, aud: audience, iat: now, exp: now + 240, jti: randomUUID() }),
    }).toString();
  });
}

/** A federated issuer's key set, served from this process on 127.0.0.1 (the server fetches it once, then caches it). */
interface KeySetServer {
  issuer: string;
  jwksUri: string;
  kid: string;
  privateKey: KeyObject;
  stop(): Promise<void>;
}

async function startKeySetServer(): Promise<KeySetServer> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = 'workload-1';
  const body = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }] });
  const server = createHttpServer((request, response) => {
    if (request.url !== '/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as { port: number };
  const issuer = `http://${HOST}:${port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks.json`,
    kid,
    privateKey,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Through the management API: the API, a client and its grant, and a workload
 * federation that trusts `keySet`'s issuer and maps subject `bench-workload` to the
 * client, with single-use replay protection (one jti write per token, as
 * private_key_jwt has).
 */
async function provisionJwtBearer(server: ServerChild, keySet: KeySetServer): Promise<Provisioned> {
  const token = await adminToken(server);
  const manage = `${server.url}/manage/v1/tenants/default`;
  await postJson(`${manage}/apis`, token, { identifier: RESOURCE, scopes: [{ value: SCOPE }] });
  const client = await postJson(`${manage}/clients`, token, { name: 'token benchmark (jwt-bearer workload)' });
  const clientId = String(client['clientId']);
  await postJson(`${manage}/grants`, token, { clientId, audience: RESOURCE, scopes: [SCOPE] });
  await postJson(`${manage}/federations`, token, {
    name: 'bench-workloads',
    issuer: keySet.issuer,
    jwksUri: keySet.jwksUri,
    rules: [{ subject: 'bench-workload', clientId }],
    replayProtection: { mode: 'single-use' },
  });
  return { tokenUrl: `${server.url}/t/default/token`, authorization: null, nextBody: jwtBearerBodies(keySet, 'bench-workload', `${server.url}/t/default`) };
}

/** One real request before measuring: 200, and (for the authorization servers) a JWT with `alg` for the API. */
export async function checkTokenResponse(label: string, url: string, authorization: string | null, expectAlg: string | null, body = BODY): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': FORM, ...(authorization !== null ? { authorization } : {}) },
    body,
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${label}: expected 200, got ${response.status}: ${text}`);
  if (expectAlg === null) return;
  const { access_token: token } = JSON.parse(text) as { access_token?: string };
  const [header, payload] = (token ?? '').split('.').map((part) => {
    try {
      return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  });
  if (header?.['alg'] !== expectAlg || payload?.['aud'] !== RESOURCE || payload['scope'] !== SCOPE) {
    throw new Error(`${label}: the access token is not an ${expectAlg} JWT for ${RESOURCE}: ${text}`);
  }
}

export interface Measured {
  http: HttpResult;
  /** Server CPU (user + system) per request, in microseconds: what the other processes on the machine do not change much. */
  cpuPerRequest: number;
  /** Per server process: its share of the server CPU during the measurement. */
  cpuShares: Map<number, number>;
}

export function loadOptions(url: string, authorization: string | null, nextBody?: () => string): autocannon.Options {
  const headers = { 'content-type': FORM, ...(authorization !== null ? { authorization } : {}) };
  return nextBody === undefined
    ? { url, method: 'POST' as const, headers, body: BODY }
    : {
        url,
        requests: [{
          method: 'POST' as const,
          path: new URL(url).pathname,
          headers,
          setupRequest: (request: autocannon.Request) => ({ ...request, body: nextBody() }),
        }],
      };
}

/**
 * Warm-up, then the measurement; `background` (the mixed run's RS256 load) runs
 * alongside both. CPU is read around the measurement only.
 */
export async function measureTokenEndpoint(
  label: string,
  server: ServerChild,
  options: autocannon.Options,
  background?: autocannon.Options,
  seconds: { warmUp: number; measure: number } = { warmUp: WARM_UP_SECONDS, measure: MEASURE_SECONDS },
): Promise<Measured & { background?: HttpResult }> {
  const WARM_UP = seconds.warmUp;
  const MEASURE = seconds.measure;
  const alongside = async (duration: number, run: Promise<HttpResult>) => {
    const other = background === undefined ? undefined : measureHttp(`${label} (background)`, { ...background, duration });
    return [await run, await other] as const;
  };
  await alongside(WARM_UP, measureHttp(`${label} (warm-up)`, { connections: CONNECTIONS, ...options, duration: WARM_UP }));
  const cpuBefore = await server.cpuTime();
  const perProcessBefore = server.cpuByProcess();
  const [http, other] = await alongside(MEASURE, measureHttp(label, { connections: CONNECTIONS, ...options, duration: MEASURE }));
  const cpu = (await server.cpuTime()) - cpuBefore;
  const cpuShares = new Map<number, number>();
  for (const [pid, after] of server.cpuByProcess()) cpuShares.set(pid, (after - (perProcessBefore.get(pid) ?? 0)) / Math.max(1, cpu));
  const requests = http.requestsPerSecond * MEASURE + (other?.requestsPerSecond ?? 0) * MEASURE;
  return { http, cpuPerRequest: cpu / Math.max(1, requests), cpuShares, ...(other !== undefined ? { background: other } : {}) };
}

/** The median round of each figure (req/s, p50, p99, CPU per request) taken on its own. */
function medianOf(rounds: (Measured & { background?: HttpResult })[]): Measured & { background?: HttpResult } {
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  };
  const first = rounds[0] as Measured & { background?: HttpResult };
  return {
    ...first,
    http: {
      ...first.http,
      requestsPerSecond: median(rounds.map((r) => r.http.requestsPerSecond)),
      p50: median(rounds.map((r) => r.http.p50)),
      p99: median(rounds.map((r) => r.http.p99)),
      errors: rounds.reduce((sum, r) => sum + r.http.errors, 0),
      non2xx: rounds.reduce((sum, r) => sum + r.http.non2xx, 0),
    },
    cpuPerRequest: median(rounds.map((r) => r.cpuPerRequest)),
  };
}

function verdict(pass: boolean): string {
  return pass ? 'PASS' : 'FAIL';
}

/** Other work on the machine skews every figure: say how busy it was. */
function load(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ');
}

type TargetName =
  | 'plain'
  | 'floor'
  | 'tessera'
  | 'tessera-metrics-off'
  | 'tessera-log-warn'
  | 'tessera-ref'
  | 'tessera-tracing'
  | 'oidc-provider'
  | 'tessera-pkjwt'
  | 'floor-pkjwt'
  | 'tessera-jwt-bearer'
  | 'tessera-mixed'
  | 'tessera-workers-1'
  | 'tessera-workers-2';

interface Target {
  name: TargetName;
  label: string;
  /** Which selection (BENCH_TOKEN_TARGETS) runs it. */
  group: string;
  /** Starts the server child and returns what to load. */
  start(profileArgs: string[]): Promise<{ server: ServerChild; alg: string | null; background?: autocannon.Options } & Provisioned>;
}

const BENCH_CLIENT = { id: 'bench-client', secret: 'bench-client-secret-0123456789abcdefghijklmnop' };
const BENCH_CLIENT_ENV = { BENCH_CLIENT_ID: BENCH_CLIENT.id, BENCH_CLIENT_SECRET: BENCH_CLIENT.secret };

/** Provisions a server just started; stops it if that fails. */
async function provisioned<T>(server: ServerChild, setUp: () => Promise<T>): Promise<T> {
  return setUp().catch(async (error: unknown) => {
    await server.stop();
    throw error;
  });
}

const TARGET_LIST: Target[] = [
  {
    name: 'plain',
    group: 'plain',
    label: 'Fastify 5 plain POST route (ceiling)',
    async start(profileArgs) {
      const server = await startServer('plain-fastify', {}, profileArgs);
      return { server, tokenUrl: `${server.url}/token`, authorization: null, alg: null };
    },
  },
  {
    name: 'floor',
    group: 'floor',
    label: 'floor: Fastify 5 + Basic + RFC 9068 claims + one ES256 crypto.sign',
    async start(profileArgs) {
      const server = await startServer('floor', BENCH_CLIENT_ENV, profileArgs);
      return { server, tokenUrl: `${server.url}/token`, authorization: basic(BENCH_CLIENT.id, BENCH_CLIENT.secret), alg: 'ES256' };
    },
  },
  {
    name: 'tessera',
    group: 'tessera',
    label: 'Tessera (ES256 JWT, client_secret_basic)',
    async start(profileArgs) {
      const server = await startServer('tessera', {}, profileArgs);
      return { server, ...(await provisioned(server, () => provisionTessera(server))), alg: 'ES256' };
    },
  },
  {
    name: 'tessera-metrics-off',
    group: 'tessera-metrics-off',
    label: 'Tessera, metrics off (--no-metrics)',
    async start(profileArgs) {
      const server = await startServer('tessera', { BENCH_TESSERA_METRICS: 'off' }, profileArgs);
      return { server, ...(await provisioned(server, () => provisionTessera(server))), alg: 'ES256' };
    },
  },
  {
    name: 'tessera-log-warn',
    group: 'tessera-log-warn',
    label: 'Tessera, --log-level warn (no access log)',
    async start(profileArgs) {
      const server = await startServer('tessera', { BENCH_TESSERA_LOG_LEVEL: 'warn' }, profileArgs);
      return { server, ...(await provisioned(server, () => provisionTessera(server))), alg: 'ES256' };
    },
  },
  {
    name: 'tessera-ref',
    group: 'tessera-ref',
    label: 'Tessera, the build at BENCH_TESSERA_REF (before/after)',
    async start(profileArgs) {
      const module = process.env['BENCH_TESSERA_REF'];
      if (module === undefined) throw new Error('tessera-ref needs BENCH_TESSERA_REF: the path of another build\'s packages/server/dist/index.js');
      const server = await startServer('tessera', { BENCH_TESSERA_MODULE: module }, profileArgs);
      return { server, ...(await provisioned(server, () => provisionTessera(server))), alg: 'ES256' };
    },
  },
  {
    name: 'tessera-tracing',
    group: 'tessera-tracing',
    label: 'Tessera, OTLP tracing configured, no collector',
    async start(profileArgs) {
      // Spans are exported to a port nobody listens on: the cost of tracing plus failed exports.
      const server = await startServer('tessera', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}` }, profileArgs);
      return { server, ...(await provisioned(server, () => provisionTessera(server))), alg: 'ES256' };
    },
  },
  {
    name: 'oidc-provider',
    group: 'oidc-provider',
    label: 'node-oidc-provider 9 (same flow)',
    async start(profileArgs) {
      const server = await startServer('oidc-provider', BENCH_CLIENT_ENV, profileArgs);
      return { server, tokenUrl: `${server.url}/token`, authorization: basic(BENCH_CLIENT.id, BENCH_CLIENT.secret), alg: 'ES256' };
    },
  },
  {
    name: 'tessera-pkjwt',
    group: 'tessera-pkjwt',
    label: 'Tessera (ES256 JWT, private_key_jwt)',
    async start(profileArgs) {
      const server = await startServer('tessera', {}, profileArgs);
      return { server, ...(await provisioned(server, () => provisionTessera(server, 'private_key_jwt'))), alg: 'ES256' };
    },
  },
  {
    name: 'floor-pkjwt',
    group: 'floor-pkjwt',
    label: 'floor for private_key_jwt: Fastify 5 + ES256 assertion verify + one SQLite single-use insert + one ES256 crypto.sign',
    async start(profileArgs) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-1' };
      const server = await startServer('floor-pkjwt', { BENCH_CLIENT_ID: BENCH_CLIENT.id, BENCH_PKJWT_JWK: JSON.stringify(jwk) }, profileArgs);
      return { server, tokenUrl: `${server.url}/token`, authorization: null, nextBody: assertionBodies(BENCH_CLIENT.id, server.url, privateKey), alg: 'ES256' };
    },
  },
  {
    name: 'tessera-jwt-bearer',
    group: 'tessera-jwt-bearer',
    label: 'Tessera (ES256 JWT, jwt-bearer: federated assertion, single-use)',
    async start(profileArgs) {
      const keySet = await startKeySetServer();
      let tessera: ServerChild;
      try {
        // The issuer is http://127.0.0.1:<port>: outbound fetches there must be allowed.
        tessera = await startServer('tessera', { BENCH_TESSERA_OUTBOUND_ALLOW: HOST }, profileArgs);
      } catch (error) {
        await keySet.stop();
        throw error;
      }
      const server: ServerChild = { ...tessera, stop: async () => { await tessera.stop(); await keySet.stop(); } };
      return { server, ...(await provisioned(server, () => provisionJwtBearer(server, keySet))), alg: 'ES256' };
    },
  },
  {
    name: 'tessera-mixed',
    group: 'tessera-mixed',
    label: `Tessera ES256 tenant while an RS256 tenant gets ${RSA_RATE} req/s`,
    async start(profileArgs) {
      const server = await startServer('tessera', {}, profileArgs);
      const [es256, rs256] = await provisioned(server, async () => [await provisionTessera(server), await provisionTessera(server, 'client_secret_basic', 'rsa', 'RS256')] as const);
      await checkTokenResponse('RS256 tenant', rs256.tokenUrl, rs256.authorization, 'RS256');
      const background = { ...loadOptions(rs256.tokenUrl, rs256.authorization), connections: 8, overallRate: RSA_RATE };
      return { server, ...es256, alg: 'ES256', background };
    },
  },
  {
    name: 'tessera-workers-1',
    group: 'tessera-workers',
    label: 'tessera serve --workers 1 (ES256, client_secret_basic)',
    async start() {
      const server = await startCli(1);
      return { server, ...(await provisioned(server, () => provisionTessera(server))), alg: 'ES256' };
    },
  },
  {
    name: 'tessera-workers-2',
    group: 'tessera-workers',
    label: `tessera serve --workers ${WORKERS} (ES256, client_secret_basic)`,
    async start() {
      const server = await startCli(WORKERS);
      return { server, ...(await provisioned(server, () => provisionTessera(server))), alg: 'ES256' };
    },
  },
];

/** `a ÷ b` against a goal, PASS/FAIL; "not measured" when either side did not run. */
function printRatio(label: string, a: number | undefined, b: number | undefined, goal: string, pass: (r: number) => boolean, clean: boolean): void {
  if (a === undefined || b === undefined) {
    console.log(`${label}: not measured (target ${goal})`);
    return;
  }
  const r = a / b;
  console.log(`${label}: ${r.toFixed(2)} (target ${goal}) ${verdict(clean && pass(r))}`);
}

/**
 * BENCH_TOKEN_TARGETS=plain,floor,tessera,tessera-metrics-off,tessera-log-warn,tessera-ref,tessera-tracing,oidc-provider,tessera-pkjwt,floor-pkjwt,tessera-jwt-bearer,tessera-mixed,tessera-workers
 * measures only those; each ratio needs both of its sides.
 */
export async function run(): Promise<void> {
  console.log(`${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}`);
  console.log(`each target: ${WARM_UP_SECONDS} s warm-up, then autocannon ${CONNECTIONS} connections × ${MEASURE_SECONDS} s; POST ${BODY}`);
  if (TASKSET) {
    pin(process.pid, LOAD_CORES);
    console.log(`pinned with taskset: servers (every thread) to cores ${SERVER_CORES}, the load generator to cores ${LOAD_CORES} (BENCH_SERVER_CORES, BENCH_LOAD_CORES)`);
  } else {
    console.log('NOT pinned: taskset is not available (or there is one core); servers and the load generator share the cores');
  }
  console.log(`load average before: ${load()}`);
  const wanted = (process.env['BENCH_TOKEN_TARGETS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const profileDir = process.env['BENCH_TOKEN_PROFILE'];
  const profileArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const results = new Map<TargetName, Measured & { background?: HttpResult }>();

  const selected = TARGET_LIST.filter((target) => wanted.length === 0 || wanted.includes(target.group));
  if (ROUNDS === 1) {
    for (const target of selected) {
      const { server, tokenUrl, authorization, alg, nextBody, background } = await target.start(profileArgs);
      try {
        await checkTokenResponse(target.label, tokenUrl, authorization, alg, nextBody?.());
        results.set(target.name, await measureTokenEndpoint(target.label, server, loadOptions(tokenUrl, authorization, nextBody), background));
      } finally {
        await server.stop();
      }
    }
  } else {
    // On a shared machine the load changes from one second to the next: every server
    // is started first, then measured in turn, round after round, and each figure is
    // the median of its rounds, so that the ratios compare like with like.
    const running: { target: Target; started: Awaited<ReturnType<Target['start']>> }[] = [];
    try {
      for (const target of selected) {
        const started = await target.start(profileArgs);
        running.push({ target, started });
        await checkTokenResponse(target.label, started.tokenUrl, started.authorization, started.alg, started.nextBody?.());
      }
      const rounds = new Map<TargetName, (Measured & { background?: HttpResult })[]>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const { target, started } of running) {
          const seconds = { warmUp: round === 0 ? WARM_UP_SECONDS : 1, measure: MEASURE_SECONDS };
          const measured = await measureTokenEndpoint(target.label, started.server, loadOptions(started.tokenUrl, started.authorization, started.nextBody), started.background, seconds);
          rounds.set(target.name, [...(rounds.get(target.name) ?? []), measured]);
        }
      }
      for (const [name, measured] of rounds) results.set(name, medianOf(measured));
      console.log(`${ROUNDS} rounds of ${MEASURE_SECONDS} s per target, alternating; medians (req/s per round: ${[...rounds].map(([name, m]) => `${name} ${m.map((x) => Math.round(x.http.requestsPerSecond)).join('/')}`).join('; ')})`);
    } finally {
      for (const { started } of running) await started.server.stop();
    }
  }

  const rows = [...results.values()].flatMap((m) => (m.background !== undefined ? [{ ...m.http, cpuPerRequest: m.cpuPerRequest }, m.background] : [{ ...m.http, cpuPerRequest: m.cpuPerRequest }]));
  printHttpTable(rows);
  console.log(`load average after: ${load()}`);
  const clean = rows.every((r) => r.non2xx === 0 && r.errors === 0);
  console.log(`every response 2xx: ${clean ? 'yes' : 'NO'} (${rows.map((r) => `${r.label}: ${r.non2xx} non-2xx, ${r.errors} errors`).join('; ')})`);
  if (profileDir) {
    console.log(`CPU profiles written to ${profileDir} (profiling slows every target: no verdicts)`);
    return;
  }

  const rps = (name: TargetName) => results.get(name)?.http.requestsPerSecond;
  const p99 = (name: TargetName) => results.get(name)?.http.p99;
  const cpu = (name: TargetName) => results.get(name)?.cpuPerRequest;
  printRatio('Tessera ÷ floor, req/s, one core, ES256', rps('tessera'), rps('floor'), `≥ ${GOALS.ratioToFloor}`, (r) => r >= GOALS.ratioToFloor, clean);
  printRatio(`Tessera p99 ÷ floor p99 at ${CONNECTIONS} connections (${p99('tessera') ?? '?'} ms / ${p99('floor') ?? '?'} ms)`, p99('tessera'), p99('floor'), `≤ ${GOALS.p99ToFloor}`, (r) => r <= GOALS.p99ToFloor, clean);
  printRatio('Tessera ÷ node-oidc-provider, req/s, one core', rps('tessera'), rps('oidc-provider'), `≥ ${GOALS.ratioToOidcProvider}`, (r) => r >= GOALS.ratioToOidcProvider, clean);
  printRatio('ES256 tenant req/s with an RS256 tenant loaded ÷ ES256 alone', rps('tessera-mixed'), rps('tessera'), `≥ ${GOALS.mixedToAlone}`, (r) => r >= GOALS.mixedToAlone, clean);
  const workers2 = results.get('tessera-workers-2');
  // A worker served if it used at least half its fair share of the server CPU.
  const serving = workers2 === undefined ? [] : [...workers2.cpuShares.values()].filter((share) => share >= 0.5 / WORKERS);
  const bothServed = serving.length >= Math.min(WORKERS, 2);
  printRatio(`--workers ${WORKERS}: server CPU per token ÷ --workers 1`, cpu('tessera-workers-2'), cpu('tessera-workers-1'), `≤ ${GOALS.workersCpuRatio}`, (r) => r <= GOALS.workersCpuRatio && bothServed, clean);
  if (workers2 !== undefined) {
    const shares = [...workers2.cpuShares].map(([pid, share]) => `pid ${pid} ${(share * 100).toFixed(0)} %`).join(', ');
    console.log(`--workers ${WORKERS}: workers that served (≥ half a fair share of the server CPU): ${serving.length}, ${bothServed ? 'yes' : 'NO'} ${verdict(bothServed)} (share of server CPU: ${shares}; the primary is the first)`);
  }
  printRatio('private_key_jwt ÷ client_secret_basic, req/s', rps('tessera-pkjwt'), rps('tessera'), `≥ ${GOALS.pkjwtToBasic}`, (r) => r >= GOALS.pkjwtToBasic, clean);
  printRatio('private_key_jwt ÷ its floor (floor-pkjwt), req/s', rps('tessera-pkjwt'), rps('floor-pkjwt'), `≥ ${GOALS.pkjwtToFloor}`, (r) => r >= GOALS.pkjwtToFloor, clean);
  printRatio('jwt-bearer (federated assertion) ÷ private_key_jwt, req/s', rps('tessera-jwt-bearer'), rps('tessera-pkjwt'), `≥ ${GOALS.jwtBearerToPkjwt}`, (r) => r >= GOALS.jwtBearerToPkjwt, clean);
  printRatio('Tessera metrics on ÷ off, req/s', rps('tessera'), rps('tessera-metrics-off'), `≥ ${GOALS.metricsOnToOff}`, (r) => r >= GOALS.metricsOnToOff, clean);
  printRatio('Tessera ÷ the build at BENCH_TESSERA_REF, server CPU per request (lower is better)', cpu('tessera'), cpu('tessera-ref'), 'reported', () => true, clean);
  printRatio('Tessera access log at info (the default) ÷ --log-level warn, server CPU per request', cpu('tessera'), cpu('tessera-log-warn'), 'reported', () => true, clean);
  printRatio('Tessera tracing configured (no collector) ÷ off, req/s', rps('tessera-tracing'), rps('tessera'), `≥ ${GOALS.tracingToOff}`, (r) => r >= GOALS.tracingToOff, clean);
  const cpuRatio = (a: TargetName, b: TargetName) => {
    const x = cpu(a);
    const y = cpu(b);
    return x !== undefined && y !== undefined ? ratio(x, y) : 'not measured';
  };
  console.log(
    `server CPU per request (less sensitive to a busy machine): Tessera ÷ floor ${cpuRatio('tessera', 'floor')}, node-oidc-provider ÷ Tessera ${cpuRatio('oidc-provider', 'tessera')},` +
      ` private_key_jwt ÷ client_secret_basic ${cpuRatio('tessera-pkjwt', 'tessera')}, private_key_jwt ÷ its floor ${cpuRatio('tessera-pkjwt', 'floor-pkjwt')},` +
      ` jwt-bearer ÷ private_key_jwt ${cpuRatio('tessera-jwt-bearer', 'tessera-pkjwt')}, plain route ÷ Tessera ${cpuRatio('plain', 'tessera')}`,
  );
}
