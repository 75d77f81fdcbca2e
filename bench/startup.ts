/**
 * Start-up time (SPEC §1: ready in under 1 s): spawns the real `tessera serve` in the
 * default configuration (embedded store) and measures, from spawn, the time to the
 * first `GET /readyz` 200, for fresh starts (an empty data directory: migrations,
 * bootstrap, keys, admin.json) and restarts on the same data directory. Bare
 * `node -e 0` is measured in the same run, so the figures can be read against what
 * the machine needs to start Node.js at all (it varies with the load).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshBundle } from '@tessera/server/loader';
import { freePort } from './servers/common.js';

const BIN = fileURLToPath(new URL('../packages/cli/bin/tessera.js', import.meta.url));
const RUNS = 5;
const FRESH_GOAL_MS = 1000;
const RESTART_GOAL_MS = 500;

/** Environment without TESSERA_* and OTEL_* (the default configuration). */
function defaultEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('TESSERA_') && !key.startsWith('OTEL_')));
}

async function bareNode(): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
  return performance.now() - started;
}

async function timeToReady(dataDir: string, bundle = true): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const env = { ...defaultEnv(), ...(bundle ? {} : { TESSERA_SERVER_BUNDLE: 'off' }) };
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'], { stdio: 'ignore', env });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (performance.now() - started > 30_000) throw new Error('not ready after 30 s');
      if (child.exitCode !== null) throw new Error(`tessera serve exited with ${child.exitCode}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    await exited;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

export async function run(): Promise<void> {
  const dirs: string[] = [];
  const newDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-startup-'));
    dirs.push(dir);
    return dir;
  };
  try {
    const bundled = freshBundle() !== null;
    // Interleaved, so a burst of load elsewhere on the machine hits every variant alike.
    const bare: number[] = [];
    const fresh: number[] = [];
    const restart: number[] = [];
    const freshUnbundled: number[] = [];
    const restartUnbundled: number[] = [];
    const restarted = await newDir();
    await timeToReady(restarted);
    for (let i = 0; i < RUNS; i++) {
      bare.push(await bareNode());
      fresh.push(await timeToReady(await newDir()));
      restart.push(await timeToReady(restarted));
      if (bundled) {
        freshUnbundled.push(await timeToReady(await newDir(), false));
        restartUnbundled.push(await timeToReady(restarted, false));
      }
    }
    const node = median(bare);
    const variant = bundled ? 'bundled' : 'unbundled: no fresh dist/bundle, run node packages/server/scripts/bundle.mjs';
    const rows = [
      { start: 'bare node -e 0', median: node, goal: null },
      { start: `fresh start (empty data dir; ${variant})`, median: median(fresh), goal: FRESH_GOAL_MS },
      { start: `restart (same data dir; ${variant})`, median: median(restart), goal: RESTART_GOAL_MS },
      ...(bundled ? [
        { start: 'fresh start, TESSERA_SERVER_BUNDLE=off', median: median(freshUnbundled), goal: FRESH_GOAL_MS },
        { start: 'restart, TESSERA_SERVER_BUNDLE=off', median: median(restartUnbundled), goal: RESTART_GOAL_MS },
      ] : []),
    ];
    console.table(rows.map((row) => ({
      start: row.start,
      [`ms to /readyz (median of ${RUNS})`]: Math.round(row.median),
      'minus bare node': row.goal === null ? '' : Math.round(row.median - node),
      target: row.goal === null ? '' : `< ${row.goal} ms ${row.median < row.goal ? 'PASS' : 'FAIL'}`,
    })));
    console.log(`fresh ${Math.round(median(fresh))} ms, restart ${Math.round(median(restart))} ms, bare node ${Math.round(node)} ms (runs: fresh ${fresh.map(Math.round).join(' ')}; restart ${restart.map(Math.round).join(' ')})`);
  } finally {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  }
}
