/**
 * `tessera serve --workers N` (SPEC §1, §8): N processes on one port and one data
 * directory. The primary prepares the store once (migrations, first-start bootstrap,
 * admin.json), then forks N workers with node:cluster; each worker is a full replica
 * that shares the listening socket. Worker 1 alone runs the tasks that must happen
 * once per data directory (key rotation, purges); every worker polls the store's
 * change feed, as replicas do. A worker that dies is forked again, with a growing
 * delay while it keeps dying young; SIGTERM drains every worker and exits 0.
 */
import cluster, { type Worker } from 'node:cluster';

/** Set by the primary in each worker's environment: which of the N it is (1-based). */
const WORKER_INDEX_ENV = 'TESSERA_WORKER_INDEX';
/** A worker that exits sooner than this after its start counts as crash-looping. */
const STABLE_AFTER_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 250;
const MAX_RESTART_DELAY_MS = 30_000;

/** 1..N inside a worker of `serve --workers N`; null in a process that serves alone, or in the primary. */
export function clusterWorkerIndex(): number | null {
  if (!cluster.isWorker) return null;
  const index = Number(process.env[WORKER_INDEX_ENV]);
  return Number.isInteger(index) && index >= 1 ? index : null;
}

/**
 * A worker that has drained lets go of the primary: its IPC channel would keep the
 * process alive, and the primary waits for every worker to exit.
 */
export function leaveCluster(): void {
  if (cluster.isWorker && cluster.worker?.isConnected()) cluster.worker.disconnect();
}

export interface ClusterPrimaryOptions {
  workers: number;
  /** Runs once before any worker starts: migrations, bootstrap, admin.json. */
  prepare(): Promise<void>;
  /** Once every worker listens. */
  onListening(): void;
  log(line: string): void;
  /** How long workers get to finish in-flight requests after SIGTERM (ms). */
  shutdownGrace: number;
}

/**
 * The primary: prepares, forks, restarts, and on SIGTERM/SIGINT drains. Resolves
 * with the exit code once every worker has stopped; rejects if a worker dies before
 * it ever listened (a start-up error, such as a port in use, would only repeat).
 */
export async function runClusterPrimary(options: ClusterPrimaryOptions): Promise<number> {
  const { workers, log } = options;
  await options.prepare();

  const byIndex = new Map<number, Worker>();
  const failures = new Map<number, number>();
  const restartTimers = new Set<NodeJS.Timeout>();
  let listening = 0;
  let started = false;
  let stopping = false;

  return new Promise<number>((resolve, reject) => {
    const fork = (index: number) => {
      const startedAt = Date.now();
      const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
      byIndex.set(index, worker);
      worker.once('listening', () => {
        log(`worker ${index} (pid ${worker.process.pid}) serving`);
        if (started) return;
        listening += 1;
        if (listening === workers) {
          started = true;
          options.onListening();
        }
      });
      worker.once('exit', (code, signal) => {
        if (byIndex.get(index) === worker) byIndex.delete(index);
        const how = signal !== null ? `signal ${signal}` : `code ${String(code)}`;
        if (stopping) {
          if (byIndex.size === 0) resolve(0);
          return;
        }
        if (!started) {
          log(`worker ${index} exited (${how}) before it was serving; stopping`);
          stop();
          reject(new Error(`worker ${index} could not start (${how}); see the lines above`));
          return;
        }
        const youngFailures = Date.now() - startedAt < STABLE_AFTER_MS ? (failures.get(index) ?? 0) + 1 : 0;
        failures.set(index, youngFailures);
        const delay = youngFailures === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** (youngFailures - 1));
        log(`worker ${index} (pid ${worker.process.pid}) exited (${how}); starting it again${delay > 0 ? ` in ${delay} ms` : ''}`);
        const timer = setTimeout(() => {
          restartTimers.delete(timer);
          if (!stopping) fork(index);
        }, delay);
        restartTimers.add(timer);
      });
    };

    const stop = () => {
      if (stopping) return;
      stopping = true;
      for (const timer of restartTimers) clearTimeout(timer);
      if (byIndex.size === 0) return resolve(0);
      for (const worker of byIndex.values()) worker.process.kill('SIGTERM');
      const force = setTimeout(() => {
        for (const worker of byIndex.values()) worker.process.kill('SIGKILL');
        resolve(1);
      }, options.shutdownGrace + 1000);
      force.unref();
    };
    const onSignal = (signal: string) => () => {
      log(`${signal}: finishing in-flight requests in ${byIndex.size} workers`);
      stop();
    };
    process.once('SIGTERM', onSignal('SIGTERM'));
    process.once('SIGINT', onSignal('SIGINT'));

    for (let index = 1; index <= workers; index++) fork(index);
  });
}
