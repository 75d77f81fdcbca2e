/**
 * Tessera's token endpoint against the references, side by side in one run:
 *
 * 1. Tessera: client_credentials, client_secret_basic, ES256 JWT access tokens, set up
 *    through the management API (an API, a client, a grant);
 * 2. node-oidc-provider 9 configured for the same flow (resource indicators, JWT
 *    access tokens signed ES256), checked once to really return an ES256 JWT;
 * 3. a plain Fastify 5 POST route that parses the same form and returns fixed JSON:
 *    the HTTP ceiling of this machine.
 *
 * Every target gets the same request body and is measured with autocannon on
 * 127.0.0.1 (32 connections, 10 s, after a 2 s warm-up). Each server runs alone in
 * its own child process (bench/servers/*.ts), so it never shares a CPU-bound event
 * loop with autocannon; it is stopped by its PID before the next one starts.
 *
 * BENCH_TOKEN_TARGETS and BENCH_TOKEN_PROFILE (see run()) narrow and profile a run.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type autocannon from 'autocannon';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type CpuMessage, type CpuRequest, type ReadyMessage, RESOURCE, SCOPE } from './servers/common.js';
import { type HttpResult, measureHttp, printHttpTable, ratio } from './util.js';

const BODY = new URLSearchParams({ grant_type: 'client_credentials', resource: RESOURCE, scope: SCOPE }).toString();
const FORM = 'application/x-www-form-urlencoded';
/** BENCH_TOKEN_SECONDS shortens a run to check that it works (figures from it mean nothing). */
const QUICK = process.env['BENCH_TOKEN_SECONDS'] !== undefined;
const WARM_UP_SECONDS = QUICK ? 1 : 2;
const MEASURE_SECONDS = QUICK ? Number(process.env['BENCH_TOKEN_SECONDS']) : 10;
const START_TIMEOUT_MS = 30_000;

const GOALS = { ratioToOidcProvider: 5, ratioToPlainRoute: 0.4, p99Ms: 10, metricsOnToOff: 0.95, tracingToOff: 0.9 } as const;

interface ServerChild {
  url: string;
  detail: Record<string, string>;
  /** CPU time (user + system, microseconds) the child has used so far. */
  cpuTime(): Promise<number>;
  stop(): Promise<void>;
}

/** Forks bench/servers/<name>.ts under tsx and waits for its "ready" message. */
async function startServer(name: string, env: Record<string, string> = {}, extraExecArgv: string[] = []): Promise<ServerChild> {
  const script = fileURLToPath(new URL(`./servers/${name}.ts`, import.meta.url));
  const child = fork(script, [], {
    execArgv: ['--import', 'tsx', ...extraExecArgv],
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
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
  const cpuTime = () =>
    new Promise<number>((resolve) => {
      child.once('message', (message) => {
        const { usage } = message as CpuMessage;
        resolve(usage.user + usage.system);
      });
      child.send({ type: 'cpu' } satisfies CpuRequest);
    });
  return { url: ready.url, detail: ready.detail ?? {}, cpuTime, stop: () => stopChild(child, exited) };
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
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref());
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

/** Through the management API: an API with one scope, a client, and a grant of that scope. */
async function provisionTessera(server: ServerChild, method: 'client_secret_basic' | 'private_key_jwt' = 'client_secret_basic'): Promise<Provisioned> {
  const adminFile = server.detail['adminFile'];
  if (adminFile === undefined) throw new Error('the Tessera child did not say where admin.json is');
  const admin = JSON.parse(await readFile(adminFile, 'utf8')) as { clientId: string; clientSecret: string };
  const adminToken = await fetch(`${server.url}/t/admin/token`, {
    method: 'POST',
    headers: { authorization: basic(admin.clientId, admin.clientSecret), 'content-type': FORM },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: 'urn:tessera:management', scope: 'manage:write' }),
  });
  if (!adminToken.ok) throw new Error(`admin token: ${adminToken.status} ${await adminToken.text()}`);
  const { access_token: token } = (await adminToken.json()) as { access_token: string };
  const manage = `${server.url}/manage/v1/tenants/default`;
  await postJson(`${manage}/apis`, token, { identifier: RESOURCE, scopes: [{ value: SCOPE }] });
  const tokenUrl = `${server.url}/t/default/token`;
  if (method === 'private_key_jwt') {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'ES256', use: 'sig' };
    const client = await postJson(`${manage}/clients`, token, { name: 'token benchmark (private_key_jwt)', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] } });
    const clientId = String(client['clientId']);
    await postJson(`${manage}/grants`, token, { clientId, audience: RESOURCE, scopes: [SCOPE] });
    return { tokenUrl, authorization: null, nextBody: assertionBodies(clientId, `${server.url}/t/default`, privateKey) };
  }
  const client = await postJson(`${manage}/clients`, token, { name: 'token benchmark' });
  const clientId = String(client['clientId']);
  await postJson(`${manage}/grants`, token, { clientId, audience: RESOURCE, scopes: [SCOPE] });
  return { tokenUrl, authorization: basic(clientId, String(client['clientSecret'])) };
}

/**
 * RFC 7523 client assertions, each with its own jti, signed before the measurement
 * starts so the load generator spends its time sending, not signing. Runs out only
 * if a run is far faster than expected; then it signs on the fly.
 */
function assertionBodies(clientId: string, issuer: string, key: KeyObject, count = 120_000): () => string {
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'bench-1', typ: 'JWT' })).toString('base64url');
  const make = () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = Buffer.from(JSON.stringify({ iss: clientId, sub: clientId, aud: issuer, iat: now, exp: now + 240, jti: randomUUID() })).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return new URLSearchParams({
      grant_type: 'client_credentials', resource: RESOURCE, scope: SCOPE,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: `${header}.${payload}.${signature}`,
    }).toString();
  };
  const bodies = Array.from({ length: count }, make);
  let next = 0;
  return () => bodies[next++] ?? make();
}

/** One real request before measuring: 200, and (for the authorization servers) an ES256 JWT for the API. */
async function checkTokenResponse(label: string, url: string, authorization: string | null, expectJwt: boolean, body = BODY): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': FORM, ...(authorization !== null ? { authorization } : {}) },
    body,
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${label}: expected 200, got ${response.status}: ${text}`);
  if (!expectJwt) return;
  const { access_token: token } = JSON.parse(text) as { access_token?: string };
  const [header, payload] = (token ?? '').split('.').map((part) => {
    try {
      return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  });
  if (header?.['alg'] !== 'ES256' || payload?.['aud'] !== RESOURCE || payload['scope'] !== SCOPE) {
    throw new Error(`${label}: the access token is not an ES256 JWT for ${RESOURCE}: ${text}`);
  }
}

interface Measured {
  http: HttpResult;
  /** Server CPU (user + system) per request, in microseconds: what the other processes on the machine do not change much. */
  cpuPerRequest: number;
}

async function measureTokenEndpoint(label: string, server: ServerChild, url: string, authorization: string | null, nextBody?: () => string): Promise<Measured> {
  const headers = { 'content-type': FORM, ...(authorization !== null ? { authorization } : {}) };
  const options: autocannon.Options = nextBody === undefined
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
  await measureHttp(`${label} (warm-up)`, { ...options, duration: WARM_UP_SECONDS });
  const cpuBefore = await server.cpuTime();
  const http = await measureHttp(label, { ...options, duration: MEASURE_SECONDS });
  const cpu = (await server.cpuTime()) - cpuBefore;
  return { http, cpuPerRequest: cpu / Math.max(1, http.requestsPerSecond * MEASURE_SECONDS) };
}

function verdict(pass: boolean): string {
  return pass ? 'PASS' : 'FAIL';
}

/** Other work on the machine skews every figure: say how busy it was. */
function load(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ');
}

interface Target {
  name: 'tessera' | 'tessera-pkjwt' | 'tessera-metrics-off' | 'tessera-tracing' | 'oidc-provider' | 'plain';
  label: string;
  /** Starts the server child and returns what to load: URL, Authorization header, bodies. */
  start(profileArgs: string[]): Promise<{ server: ServerChild; isJwt: boolean } & Provisioned>;
}

const OIDC_CLIENT = { id: 'bench-client', secret: 'bench-client-secret-0123456789abcdefghijklmnop' };

const TARGET_LIST: Target[] = [
  {
    name: 'tessera',
    label: 'Tessera (ES256 JWT, client_secret_basic)',
    async start(profileArgs) {
      const server = await startServer('tessera', {}, profileArgs);
      const provisioned = await provisionTessera(server).catch(async (error: unknown) => {
        await server.stop();
        throw error;
      });
      return { server, ...provisioned, isJwt: true };
    },
  },
  {
    name: 'tessera-pkjwt',
    label: 'Tessera (ES256 JWT, private_key_jwt)',
    async start(profileArgs) {
      const server = await startServer('tessera', {}, profileArgs);
      const provisioned = await provisionTessera(server, 'private_key_jwt').catch(async (error: unknown) => {
        await server.stop();
        throw error;
      });
      return { server, ...provisioned, isJwt: true };
    },
  },
  {
    name: 'tessera-metrics-off',
    label: 'Tessera, metrics off (--no-metrics)',
    async start(profileArgs) {
      const server = await startServer('tessera', { BENCH_TESSERA_METRICS: 'off' }, profileArgs);
      const provisioned = await provisionTessera(server).catch(async (error: unknown) => {
        await server.stop();
        throw error;
      });
      return { server, ...provisioned, isJwt: true };
    },
  },
  {
    name: 'tessera-tracing',
    label: 'Tessera, OTLP tracing configured, no collector',
    async start(profileArgs) {
      // Spans are exported to a port nobody listens on: the cost of tracing plus failed exports.
      const server = await startServer('tessera', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}` }, profileArgs);
      const provisioned = await provisionTessera(server).catch(async (error: unknown) => {
        await server.stop();
        throw error;
      });
      return { server, ...provisioned, isJwt: true };
    },
  },
  {
    name: 'oidc-provider',
    label: 'node-oidc-provider 9 (same flow)',
    async start(profileArgs) {
      const server = await startServer('oidc-provider', { BENCH_CLIENT_ID: OIDC_CLIENT.id, BENCH_CLIENT_SECRET: OIDC_CLIENT.secret }, profileArgs);
      return { server, tokenUrl: `${server.url}/token`, authorization: basic(OIDC_CLIENT.id, OIDC_CLIENT.secret), isJwt: true };
    },
  },
  {
    name: 'plain',
    label: 'Fastify 5 plain POST route (ceiling)',
    async start(profileArgs) {
      const server = await startServer('plain-fastify', {}, profileArgs);
      return { server, tokenUrl: `${server.url}/token`, authorization: null, isJwt: false };
    },
  },
];

/**
 * Environment knobs, for working on the token endpoint:
 * BENCH_TOKEN_TARGETS=tessera[,tessera-pkjwt,tessera-metrics-off,tessera-tracing,oidc-provider,plain] measures only those
 *   (each ratio is printed when both of its sides ran; e.g. tessera,tessera-metrics-off,tessera-tracing for the observability costs);
 * BENCH_TOKEN_PROFILE=<dir> runs each measured child with `--cpu-prof` into <dir>.
 */
export async function run(): Promise<void> {
  console.log(`${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}`);
  console.log(`each target: ${WARM_UP_SECONDS} s warm-up, then autocannon 32 connections × ${MEASURE_SECONDS} s; POST ${BODY}`);
  console.log(`load average before: ${load()}`);
  const wanted = (process.env['BENCH_TOKEN_TARGETS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const profileDir = process.env['BENCH_TOKEN_PROFILE'];
  const profileArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const results = new Map<Target['name'], Measured>();

  for (const target of TARGET_LIST) {
    if (wanted.length > 0 && !wanted.includes(target.name)) continue;
    const { server, tokenUrl, authorization, isJwt, nextBody } = await target.start(profileArgs);
    try {
      await checkTokenResponse(target.label, tokenUrl, authorization, isJwt, nextBody?.());
      results.set(target.name, await measureTokenEndpoint(target.label, server, tokenUrl, authorization, nextBody));
    } finally {
      await server.stop();
    }
  }

  const rows = [...results.values()].map((m) => m.http);
  printHttpTable(rows);
  for (const [name, m] of results) console.log(`server CPU per request, ${name}: ${m.cpuPerRequest.toFixed(0)} µs`);
  console.log(`load average after: ${load()}`);
  const clean = rows.every((r) => r.non2xx === 0 && r.errors === 0);
  console.log(`every response 2xx: ${clean ? 'yes' : 'NO'} (${rows.map((r) => `${r.label}: ${r.non2xx} non-2xx, ${r.errors} errors`).join('; ')})`);
  if (profileDir) console.log(`CPU profiles written to ${profileDir} (profiling slows every target: no verdicts)`);
  const ours = results.get('tessera')?.http;
  const metricsOff = results.get('tessera-metrics-off')?.http;
  const tracing = results.get('tessera-tracing')?.http;
  if (!profileDir && ours !== undefined && metricsOff !== undefined) {
    const r = ours.requestsPerSecond / metricsOff.requestsPerSecond;
    console.log(`Tessera metrics on / off: ${ratio(ours.requestsPerSecond, metricsOff.requestsPerSecond, 3)} (target ≥ ${GOALS.metricsOnToOff}) ${verdict(clean && r >= GOALS.metricsOnToOff)}`);
  }
  if (!profileDir && ours !== undefined && tracing !== undefined) {
    const r = tracing.requestsPerSecond / ours.requestsPerSecond;
    console.log(`Tessera tracing configured (no collector) / off: ${ratio(tracing.requestsPerSecond, ours.requestsPerSecond, 3)} (target ≥ ${GOALS.tracingToOff}) ${verdict(clean && r >= GOALS.tracingToOff)}`);
  }
  const oidcProvider = results.get('oidc-provider')?.http;
  const ceiling = results.get('plain')?.http;
  if (profileDir || ours === undefined || oidcProvider === undefined || ceiling === undefined) return;

  const vsOidc = ours.requestsPerSecond / oidcProvider.requestsPerSecond;
  const vsCeiling = ours.requestsPerSecond / ceiling.requestsPerSecond;
  console.log(`Tessera / node-oidc-provider: ${ratio(ours.requestsPerSecond, oidcProvider.requestsPerSecond)} (target ≥ ${GOALS.ratioToOidcProvider}x) ${verdict(clean && vsOidc >= GOALS.ratioToOidcProvider)}`);
  console.log(`Tessera / plain Fastify route: ${ratio(ours.requestsPerSecond, ceiling.requestsPerSecond, 3)} (target ≥ ${GOALS.ratioToPlainRoute}x) ${verdict(clean && vsCeiling >= GOALS.ratioToPlainRoute)}`);
  console.log(`Tessera p99: ${ours.p99} ms (target < ${GOALS.p99Ms} ms) ${verdict(clean && ours.p99 < GOALS.p99Ms)}`);
  const cpu = (name: Target['name']) => results.get(name)?.cpuPerRequest ?? Number.NaN;
  console.log(
    `server CPU per request (less sensitive to a busy machine): node-oidc-provider / Tessera ${ratio(cpu('oidc-provider'), cpu('tessera'))},` +
      ` plain route / Tessera ${ratio(cpu('plain'), cpu('tessera'), 3)}`,
  );
  const pkjwt = results.get('tessera-pkjwt');
  if (pkjwt !== undefined) {
    console.log(
      `private_key_jwt / client_secret_basic: ${ratio(pkjwt.http.requestsPerSecond, ours.requestsPerSecond)} req/s,` +
        ` ${ratio(pkjwt.cpuPerRequest, cpu('tessera'))} server CPU per request (an assertion costs a signature check and a single-use jti write)`,
    );
  }
}
