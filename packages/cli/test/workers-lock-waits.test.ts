/**
 * `tessera serve --workers 2` on the embedded SQLite store under mixed writes: token
 * requests with client_secret_basic and with private_key_jwt (a fresh `jti` each, so
 * both workers write single-use rows), management writes (clients and grants created,
 * changed and deleted, secrets rotated, the signing keys of an ES256 and of an RS256
 * tenant rotated), and revocations and
 * introspections of JWT and opaque tokens, all at once for a bounded time.
 *
 * What it pins: no use of a store connection in either worker (a statement, or a
 * transaction) waits 100 ms or more for a lock, whether for its own process's
 * connection (a transaction of the same worker held across an `await`) or for the
 * database's write lock held by the other worker (the retries after SQLITE_BUSY), as
 * the workers measure it themselves: every wait is counted in
 * `tessera_store_lock_wait_seconds` (the host's /metrics), and one of 100 ms or more is
 * logged at warn with its length.
 *
 * What it does not pin: wall-clock latency. On a loaded two-core machine a lock holder
 * that the kernel takes off the CPU for 150 ms makes the other worker wait 150 ms, which
 * says nothing about Tessera's locking. So the test reads, from the kernel, how long the
 * workers were runnable but kept off the CPU (their run-queue wait), and a long wait
 * counts only with that time taken off (a wait of 180 ms during which the workers
 * waited 90 ms for a CPU is an excess of 90 ms: fine). The load is paced to leave the
 * two cores some room, and the latencies seen by the client and in the access log are
 * printed for the reader.
 */
import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { type ServerProcess, startServer, stopAllServers, waitFor } from './helpers/tessera-process.js';

/** How long the mixed load runs. */
const LOAD_MS = 12_000;
/** The bound on any one lock wait. */
const LOCK_WAIT_LIMIT_SECONDS = 0.1;
/** The rest between two rounds of each load loop. */
const PACE_MS = 5;
const FORM = 'application/x-www-form-urlencoded';
const JWT_API = 'https://orders.workers.example';
const OPAQUE_API = 'https://ledger.workers.example';

let dir: TempDir;
let server: ServerProcess;

beforeAll(async () => {
  dir = await makeTempDir('tessera-workers-locks-');
  // The access log (info) carries each request's server-side time and worker pid.
  server = await startServer({ dataDir: join(dir.path, 'data'), env: { TESSERA_WORKERS: '2', TESSERA_LOG_LEVEL: 'info' }, timeoutMs: 60_000 });
  await waitFor(async () => (server.output().includes('(2 workers, store: sqlite)') ? true : undefined), 60_000);
}, 90_000);

afterAll(async () => {
  await stopAllServers();
  await dir?.cleanup();
});

interface Sample {
  kind: string;
  id: string;
  status: number;
  /** Milliseconds from sending to the whole body read, seen by this process. */
  clientMs: number;
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** A request with its own X-Request-Id (the access log's reqId), timed and recorded. */
async function timed(samples: Sample[], kind: string, url: string, init: RequestInit & { headers?: Record<string, string> }): Promise<{ status: number; json: Record<string, unknown> }> {
  const id = randomUUID();
  const started = performance.now();
  const response = await fetch(url, { ...init, headers: { ...init.headers, 'x-request-id': id } });
  const text = await response.text();
  samples.push({ kind, id, status: response.status, clientMs: performance.now() - started });
  return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

function assertion(clientId: string, issuer: string, key: KeyObject): string {
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'k1', typ: 'JWT' })).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(JSON.stringify({ iss: clientId, sub: clientId, aud: issuer, iat: now, exp: now + 120, jti: randomUUID() })).toString('base64url');
  return `${header}.${payload}.${sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** `{le -> count}` of one histogram series in a Prometheus text exposition, summed over matching lines. */
function histogram(text: string, name: string): { buckets: Map<string, number>; count: number; sum: number } {
  const buckets = new Map<string, number>();
  let count = 0;
  let sum = 0;
  for (const line of text.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith(`${name}_bucket{`)) {
      const le = /le="([^"]+)"/.exec(line)?.[1] ?? '';
      buckets.set(le, (buckets.get(le) ?? 0) + value);
    } else if (line.startsWith(`${name}_count`)) count += value;
    else if (line.startsWith(`${name}_sum`)) sum += value;
  }
  return { buckets, count, sum };
}

/**
 * How long each worker's event-loop thread was runnable but kept off the CPU, from the
 * kernel's own account (`/proc/<pid>/schedstat`, run-queue wait), read every 5 ms.
 * `starvedWithin` sums, over the workers, that time inside a window of wall-clock time:
 * a lock holder starved for 150 ms makes its waiter wait 150 ms, and a waiter starved
 * wakes late. Without /proc (not Linux) it is always 0, and the bound applies as is.
 */
function watchRunQueueWaits(pids: number[]): { stop(): { starvedWithin(from: number, to: number): number; longest: number } } {
  const runDelayMs = (pid: number) => {
    try {
      return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
    } catch {
      return 0;
    }
  };
  const samples: { at: number; delays: number[] }[] = [];
  const sample = () => samples.push({ at: Date.now(), delays: pids.map(runDelayMs) });
  sample();
  const timer = setInterval(sample, 5);
  return {
    stop() {
      clearInterval(timer);
      sample();
      // The run-queue wait of each worker between the last sample before `from` and the first after `to`.
      const starvedWithin = (from: number, to: number) => {
        const before = [...samples].reverse().find((s) => s.at <= from) ?? samples[0];
        const after = samples.find((s) => s.at >= to) ?? samples[samples.length - 1];
        if (before === undefined || after === undefined) return 0;
        return pids.reduce((sum, _pid, i) => sum + ((after.delays[i] ?? 0) - (before.delays[i] ?? 0)), 0);
      };
      let longest = 0;
      for (let i = 1; i < samples.length; i++) longest = Math.max(longest, starvedWithin((samples[i - 1] as { at: number }).at, (samples[i] as { at: number }).at));
      return { starvedWithin, longest };
    },
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

describe('tessera serve --workers 2 under mixed writes (SQLite)', () => {
  it('no store statement waits 100 ms or more for a lock, in either worker', async () => {
    const admin = JSON.parse(await readFile(server.adminFile, 'utf8')) as { clientId: string; clientSecret: string; tokenEndpoint: string; managementApi: string };
    const issuer = `${server.url}/t/default`;
    const tokenUrl = `${issuer}/token`;
    const adminToken = async () => {
      const response = await fetch(admin.tokenEndpoint, {
        method: 'POST',
        headers: { authorization: basic(admin.clientId, admin.clientSecret), 'content-type': FORM },
        body: 'grant_type=client_credentials&audience=urn%3Atessera%3Amanagement&scope=manage%3Awrite',
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { access_token: string }).access_token;
    };
    const bearer = `Bearer ${await adminToken()}`;
    const manageUrl = `${admin.managementApi}/tenants/default`;
    // Management requests on a new connection each: the primary hands connections to
    // the workers in turn, so both workers write the registry.
    const manage = (samples: Sample[], kind: string, method: string, path: string, body?: unknown) =>
      timed(samples, kind, `${manageUrl}/${path}`, {
        method,
        headers: { authorization: bearer, connection: 'close', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });

    const setup: Sample[] = [];
    const rsaTenant = await timed(setup, 'setup', `${admin.managementApi}/tenants`, { method: 'POST', headers: { authorization: bearer, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'rsa', signingAlg: 'RS256' }) });
    const basicClient = (await manage(setup, 'setup', 'POST', 'clients', { name: 'mixed basic' })).json;
    const introspector = (await manage(setup, 'setup', 'POST', 'clients', { name: 'mixed introspector' })).json;
    await manage(setup, 'setup', 'POST', 'apis', { identifier: JWT_API, scopes: [{ value: 'read' }] });
    await manage(setup, 'setup', 'POST', 'apis', { identifier: OPAQUE_API, scopes: [{ value: 'read' }], tokenFormat: 'opaque', introspectors: [introspector['clientId']] });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
    const pkjwtClient = (await manage(setup, 'setup', 'POST', 'clients', { name: 'mixed private_key_jwt', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] } })).json;
    for (const client of [basicClient, pkjwtClient]) {
      for (const audience of [JWT_API, OPAQUE_API]) await manage(setup, 'setup', 'POST', 'grants', { clientId: client['clientId'], audience, scopes: ['read'] });
    }
    expect(setup.map((s) => s.status)).toEqual(Array(10).fill(201));
    expect(rsaTenant.json['signingAlg']).toBe('RS256');
    const basicAuth = basic(String(basicClient['clientId']), String(basicClient['clientSecret']));
    const introspectorAuth = basic(String(introspector['clientId']), String(introspector['clientSecret']));
    const pkjwtId = String(pkjwtClient['clientId']);
    // Every worker learns the new clients (the change feed) before the load starts.
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const samples: Sample[] = [];
    const unexpected: string[] = [];
    const expectStatus = (kind: string, status: number, wanted: number[]) => {
      if (!wanted.includes(status)) unexpected.push(`${kind}: ${status}`);
    };
    const deadline = Date.now() + LOAD_MS;
    // Paced: each loop rests between rounds, so the two workers keep some CPU to spare.
    const until = async (loop: () => Promise<void>) => {
      while (Date.now() < deadline) {
        await loop();
        await new Promise((resolve) => setTimeout(resolve, PACE_MS));
      }
    };
    const basicTokens = (audience: string) =>
      until(async () => {
        const { status } = await timed(samples, 'token client_secret_basic', tokenUrl, {
          method: 'POST',
          headers: { authorization: basicAuth, 'content-type': FORM },
          body: new URLSearchParams({ grant_type: 'client_credentials', resource: audience }).toString(),
        });
        expectStatus('token client_secret_basic', status, [200]);
      });
    const pkjwtTokens = (audience: string) =>
      until(async () => {
        const body = new URLSearchParams({
          grant_type: 'client_credentials',
          resource: audience,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion(pkjwtId, issuer, privateKey),
        });
        // A new connection each: single-use rows written by both workers.
        const { status } = await timed(samples, 'token private_key_jwt', tokenUrl, { method: 'POST', headers: { 'content-type': FORM, connection: 'close' }, body: body.toString() });
        expectStatus('token private_key_jwt', status, [200]);
      });
    const managementWrites = () =>
      until(async () => {
        const created = await manage(samples, 'manage', 'POST', 'clients', { name: 'churn' });
        expectStatus('create client', created.status, [201]);
        const id = String(created.json['clientId']);
        expectStatus('patch client', (await manage(samples, 'manage', 'PATCH', `clients/${id}`, { name: 'churned' })).status, [200]);
        const grant = await manage(samples, 'manage', 'POST', 'grants', { clientId: id, audience: JWT_API, scopes: ['read'] });
        expectStatus('create grant', grant.status, [201]);
        expectStatus('patch grant', (await manage(samples, 'manage', 'PATCH', `grants/${String(grant.json['id'])}`, { scopes: ['read'], customClaims: { tier: 'gold' } })).status, [200]);
        // Secret rotation: a second secret, then the first one deleted.
        const clientView = await manage(samples, 'manage', 'GET', `clients/${id}`);
        const [first] = clientView.json['secrets'] as { id: string }[];
        expectStatus('add secret', (await manage(samples, 'manage', 'POST', `clients/${id}/secrets`, {})).status, [201]);
        expectStatus('delete secret', (await manage(samples, 'manage', 'DELETE', `clients/${id}/secrets/${String(first?.id)}`)).status, [204]);
        expectStatus('delete grant', (await manage(samples, 'manage', 'DELETE', `grants/${String(grant.json['id'])}`)).status, [204]);
        expectStatus('delete client', (await manage(samples, 'manage', 'DELETE', `clients/${id}`)).status, [204]);
      });
    // Rotations of an ES256 and of an RS256 tenant: an RSA key takes tens of milliseconds to generate.
    const rotate = (tenant: string) =>
      timed(samples, 'manage', `${admin.managementApi}/tenants/${tenant}/keys/rotate`, { method: 'POST', headers: { authorization: bearer, connection: 'close', 'content-type': 'application/json' }, body: '{}' });
    const keyRotations = () =>
      until(async () => {
        expectStatus('rotate key', (await rotate('default')).status, [200]);
        expectStatus('rotate RSA key', (await rotate('rsa')).status, [200]);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      });
    const revocations = (audience: string) =>
      until(async () => {
        const issued = await timed(samples, 'token client_secret_basic', tokenUrl, {
          method: 'POST',
          headers: { authorization: basicAuth, 'content-type': FORM, connection: 'close' },
          body: new URLSearchParams({ grant_type: 'client_credentials', resource: audience }).toString(),
        });
        expectStatus('token for revocation', issued.status, [200]);
        const token = String(issued.json['access_token']);
        const introspect = async (auth: string) =>
          timed(samples, 'introspect', `${issuer}/introspect`, { method: 'POST', headers: { authorization: auth, 'content-type': FORM, connection: 'close' }, body: new URLSearchParams({ token }).toString() });
        const before = await introspect(audience === OPAQUE_API ? introspectorAuth : basicAuth);
        expectStatus('introspect', before.status, [200]);
        if (before.json['active'] !== true) unexpected.push(`introspect before revocation: ${JSON.stringify(before.json)}`);
        const revoked = await timed(samples, 'revoke', `${issuer}/revoke`, { method: 'POST', headers: { authorization: basicAuth, 'content-type': FORM, connection: 'close' }, body: new URLSearchParams({ token }).toString() });
        expectStatus('revoke', revoked.status, [200]);
        const after = await introspect(basicAuth);
        if (after.json['active'] !== false) unexpected.push(`introspect after revocation: ${JSON.stringify(after.json)}`);
      });
    const metricsBefore = await (await fetch(`${server.url}/metrics`)).text();
    const workerPids = readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    expect(workerPids).toHaveLength(2);
    const runQueue = watchRunQueueWaits(workerPids);
    const loadStarted = Date.now();
    await Promise.all([
      basicTokens(JWT_API),
      basicTokens(OPAQUE_API),
      pkjwtTokens(JWT_API),
      pkjwtTokens(JWT_API),
      pkjwtTokens(OPAQUE_API),
      managementWrites(),
      managementWrites(),
      keyRotations(),
      revocations(JWT_API),
      revocations(OPAQUE_API),
    ]);
    const starvation = runQueue.stop();
    const metricsAfter = await (await fetch(`${server.url}/metrics`)).text();

    // The server's view of each request: its access log line (server-side time, worker).
    // The workers write their log lines asynchronously: wait until every request's is there.
    const loggedIds = () => new Set([...server.stdout().matchAll(/"reqId":"([^"]+)"/g)].map((match) => match[1]));
    await waitFor(async () => {
      const ids = loggedIds();
      return samples.every((sample) => ids.has(sample.id)) ? true : undefined;
    }, 10_000, 200);
    const logged = new Map<string, { ms: number; pid: number }>();
    // The long lock waits, each with the workers' run-queue wait while it lasted.
    const longWaits: { pid: number; connection: string; ms: number; starved: number }[] = [];
    const loadEnded = Date.now();
    for (const line of server.stdout().split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { msg?: string; reqId?: string; ms?: number; pid?: number; time?: number; connection?: string };
      if (entry.msg === 'request' && entry.reqId !== undefined) logged.set(entry.reqId, { ms: entry.ms ?? 0, pid: entry.pid ?? 0 });
      if (entry.msg === 'a store connection waited long for a lock') {
        const ms = entry.ms ?? 0;
        const end = entry.time ?? 0;
        if (end >= loadStarted && end <= loadEnded) longWaits.push({ pid: entry.pid ?? 0, connection: entry.connection ?? '', ms, starved: Math.round(starvation.starvedWithin(end - ms - 1, end + 1)) });
      }
    }
    const kinds = new Map<string, { client: number[]; server: number[]; pids: Set<number> }>();
    for (const sample of samples) {
      const entry = kinds.get(sample.kind) ?? { client: [], server: [], pids: new Set<number>() };
      kinds.set(sample.kind, entry);
      entry.client.push(sample.clientMs);
      const seen = logged.get(sample.id);
      if (seen !== undefined) {
        entry.server.push(seen.ms);
        entry.pids.add(seen.pid);
      }
    }
    const waits = histogram(metricsAfter, 'tessera_store_lock_wait_seconds');
    const waitsBefore = histogram(metricsBefore, 'tessera_store_lock_wait_seconds');
    console.log(
      [
        `${samples.length} requests in ${LOAD_MS / 1000} s`,
        ...[...kinds].map(([kind, { client, server: onServer, pids }]) =>
          `${kind}: ${client.length} requests, workers ${pids.size}; client ms p50 ${percentile(client, 50).toFixed(1)} p99 ${percentile(client, 99).toFixed(1)} max ${Math.max(...client).toFixed(1)}; server ms p50 ${percentile(onServer, 50).toFixed(1)} p99 ${percentile(onServer, 99).toFixed(1)} max ${Math.max(...onServer).toFixed(1)}`),
        `lock waits: ${waits.count - waitsBefore.count} connection uses, ${((waits.sum - waitsBefore.sum) * 1000).toFixed(1)} ms in all; buckets ${JSON.stringify(Object.fromEntries(waits.buckets))}`,
        `long lock waits (ms, and the workers' run-queue wait meanwhile): ${JSON.stringify(longWaits)}; the workers' longest run-queue wait between two samples (5 ms apart when this process gets the CPU): ${starvation.longest.toFixed(1)} ms; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      ].join('\n'),
    );

    expect(unexpected).toEqual([]);
    // The load was what it claims to be: writes from both workers, in every kind.
    for (const kind of ['token private_key_jwt', 'manage', 'revoke']) expect(kinds.get(kind)?.pids.size, kind).toBe(2);
    expect(logged.size).toBeGreaterThanOrEqual(samples.length);
    // Every use of a connection is counted; none waited 100 ms or more for a lock beyond
    // the time the machine kept runnable processes off the CPU meanwhile.
    expect(waits.count).toBeGreaterThan(waitsBefore.count);
    const longer = (h: ReturnType<typeof histogram>) => h.count - (h.buckets.get(String(LOCK_WAIT_LIMIT_SECONDS)) ?? 0);
    expect(longWaits.length).toBe(longer(waits) - longer(waitsBefore));
    expect(longWaits.filter((wait) => wait.ms - wait.starved >= LOCK_WAIT_LIMIT_SECONDS * 1000)).toEqual([]);
  }, 60_000);
});
