/**
 * `tessera serve`: flags and environment -> config -> store -> app -> listen;
 * bootstrap on first start; graceful shutdown on SIGTERM. Nothing else.
 */
import cluster from 'node:cluster';
import { mkdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { type ConfigInput, resolveConfig, type ServerConfig } from './config/config.js';
import { defaults } from './config/defaults.js';
import { dataDirError, listenError, storeError } from './config/start-errors.js';
import { MASTER_KEY_FILE, MasterKey } from './crypto/master-key.js';
import { removeStaleTempFiles, writeFileAtomic } from './data-dir/atomic-file.js';
import { lockDataDir } from './data-dir/lock.js';
import type { BootstrapResult } from './domain/bootstrap.js';
import { createStore } from './store/index.js';

export const SERVE_USAGE = `Usage: tessera serve [options]

  --port <n>            TESSERA_PORT          (default ${defaults.port})
  --host <addr>         TESSERA_HOST          (default ${defaults.host})
  --data-dir <path>     TESSERA_DATA_DIR      (default ${defaults.dataDir})
  --database-url <url>  TESSERA_DATABASE_URL  (postgres://...; default: embedded SQLite in the data dir)
  --public-url <url>    TESSERA_PUBLIC_URL    (default http://<host>:<port>)
  --log-level <level>   TESSERA_LOG_LEVEL     (fatal|error|warn|info|debug|silent; default info)
  --tls-cert <file>     TESSERA_TLS_CERT      serve HTTPS with this certificate (PEM)
  --tls-key <file>      TESSERA_TLS_KEY       and this key (PEM)
  --tls-client-ca <file> TESSERA_TLS_CLIENT_CA request client certificates (RFC 8705), trusting this CA
  --trusted-proxy <ip>  TESSERA_TRUSTED_PROXIES  (comma-separated) accept X-Client-Cert from these proxies
  --mtls-public-url <url> TESSERA_MTLS_PUBLIC_URL  https base URL where clients present certificates, if not the public URL
  --rate-limit <n>      TESSERA_RATE_LIMIT    token requests per client per minute (default 0: unlimited)
  --secret-methods <m>  TESSERA_SECRET_METHODS  registered (default): a client authenticates with the secret
                        method it was registered for; either: client_secret_basic and _post both work
  --json                                      the start banner as one JSON line on stdout
  TESSERA_MASTER_KEY    base64 of 32 random bytes that encrypt signing keys at rest

Standard output carries JSON log lines; the start banner and other messages for people go
to standard error. Stop with Ctrl+C or SIGTERM: requests in flight finish, then it exits 0.
One serve per data directory (embedded store): a second one is refused.
`;

export interface RunningServer {
  config: ServerConfig;
  url: string;
  adminFile: string;
  bootstrapped: boolean;
  close(): Promise<void>;
}

/** The flags of `tessera serve` (the CLI also uses the names for "did you mean"). */
export const SERVE_OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  'public-url': { type: 'string' },
  'log-level': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
  'trusted-proxy': { type: 'string', multiple: true },
  'rate-limit': { type: 'string' },
  'mtls-public-url': { type: 'string' },
  'secret-methods': { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies NonNullable<Parameters<typeof parseArgs>[0]>['options'];

export async function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<ConfigInput & { tlsFiles?: { cert: string; key: string; clientCa: string | null } }> {
  const { values } = parseArgs({ args: argv, options: SERVE_OPTIONS, strict: true });
  const pick = (flag: string | undefined, name: string) => flag ?? (env[name] !== undefined && env[name] !== '' ? env[name] : undefined);
  const port = pick(values.port, 'TESSERA_PORT');
  if (port !== undefined && !/^\d+$/.test(port)) throw new Error(`--port must be a number, got ${JSON.stringify(port)}`);
  const logLevel = pick(values['log-level'], 'TESSERA_LOG_LEVEL');
  if (logLevel !== undefined && !['fatal', 'error', 'warn', 'info', 'debug', 'silent'].includes(logLevel)) {
    throw new Error('--log-level must be one of fatal, error, warn, info, debug, silent');
  }
  const certFile = pick(values['tls-cert'], 'TESSERA_TLS_CERT');
  const keyFile = pick(values['tls-key'], 'TESSERA_TLS_KEY');
  const caFile = pick(values['tls-client-ca'], 'TESSERA_TLS_CLIENT_CA');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Error('--tls-cert and --tls-key go together');
  const rateLimit = pick(values['rate-limit'], 'TESSERA_RATE_LIMIT');
  if (rateLimit !== undefined && !/^\d+$/.test(rateLimit)) throw new Error(`--rate-limit must be a whole number, got ${JSON.stringify(rateLimit)}`);
  const secretMethods = pick(values['secret-methods'], 'TESSERA_SECRET_METHODS');
  if (secretMethods !== undefined && secretMethods !== 'registered' && secretMethods !== 'either') {
    throw new Error(`--secret-methods must be registered or either, got ${JSON.stringify(secretMethods)}`);
  }
  const proxies = values['trusted-proxy'] ?? (env['TESSERA_TRUSTED_PROXIES'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const input: ConfigInput = {
    ...(port !== undefined ? { port: Number(port) } : {}),
    ...(pick(values.host, 'TESSERA_HOST') !== undefined ? { host: pick(values.host, 'TESSERA_HOST') as string } : {}),
    ...(pick(values['data-dir'], 'TESSERA_DATA_DIR') !== undefined ? { dataDir: pick(values['data-dir'], 'TESSERA_DATA_DIR') as string } : {}),
    ...(pick(values['database-url'], 'TESSERA_DATABASE_URL') !== undefined ? { databaseUrl: pick(values['database-url'], 'TESSERA_DATABASE_URL') as string } : {}),
    ...(pick(values['public-url'], 'TESSERA_PUBLIC_URL') !== undefined ? { publicUrl: pick(values['public-url'], 'TESSERA_PUBLIC_URL') as string } : {}),
    ...(logLevel !== undefined ? { logLevel: logLevel as ServerConfig['logLevel'] } : {}),
    ...(pick(values['mtls-public-url'], 'TESSERA_MTLS_PUBLIC_URL') !== undefined ? { mtlsPublicUrl: pick(values['mtls-public-url'], 'TESSERA_MTLS_PUBLIC_URL') as string } : {}),
    ...(env['TESSERA_MASTER_KEY'] ? { masterKey: env['TESSERA_MASTER_KEY'] } : {}),
    trustedProxies: proxies,
    ...(rateLimit !== undefined ? { rateLimit: { tokenRequestsPerWindow: Number(rateLimit), windowSeconds: 60 } } : {}),
    ...(secretMethods !== undefined ? { clientAuth: { secretMethods } } : {}),
  };
  // Every other setting is checked now, so a bad flag is reported before anything starts.
  resolveConfig(input);
  if (certFile !== undefined && keyFile !== undefined) {
    input.tls = {
      cert: await readFile(certFile, 'utf8'),
      key: await readFile(keyFile, 'utf8'),
      clientCa: caFile !== undefined ? await readFile(caFile, 'utf8') : null,
    };
  }
  return input;
}

export interface ServeOptions {
  /**
   * Take the embedded data directory's lock (data-dir/lock.ts). Default: yes, except in
   * a node:cluster worker, whose primary (the process that runs `serve`) holds it.
   */
  dataDirLock?: boolean;
  /** The start banner as text for people (default), or as one JSON line on stdout (`serve --json`). */
  banner?: 'text' | 'json';
}

/**
 * Starts the server. The order matters for a newcomer's first start: everything that
 * can fail for a reason the user must fix (data directory in use, database missing,
 * port busy) fails before anything is bootstrapped, and the bootstrap is complete only
 * once admin.json is on disk (domain/bootstrap.ts), written with the URL this start
 * actually listens on.
 */
export async function serve(input: ConfigInput, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`), options: ServeOptions = {}): Promise<RunningServer> {
  const config = resolveConfig({ ...input, ...(input.publicUrl === undefined && input.tls ? { publicUrl: `https://${input.host ?? defaults.host}:${input.port ?? defaults.port}` } : {}) });
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
    cleanup.push(() => store.close());
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
    const app = await buildApp({ config, store, masterKey, https, startingUp: true });
    cleanup.push(() => app.close());
    // Listen first: a busy port fails here, before the bootstrap writes anything.
    // Until markStarted() every request is answered 503 "starting".
    await app.listen({ port: config.port, host: config.host }).catch((error: unknown) => Promise.reject(listenError(error, config)));
    const adminFile = join(config.dataDir, ADMIN_FILE_NAME);
    const result = await app.tessera.bootstrap((created) => writeFileAtomic(adminFile, adminFileContent(config, created)));
    await app.tessera.keys.checkMasterKey(defaults.management.adminTenant);
    if (options.banner === 'json') {
      const { url, issuer, managementApi, consoleUrl } = { url: config.publicUrl, issuer: `${config.publicUrl}/t/default`, managementApi: `${config.publicUrl}/manage/v1`, consoleUrl: `${config.publicUrl}/console` };
      process.stdout.write(`${JSON.stringify({ msg: 'tessera started', url, issuer, managementApi, consoleUrl, adminFile, bootstrapped: result !== null, store: store.kind, pid: process.pid })}\n`);
    } else {
      await printBanner(log, config, store.kind, adminFile, result !== null);
    }
    app.tessera.markStarted();
    app.tessera.startBackgroundTasks();
    return {
      config,
      url: config.publicUrl,
      adminFile,
      bootstrapped: result !== null,
      close: unwind,
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

const ADMIN_FILE_NAME = 'admin.json';

function adminFileContent(config: ServerConfig, result: BootstrapResult): string {
  const issuer = `${config.publicUrl}/t/${defaults.management.adminTenant}`;
  const admin = {
    url: config.publicUrl,
    issuer,
    tokenEndpoint: `${issuer}/token`,
    clientId: result.adminClientId,
    clientSecret: result.adminClientSecret,
    audience: defaults.management.audience,
    managementApi: `${config.publicUrl}/manage/v1`,
    consoleUrl: `${config.publicUrl}/console`,
    consoleUser: result.consoleUser,
    consolePassword: result.consolePassword,
  };
  return `${JSON.stringify(admin, null, 2)}\n`;
}

/** What a person starting the server needs next: where it is, where the credentials are, what to try. */
async function printBanner(log: (line: string) => void, config: ServerConfig, storeKind: string, adminFile: string, bootstrapped: boolean): Promise<void> {
  const url = config.publicUrl;
  const shown = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.');
  const store = storeKind === 'sqlite' ? `embedded store in ${shown(config.dataDir)}` : `PostgreSQL ${redactUrl(config.databaseUrl ?? '')}`;
  const lines = [`Tessera is listening on ${url} (${store})`, ''];
  lines.push(`  issuer of tenant "default"  ${url}/t/default`);
  lines.push(`  management API              ${url}/manage/v1`);
  let written: { url?: unknown } | null = null;
  try {
    written = JSON.parse(await readFile(adminFile, 'utf8')) as { url?: unknown };
  } catch {
    written = null;
  }
  if (written !== null) {
    lines.push(`  console                     ${url}/console  (user and password: consoleUser and consolePassword in the admin file)`);
    lines.push(`  admin credentials           ${shown(adminFile)}${bootstrapped ? '  (first start: written now, mode 0600)' : ''}`);
  } else {
    lines.push(`  console                     ${url}/console`);
    lines.push('  admin credentials           in admin.json of the replica that bootstrapped this store');
  }
  if (written !== null && typeof written.url === 'string' && written.url !== url) {
    lines.push('', `note: ${shown(adminFile)} names ${written.url} (the first start's URL); the CLI uses it unless you pass --url ${url} or set TESSERA_URL=${url}`);
  }
  const cli = 'npx tessera';
  const flags = written !== null && (written.url !== url || shown(adminFile) !== shown(resolve(defaults.dataDir, ADMIN_FILE_NAME)))
    ? ` --url ${url} --admin ${shown(adminFile)}`
    : '';
  lines.push('', `Next, in another terminal:  ${cli} demo${flags}`);
  lines.push(`Stop: Ctrl+C, or kill ${process.pid} (SIGTERM: finishes requests in flight, then exits).`);
  log(lines.join('\n'));
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'database';
  }
}

/**
 * Runs `serve` until SIGTERM/SIGINT, then drains in-flight requests and exits 0. Under
 * `npm start`, npm is the process people see and kill: when it goes away without
 * passing the signal on, the server notices that its parent changed and stops as if
 * it had received SIGTERM, instead of listening on as an orphan.
 */
export async function runUntilSignal(input: ConfigInput, options: ServeOptions = {}): Promise<void> {
  // Read before the (possibly slow) first start: if npm dies meanwhile, we are reparented.
  const parent = process.ppid;
  const underNpm = process.env['npm_lifecycle_event'] !== undefined;
  const server = await serve(input, undefined, options);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (reason: string) => {
      if (stopping) return;
      stopping = true;
      clearInterval(parentWatch);
      process.stderr.write(`${reason}: finishing in-flight requests, then exiting\n`);
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
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
