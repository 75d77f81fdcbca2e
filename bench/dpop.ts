/**
 * DPoP at the token endpoint (docs/dpop.md): what a proof costs a token request.
 *
 * - tessera: client_credentials, client_secret_basic, ES256 (the token section's flow);
 * - tessera-dpop: the same with a fresh DPoP proof (ES256, its own jti) per request: one
 *   more ES256 verify and one single-use write per token;
 * - floor, in this process: the two extra steps alone, the proof check of the JOSE core
 *   (`checkDpopProof`: one ES256 verify plus the claim checks) and the single-use write
 *   of the embedded store (`useAssertionJti`), in operations per second.
 *
 * Target: tessera-dpop / tessera ≥ 0.5 in requests per second. The two Tessera runs
 * alternate (plain, DPoP, plain, DPoP) so drift in the machine's load hits both. Proofs
 * are signed by the load generator before each measurement. Knobs: BENCH_DPOP_SECONDS
 * (per measurement, default 10).
 */
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type autocannon from 'autocannon';
import { createStore } from '@tessera/server';
import { checkDpopProof, jwkThumbprint, SUPPORTED_ALGORITHMS } from '@tessera/verifier/core';
import { checkTokenResponse, loadOptions, type Measured, measureTokenEndpoint, provisionTessera, startServer } from './token-endpoint.js';
import { opsPerSecond, printHttpTable, ratio } from './util.js';

const GOAL = 0.5;
const SECONDS = Number(process.env['BENCH_DPOP_SECONDS'] ?? '') > 0 ? Number(process.env['BENCH_DPOP_SECONDS']) : 10;

/** Makes fresh proofs for `htu`: an ES256 key of the load generator, a new jti each. */
function prover(htu: string): () => string {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk })).toString('base64url');
  return () => {
    const payload = Buffer.from(JSON.stringify({ htm: 'POST', htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID() })).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return `${header}.${payload}.${signature}`;
  };
}

/**
 * Proofs signed before the measurement, so the load generator spends its time sending,
 * not signing (as the token section does for client assertions). They are used well
 * within the 60 s a proof is accepted; a run faster than expected signs the rest on the fly.
 */
function signedProofs(tokenUrl: string, count: number): () => string {
  const make = prover(tokenUrl);
  const proofs = Array.from({ length: count }, make);
  let next = 0;
  return () => proofs[next++] ?? make();
}

function withProofs(options: autocannon.Options, tokenUrl: string): autocannon.Options {
  const nextProof = signedProofs(tokenUrl, Math.min(120_000, Math.ceil((SECONDS + Math.min(2, SECONDS)) * 6000)));
  const { url, method, headers, body } = options as { url: string; method: 'POST'; headers: Record<string, string>; body: string };
  return {
    url,
    requests: [{
      method,
      path: new URL(url).pathname,
      headers,
      body,
      setupRequest: (request: autocannon.Request) => ({ ...request, headers: { ...request.headers, dpop: nextProof() } }),
    }],
  };
}

async function tokenEndpoint(): Promise<{ plain: number; dpop: number }> {
  const runs: { dpop: boolean; measured: Measured }[] = [];
  for (const dpop of [false, true, false, true]) {
    const server = await startServer('tessera');
    try {
      const { tokenUrl, authorization } = await provisionTessera(server);
      await checkTokenResponse('tessera', tokenUrl, authorization, 'ES256');
      const options = loadOptions(tokenUrl, authorization);
      const label = dpop ? 'Tessera + DPoP proof (ES256, fresh jti each)' : 'Tessera (client_secret_basic, ES256 JWT)';
      const measured = await measureTokenEndpoint(label, server, dpop ? withProofs(options, tokenUrl) : options, undefined, { warmUp: Math.min(2, SECONDS), measure: SECONDS });
      runs.push({ dpop, measured });
    } finally {
      await server.stop();
    }
  }
  printHttpTable(runs.map((r) => ({ ...r.measured.http, cpuPerRequest: r.measured.cpuPerRequest })));
  const clean = runs.every((r) => r.measured.http.non2xx === 0 && r.measured.http.errors === 0);
  console.log(`every response 2xx: ${clean ? 'yes' : 'NO (a refused proof would show here)'}`);
  const mean = (dpop: boolean) => {
    const of = runs.filter((r) => r.dpop === dpop).map((r) => r.measured.http.requestsPerSecond);
    return of.reduce((a, b) => a + b, 0) / of.length;
  };
  const cpu = (dpop: boolean) => {
    const of = runs.filter((r) => r.dpop === dpop).map((r) => r.measured.cpuPerRequest);
    return of.reduce((a, b) => a + b, 0) / of.length;
  };
  console.log(`server CPU per token: ${(cpu(false)).toFixed(0)} µs without, ${(cpu(true)).toFixed(0)} µs with a proof`);
  return { plain: mean(false), dpop: mean(true) };
}

/** The floor: the two extra steps on their own, in this process. */
async function floor(): Promise<{ check: number; write: number }> {
  const htu = 'http://127.0.0.1:8080/t/default/token';
  const proofs = Array.from({ length: 4000 }, prover(htu));
  const algorithms = new Set<string>(SUPPORTED_ALGORITHMS);
  let i = 0;
  const check = await opsPerSecond(() => checkDpopProof(proofs[i++ % proofs.length] as string, { method: 'POST', urls: [htu], now: Date.now(), maxAge: 60, clockTolerance: 5, algorithms }), 1000);
  const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-dpop-'));
  const store = await createStore({ dataDir: dir });
  try {
    const jkt = jwkThumbprint(JSON.parse(Buffer.from((proofs[0] as string).split('.')[0] as string, 'base64url').toString()).jwk as Record<string, unknown>);
    const expiresAt = Date.now() + 120_000;
    const write = await opsPerSecond(() => store.state().useOnce('#dpop:' + jkt, 'default', randomUUID(), expiresAt), 1000);
    return { check, write };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const { check, write } = await floor();
  console.log(`floor (this process): proof check ${check.toFixed(0)}/s (${(1e6 / check).toFixed(0)} µs), single-use write (embedded store) ${write.toFixed(0)}/s (${(1e6 / write).toFixed(0)} µs)`);
  const { plain, dpop } = await tokenEndpoint();
  // What the extra steps alone would leave of the plain rate, if nothing else changed.
  const bound = 1 / (1 / plain + 1 / check + 1 / write);
  console.log(`with / without DPoP, req/s: ${ratio(dpop, plain)} (target ≥ ${GOAL}) ${dpop / plain >= GOAL ? 'PASS' : 'FAIL'}; the floor's extra cost alone would give ${ratio(bound, plain)}`);
}
