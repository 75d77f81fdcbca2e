/**
 * `tessera serve --workers N` (SPEC §1, §8): N processes on one port and one data
 * directory. The primary prepares the store once (migrations, first-start bootstrap,
 * admin.json), then forks N workers with node:cluster; each worker is a full replica
 * that shares the listening socket. Worker 1 alone runs the tasks that must happen
 * once per data directory (key rotation, purges); every worker polls the store's
 * change feed, as replicas do. A worker that dies is forked again, with a growing
 * delay while it keeps dying young; SIGTERM drains every worker and exits 0.
 *
 * Registry changes: a worker that commits one tells the primary, which tells the other
 * workers to read the change feed now, so a tenant or client created through one worker
 * is known to its siblings within an IPC round trip rather than at their next poll
 * (the poll stays, for other hosts' replicas and a lost message).
 *
 * Metrics: a scrape that reaches any worker asks the primary, which collects every
 * worker's registry with prom-client's AggregatorRegistry (counters and histograms
 * summed, gauges as each declares) and answers with the host's numbers.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, type Registry } from 'prom-client';

/** Set by the primary in each worker's environment: which of the N it is (1-based). */
const WORKER_INDEX_ENV = 'TESSERA_WORKER_INDEX';
/** A worker that exits sooner than this after its start counts as crash-looping. */
const STABLE_AFTER_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 250;
const MAX_RESTART_DELAY_MS = 30_000;
/** How long a worker waits for the primary's aggregated metrics. */
const METRICS_TIMEOUT_MS = 5_000;

const METRICS_REQUEST = 'tessera:metrics';
const METRICS_REPLY = 'tessera:metrics-reply';
const CHANGES_COMMITTED = 'tessera:changes-committed';

interface MetricsRequest {
  type: typeof METRICS_REQUEST;
  id: string;
}

interface MetricsReply {
  type: typeof METRICS_REPLY;
  id: string;
  text?: string;
  error?: string;
}

/**
 * In a worker: hands `registry` to prom-client's cluster collection and returns a
 * function that fetches the host's aggregated metrics from the primary.
 */
export function hostMetrics(registry: Registry): () => Promise<string> {
  // Constructing one makes prom-client answer the primary's collection requests in this worker.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const waiting = new Map<string, { resolve(text: string): void; reject(error: Error): void }>();
  process.on('message', (message: unknown) => {
    const reply = message as Partial<MetricsReply> | null;
    if (reply?.type !== METRICS_REPLY || typeof reply.id !== 'string') return;
    const pending = waiting.get(reply.id);
    if (pending === undefined) return;
    waiting.delete(reply.id);
    if (typeof reply.text === 'string') pending.resolve(reply.text);
    else pending.reject(new Error(`the primary could not aggregate metrics: ${reply.error ?? 'unknown error'}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      if (process.send === undefined) return reject(new Error('not a cluster worker'));
      const id = randomUUID();
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the primary did not answer with the metrics in time'));
      }, METRICS_TIMEOUT_MS);
      timer.unref();
      waiting.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      process.send({ type: METRICS_REQUEST, id } satisfies MetricsRequest);
    });
}

/**
 * In a worker: each registry commit of this worker is announced to the others (through
 * the primary), and a sibling's announcement reads the change feed at once.
 */
export function shareCommits(store: { onCommit(listener: () => void): void }, feed: { poll(): Promise<void> }): void {
  store.onCommit(() => {
    if (cluster.worker?.isConnected() === true) process.send?.({ type: CHANGES_COMMITTED });
  });
  process.on('message', (message: unknown) => {
    if ((message as { type?: unknown } | null)?.type === CHANGES_COMMITTED) void feed.poll();
  });
}

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
  const aggregator = new AggregatorRegistry();

  return new Promise<number>((resolve, reject) => {
    const fork = (index: number) => {
      const startedAt = Date.now();
      const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
      byIndex.set(index, worker);
      worker.on('message', (message: unknown) => {
        if ((message as { type?: unknown } | null)?.type === CHANGES_COMMITTED) {
          for (const sibling of byIndex.values()) if (sibling !== worker && sibling.isConnected()) sibling.send({ type: CHANGES_COMMITTED });
          return;
        }
        const request = message as Partial<MetricsRequest> | null;
        if (request?.type !== METRICS_REQUEST || typeof request.id !== 'string') return;
        const id = request.id;
        const answer = (reply: Omit<MetricsReply, 'type' | 'id'>) => {
          if (worker.isConnected()) worker.send({ type: METRICS_REPLY, id, ...reply } satisfies MetricsReply);
        };
        aggregator.clusterMetrics().then(
          (text) => answer({ text }),
          (error: unknown) => answer({ error: error instanceof Error ? error.message : String(error) }),
        );
      });
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
