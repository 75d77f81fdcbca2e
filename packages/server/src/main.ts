/**
 * `tessera serve`: flags and environment -> config -> store -> app -> listen;
 * bootstrap on first start; graceful shutdown on SIGTERM. Nothing else.
 */
import cluster from 'node:cluster';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildApp } from './app.js';
import { listenUrlOf, printBanner, printJsonBanner } from './banner.js';
import { type ConfigInput, resolveConfig, type ServerConfig } from './config/config.js';
import { defaults } from './config/defaults.js';
import type { ServeInput } from './config/serve-options.js';
import { dataDirError, listenError, StartError, storeError } from './config/start-errors.js';
import { MASTER_KEY_FILE, MasterKey } from './crypto/master-key.js';
import { ADMIN_FILE_NAME, adminFileContent } from './data-dir/admin-file.js';
import { removeStaleTempFiles, writeFileAtomic } from './data-dir/atomic-file.js';
import { lockDataDir } from './data-dir/lock.js';
import { claimPublicUrl, PublicUrlMismatchError } from './domain/public-url.js';
import { createLogger } from './observability/logger.js';
import { listenMetrics } from './observability/metrics-listener.js';
import { createStore } from './store/index.js';
import { openStateStore } from './store/state/index.js';

export { parseServeArgs, parseWorkers, SERVE_OPTIONS, SERVE_USAGE, type ServeInput } from './config/serve-options.js';

export interface RunningServer {
  config: ServerConfig;
  url: string;
  adminFile: string;
  bootstrapped: boolean;
  /** Where /metrics is served when `--metrics-port` is set; null otherwise. */
  metricsUrl: string | null;
  /** The process's one logger (pino JSON lines on standard output). */
  logger: import('pino').Logger;
  close(): Promise<void>;
}

export interface ServeOptions {
  /**
   * Take the embedded data directory's lock (data-dir/lock.ts). Default: yes, except in
   * a node:cluster worker, whose primary (the process that runs `serve`) holds it.
   */
  dataDirLock?: boolean;
  /** The start banner as text for people (default), or as one JSON line on stdout (`serve --json`). */
  banner?: 'text' | 'json';
  /**
   * `false` in the primary of `serve --workers N` (cluster.ts): it prepares the store
   * (migrations, bootstrap, admin.json) and closes it again; its workers listen.
   */
  listen?: boolean;
  /** Which worker of `serve --workers N` this process is (1-based). */
  worker?: number;
}

/**
 * Starts the server. The order matters for a newcomer's first start: everything that
 * can fail for a reason the user must fix (data directory in use, database missing,
 * port busy) fails before anything is bootstrapped, and the bootstrap is complete only
 * once admin.json is on disk (domain/bootstrap.ts), written with the URL this start
 * actually listens on.
 */
export async function serve(input: ConfigInput, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`), options: ServeOptions = {}): Promise<RunningServer> {
  const config = resolveConfig(input);
  // One log format on standard output: pino JSON lines (observability/logger.ts).
  // The start banner is for people and goes to standard error (see printBanner).
  const logger = createLogger(config.logLevel, undefined, { sync: config.logSync });
  const cleanup: (() => Promise<unknown>)[] = [];
  /** Undoes what was set up, last first; safe to call twice. */
  const unwind = async () => {
    for (let step = cleanup.pop(); step !== undefined; step = cleanup.pop()) await step().catch(() => {});
  };
  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 }).catch((error: unknown) => Promise.reject(dataDirError(error, config)));
    if (config.databaseUrl === null && (options.dataDirLock ?? !cluster.isWorker)) {
      const lock = await lockDataDir(config.dataDir).catch((error: unknown) => Promise.reject(dataDirError(error, config)));
      cleanup.push(() => lock.release());
    }
    // After the lock: what a killed start left, never what a running one is writing.
    await removeStaleTempFiles(config.dataDir, [ADMIN_FILE_NAME, MASTER_KEY_FILE]);
    // The store before the master key: a database that does not exist is reported
    // before anything is written into the data directory.
    const store = await createStore({ dataDir: config.dataDir, ...(config.databaseUrl !== null ? { databaseUrl: config.databaseUrl } : {}) })
      .catch((error: unknown) => Promise.reject(storeError(error, config)));
    const closeStore = () => store.close();
    cleanup.push(closeStore);
    if (config.masterKey === null && config.databaseUrl !== null) {
      log('warning: TESSERA_MASTER_KEY is not set; using a key generated into the data directory. Every replica must share one master key: set TESSERA_MASTER_KEY.');
    }
    const masterKey = config.masterKey !== null ? MasterKey.fromBase64(config.masterKey) : await MasterKey.loadOrCreate(config.dataDir);
    const https = config.tls === null ? null : {
      cert: config.tls.cert,
      key: config.tls.key,
      ...(config.tls.clientCa !== null ? { ca: config.tls.clientCa } : {}),
      requestCert: true,
      rejectUnauthorized: false,
    };
    const state = config.stateUrl !== null ? await openStateStore(config.stateUrl) : undefined;
    if (state !== undefined) cleanup.push(() => state.close());
    const app = await buildApp({ config, store, ...(state !== undefined ? { state } : {}), masterKey, https, logger, startingUp: true, ...(options.worker !== undefined ? { worker: options.worker } : {}) });
    const closeApp = () => app.close();
    cleanup.push(closeApp);
    // Listen first: a busy port fails here, before the bootstrap writes anything.
    // Until markStarted() every request is answered 503 "starting".
    if (options.listen !== false) {
      await app.listen({ port: config.port, host: config.host }).catch((error: unknown) => Promise.reject(listenError(error, config)));
    }
    const adminFile = join(config.dataDir, ADMIN_FILE_NAME);
    const result = await app.tessera.bootstrap((created) => writeFileAtomic(adminFile, adminFileContent(config, created)));
    await app.tessera.keys.checkMasterKey(defaults.management.adminTenant);
    // One public URL per deployment (domain/public-url.ts): a replica with another one stops here.
    const { followed } = await claimPublicUrl(store, { url: config.publicUrl, configured: config.publicUrlConfigured, shared: config.databaseUrl !== null })
      .catch((error: unknown) => Promise.reject(error instanceof PublicUrlMismatchError ? new StartError(error.message, { cause: error }) : error));
    if (followed !== null) log(`note: the public URL was ${followed}; it follows --host and --port (${config.publicUrl}) until --public-url sets one.`);
    if (options.listen === false) {
      // The primary of a cluster: the store is ready; only the data directory's lock stays held.
      await app.close();
      await store.close();
      cleanup.splice(0, cleanup.length, ...cleanup.filter((step) => step !== closeApp && step !== closeStore));
      return { config, url: config.publicUrl, adminFile, bootstrapped: result !== null, metricsUrl: null, logger, close: unwind };
    }
    const bound = app.server.address();
    const listenUrl = listenUrlOf(config, typeof bound === 'object' && bound !== null ? bound.port : config.port);
    const banner = { config, storeKind: store.kind, adminFile, bootstrapped: result !== null, listenUrl };
    // The log is buffered (observability/logger.ts): the start-up's lines go out before the banner.
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    if (options.banner === 'json') printJsonBanner(banner);
    else await printBanner(log, banner);
    const metrics = app.tessera.metrics;
    const metricsListener = metrics !== null && config.metrics.port !== null ? await listenMetrics(metrics, config.host, config.metrics.port) : null;
    if (metricsListener !== null) cleanup.push(() => metricsListener.close());
    const metricsUrl = metricsListener?.url ?? null;
    if (metricsUrl !== null) log(`Metrics on ${metricsUrl}`);
    cleanup.push(async () => logger.flush());
    // `--workers N`: a sibling's registry commit reads the feed at once (cluster.ts).
    if (options.worker !== undefined) (await import('./cluster.js')).shareCommits(store, app.tessera.changeFeed);
    app.tessera.markStarted();
    // Key rotation and purges run once per data directory: in worker 1 of `--workers N`.
    app.tessera.startBackgroundTasks({ singletons: options.worker === undefined || options.worker === 1 });
    return {
      config,
      url: config.publicUrl,
      adminFile,
      bootstrapped: result !== null,
      metricsUrl,
      logger,
      close: unwind,
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}


/**
 * Runs `serve` until SIGTERM/SIGINT, then drains in-flight requests and exits 0. Under
 * `npm start`, npm is the process people see and kill: when it goes away without
 * passing the signal on, the server notices that its parent changed and stops as if
 * it had received SIGTERM, instead of listening on as an orphan.
 */
export async function runUntilSignal(input: ServeInput, options: ServeOptions = {}): Promise<void> {
  // Read before the (possibly slow) first start: if npm dies meanwhile, we are reparented.
  const parent = process.ppid;
  const underNpm = process.env['npm_lifecycle_event'] !== undefined;
  const { workers = 1, ...configInput } = input;
  // node:cluster's primary/worker split (cluster.ts) is loaded only where it is used.
  // A worker runs with the primary's arguments and environment, so it sees `workers` > 1 too.
  const clustered = workers > 1 ? await import('./cluster.js') : null;
  const worker = clustered?.clusterWorkerIndex() ?? null;
  if (clustered !== null && worker === null) {
    const log = (line: string) => process.stderr.write(`${line}\n`);
    let prepared: RunningServer | null = null;
    try {
      const code = await clustered.runClusterPrimary({
        workers,
        log,
        shutdownGrace: resolveConfig(configInput).http.shutdownGrace,
        prepare: async () => {
          prepared = await serve(configInput, log, { ...options, listen: false });
        },
        onListening: () => {
          const ready = prepared;
          if (ready === null) return;
          log(`Tessera listening on ${ready.url} (${workers} workers, store: ${ready.config.databaseUrl !== null ? 'postgres' : 'sqlite'})`);
          void printBanner(log, { config: ready.config, storeKind: ready.config.databaseUrl !== null ? 'postgres' : 'sqlite', adminFile: ready.adminFile, bootstrapped: ready.bootstrapped, listenUrl: listenUrlOf(ready.config) });
        },
      });
      if (code !== 0) throw new Error('workers still running after the shutdown grace period were killed');
    } finally {
      // The data directory's lock, held for the whole life of the cluster.
      await (prepared as RunningServer | null)?.close();
    }
    return;
  }
  // A worker says nothing of its own start: the primary reports each worker and the address once.
  const server = await serve(configInput, worker === null ? undefined : () => {}, worker === null ? options : { ...options, worker });
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (reason: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(parentWatch);
      // In a worker, the primary has said it for all of them.
      if (worker === null) process.stderr.write(`${reason}: finishing in-flight requests, then exiting\n`);
      const force = setTimeout(() => process.exit(1), server.config.http.shutdownGrace);
      force.unref();
      server.close().then(resolve, (error: unknown) => {
        process.stderr.write(`shutdown: ${String(error)}\n`);
        resolve();
      });
    };
    const npmGone = () => underNpm && !isAlive(parent);
    const parentWatch = setInterval(() => {
      if (npmGone()) stop('npm exited');
    }, 500);
    parentWatch.unref();
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGHUP', () => stop('SIGHUP'));
    if (npmGone()) stop('npm exited');
  });
  clustered?.leaveCluster();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
