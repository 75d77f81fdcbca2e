/**
 * Start-up time (SPEC §1: ready in under 1 s): spawns the real `tessera serve` and
 * measures the time to the first `GET /readyz` 200, for a first start (bootstrap:
 * keys, admin client, console user) and for restarts on the same data directory.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './servers/common.js';

const BIN = fileURLToPath(new URL('../packages/cli/bin/tessera.js', import.meta.url));
const RESTARTS = 5;
const GOAL_MS = 1000;

async function timeToReady(dataDir: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (performance.now() - started > 30_000) throw new Error('not ready after 30 s');
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

export async function run(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-startup-'));
  try {
    const first = await timeToReady(dataDir);
    const restarts: number[] = [];
    for (let i = 0; i < RESTARTS; i++) restarts.push(await timeToReady(dataDir));
    restarts.sort((a, b) => a - b);
    const median = restarts[Math.floor(restarts.length / 2)] ?? Number.NaN;
    console.table([
      { start: 'first (bootstrap)', 'ms to /readyz': Math.round(first) },
      { start: `restart (median of ${RESTARTS})`, 'ms to /readyz': Math.round(median) },
    ]);
    console.log(`restart ready in ${Math.round(median)} ms (target < ${GOAL_MS} ms) ${median < GOAL_MS ? 'PASS' : 'FAIL'}`);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
