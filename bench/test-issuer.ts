/**
 * `npm run bench -- test-issuer`: what `startTestIssuer()` (@tessera/testing) costs a
 * service's test suite, which may start one per test file or per test.
 *
 * - in process: start and stop, five times after one warm-up start (modules loaded,
 *   the in-memory schema image made), wall time and CPU time of the process, and
 *   the mean CPU time of thirty more (steadier than wall time on a busy machine);
 * - first in a new process: `node -e` importing the built package and starting one
 *   issuer (what a test file that starts its own issuer pays once), against bare
 *   `node -e 0` in the same run.
 */
import { spawn } from 'node:child_process';
import { startTestIssuer } from '../packages/testing/src/index.js';

const RUNS = 5;
const CPU_RUNS = 30;
/** The goal for a started issuer in a warm process: a suite can start one per file. */
const WARM_GOAL_MS = 100;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function timeNode(args: string[]): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(' ')} exited ${String(code)}`))));
  });
  return performance.now() - started;
}

const COLD_SCRIPT = "const { startTestIssuer } = await import('@tessera/testing'); const issuer = await startTestIssuer(); await issuer.stop();";

export async function run(): Promise<void> {
  await (await startTestIssuer()).stop();
  const start: number[] = [];
  const cpu: number[] = [];
  const stop: number[] = [];
  const firstInProcess: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const issuer = await startTestIssuer();
    start.push(performance.now() - started);
    const used = process.cpuUsage(cpuBefore);
    cpu.push((used.user + used.system) / 1000);
    const stopping = performance.now();
    await issuer.stop();
    stop.push(performance.now() - stopping);
    // Interleaved, so a burst of load elsewhere on the machine hits both alike.
    bare.push(await timeNode(['-e', '0']));
    firstInProcess.push(await timeNode(['--input-type=module', '-e', COLD_SCRIPT]));
  }
  // CPU is steadier than wall time on a busy machine: the mean over many starts and stops.
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < CPU_RUNS; i++) await (await startTestIssuer()).stop();
  const used = process.cpuUsage(cpuBefore);
  const cpuPerStart = (used.user + used.system) / 1000 / CPU_RUNS;
  const round = (values: number[]) => values.map((v) => Math.round(v)).join(' ');
  console.table([
    { measure: `startTestIssuer() in a warm process, wall (median of ${RUNS})`, ms: Math.round(median(start)), runs: round(start), target: `< ${WARM_GOAL_MS} ms ${median(start) < WARM_GOAL_MS ? 'PASS' : 'FAIL'}` },
    { measure: 'same starts, process CPU', ms: Math.round(median(cpu)), runs: round(cpu), target: '' },
    { measure: `start + stop, process CPU (mean of ${CPU_RUNS})`, ms: Math.round(cpuPerStart * 10) / 10, runs: '', target: '' },
    { measure: 'stop()', ms: Math.round(median(stop)), runs: round(stop), target: '' },
    { measure: 'new process: import @tessera/testing + start + stop', ms: Math.round(median(firstInProcess)), runs: round(firstInProcess), target: '' },
    { measure: 'bare node -e 0', ms: Math.round(median(bare)), runs: round(bare), target: '' },
  ]);
}
