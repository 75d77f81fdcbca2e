import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import autocannon from 'autocannon';

export interface HttpResult {
  label: string;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** Server CPU (user + system) per request in microseconds, where the bench measured it. */
  cpuPerRequest?: number;
}

/** One autocannon run against 127.0.0.1: concurrency 32, 10 s unless overridden. */
export async function measureHttp(
  label: string,
  options: autocannon.Options,
): Promise<HttpResult> {
  const result = await autocannon({ connections: 32, duration: 10, ...options });
  return {
    label,
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export function printHttpTable(rows: HttpResult[]): void {
  console.table(
    rows.map((r) => ({
      target: r.label,
      'req/s': Math.round(r.requestsPerSecond),
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      ...(rows.some((row) => row.cpuPerRequest !== undefined) ? { 'server CPU µs/req': r.cpuPerRequest === undefined ? '' : Math.round(r.cpuPerRequest) } : {}),
      errors: r.errors,
      non2xx: r.non2xx,
    })),
  );
}

/** Runs fn repeatedly for `ms` milliseconds and returns operations per second. */
export async function opsPerSecond(fn: () => unknown | Promise<unknown>, ms = 2000): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(); // warm-up
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 100; i++) await fn();
    count += 100;
    elapsed = performance.now() - start;
  }
  return (count / elapsed) * 1000;
}

export function ratio(a: number, b: number, digits = 2): string {
  return `${(a / b).toFixed(digits)}x`;
}

/**
 * Pins every thread of this process (the load generator) to `cores` with taskset, as
 * the token section does (BENCH_LOAD_CORES, default core 1); false where taskset is
 * missing or the machine has one core.
 */
export function pinLoadGenerator(cores = process.env['BENCH_LOAD_CORES'] ?? '1'): boolean {
  try {
    if (availableParallelism() < 2) return false;
    execFileSync('taskset', ['-a', '-p', '-c', cores, String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
