/**
 * `tessera serve`: flags and environment -> config -> store -> app -> listen;
 * bootstrap on first start; graceful shutdown on SIGTERM. Nothing else.
 */
import cluster from 'node:cluster';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { type ConfigInput, isSecretMethodPolicy, resolveConfig, type ServerConfig } from './config/config.js';
import { defaults } from './config/defaults.js';
import { dataDirError, listenError, storeError } from './config/start-errors.js';
import { MASTER_KEY_FILE, MasterKey } from './crypto/master-key.js';
import { removeStaleTempFiles, writeFileAtomic } from './data-dir/atomic-file.js';
import { lockDataDir } from './data-dir/lock.js';
import type { BootstrapResult } from './domain/bootstrap.js';
import { createLogger } from './observability/logger.js';
import type { Metrics } from './observability/metrics.js';
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
  --metrics-port <n>    TESSERA_METRICS_PORT  serve /metrics on this port (same host) instead of the main one
  --no-metrics          TESSERA_METRICS=off   no /metrics at all
  --access-log-sample <f> TESSERA_ACCESS_LOG_SAMPLE  fraction of requests in the info access log (default 1)
  Protection (docs/protection.md); counters are shared by every replica and worker:
  --rate-limit <n>      TESSERA_RATE_LIMIT    quota: token requests per client per minute (default 0: none)
  --tenant-quota <n|tenant=n,...> TESSERA_TENANT_QUOTA  quota: token requests per tenant per minute (default 0: none)
  --quota-mode <mode>   TESSERA_QUOTA_MODE    enforce (429) or monitor (count in metrics only); default enforce
  --auth-backoff <spec> TESSERA_AUTH_BACKOFF  failed client authentications per minute before 429:
                        source=100,client-source=10,client=100 (the default); 0 for a limit turns it off
  --management-rate-limit <n> TESSERA_MANAGEMENT_RATE_LIMIT  management API requests per address per minute (default 0: none)
  OTEL_EXPORTER_OTLP_ENDPOINT  export OpenTelemetry traces over OTLP/HTTP (docs/observability.md)
  --outbound-allow <list> TESSERA_OUTBOUND_ALLOW  hosts or CIDR ranges (comma-separated) that key-set and
                        discovery fetches may reach although loopback or private, and over http
  --secret-methods <m>  TESSERA_SECRET_METHODS  either (default): client_secret_basic and _post both work;
                        registered: a client authenticates with the secret method it was registered for
  --json                                      the start banner as one JSON line on stdout
  --usage <on|off>      TESSERA_USAGE         count tokens issued and refused (default on; docs/usage.md)
  --usage-flush-interval <s>  TESSERA_USAGE_FLUSH_INTERVAL  seconds between writes of usage counts, 1 to 300 (default ${defaults.usage.flushInterval / 1000}); a crash loses at most this much
  --usage-retention <m,h,d>   TESSERA_USAGE_RETENTION  days to keep minute, hour and day counts (default ${[defaults.usage.retention.minutes, defaults.usage.retention.hours, defaults.usage.retention.days].map((ms) => ms / 86_400_000).join(',')})
  --workers <n|auto>    TESSERA_WORKERS       worker processes sharing the port (default 1; auto: one per CPU)
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
  /** Where /metrics is served when `--metrics-port` is set; null otherwise. */
  metricsUrl: string | null;
  /** The process's one logger (pino JSON lines on standard output). */
  logger: import('pino').Logger;
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
  'metrics-port': { type: 'string' },
  'no-metrics': { type: 'boolean' },
  'access-log-sample': { type: 'string' },
  'tenant-quota': { type: 'string' },
  'quota-mode': { type: 'string' },
  'auth-backoff': { type: 'string' },
  'management-rate-limit': { type: 'string' },
  'outbound-allow': { type: 'string', multiple: true },
  'secret-methods': { type: 'string' },
  usage: { type: 'string' },
  'usage-flush-interval': { type: 'string' },
  'usage-retention': { type: 'string' },
  workers: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** `--workers`/`TESSERA_WORKERS`: a positive whole number, or `auto` (one per CPU the process may use). */
export function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  if (!/^[1-9]\d{0,3}$/.test(value)) throw new Error(`--workers must be a whole number from 1 to 9999 or "auto", got ${JSON.stringify(value)}`);
  return Number(value);
}

/** What `serve` is started with: the configuration, and how many processes run it. */
export type ServeInput = ConfigInput & { workers?: number };

export async function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<ServeInput> {
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
  const outboundAllow = (values['outbound-allow'] ?? [env['TESSERA_OUTBOUND_ALLOW'] ?? ''])
    .flatMap((list) => list.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const secretMethods = pick(values['secret-methods'], 'TESSERA_SECRET_METHODS');
  if (secretMethods !== undefined && !isSecretMethodPolicy(secretMethods)) {
    throw new Error(`--secret-methods must be registered or either, got ${JSON.stringify(secretMethods)}`);
  }
  const usage = usageInput(pick(values.usage, 'TESSERA_USAGE'), pick(values['usage-flush-interval'], 'TESSERA_USAGE_FLUSH_INTERVAL'), pick(values['usage-retention'], 'TESSERA_USAGE_RETENTION'));
  const wholeNumber = (flag: string, value: string | undefined) => {
    if (value !== undefined && !/^\d+$/.test(value)) throw new Error(`--${flag} must be a whole number, got ${JSON.stringify(value)}`);
    return value === undefined ? undefined : Number(value);
  };
  const metricsPort = wholeNumber('metrics-port', pick(values['metrics-port'], 'TESSERA_METRICS_PORT'));
  const metricsOff = values['no-metrics'] === true || ['off', 'false', '0'].includes((env['TESSERA_METRICS'] ?? '').toLowerCase());
  const sample = pick(values['access-log-sample'], 'TESSERA_ACCESS_LOG_SAMPLE');
  if (sample !== undefined && !(/^(0|1|0?\.\d+|1\.0*)$/.test(sample))) throw new Error(`--access-log-sample must be a number from 0 to 1, got ${JSON.stringify(sample)}`);
  const quotaMode = pick(values['quota-mode'], 'TESSERA_QUOTA_MODE');
  if (quotaMode !== undefined && quotaMode !== 'enforce' && quotaMode !== 'monitor') throw new Error('--quota-mode must be enforce or monitor');
  const tenantQuota = parseTenantQuota(pick(values['tenant-quota'], 'TESSERA_TENANT_QUOTA'));
  const authFailures = parseAuthBackoff(pick(values['auth-backoff'], 'TESSERA_AUTH_BACKOFF'));
  const managementLimit = wholeNumber('management-rate-limit', pick(values['management-rate-limit'], 'TESSERA_MANAGEMENT_RATE_LIMIT'));
  const workers = pick(values.workers, 'TESSERA_WORKERS');
  const proxies = values['trusted-proxy'] ?? (env['TESSERA_TRUSTED_PROXIES'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const input: ServeInput = {
    ...(workers !== undefined ? { workers: parseWorkers(workers) } : {}),
    ...(port !== undefined ? { port: Number(port) } : {}),
    ...(pick(values.host, 'TESSERA_HOST') !== undefined ? { host: pick(values.host, 'TESSERA_HOST') as string } : {}),
    ...(pick(values['data-dir'], 'TESSERA_DATA_DIR') !== undefined ? { dataDir: pick(values['data-dir'], 'TESSERA_DATA_DIR') as string } : {}),
    ...(pick(values['database-url'], 'TESSERA_DATABASE_URL') !== undefined ? { databaseUrl: pick(values['database-url'], 'TESSERA_DATABASE_URL') as string } : {}),
    ...(pick(values['public-url'], 'TESSERA_PUBLIC_URL') !== undefined ? { publicUrl: pick(values['public-url'], 'TESSERA_PUBLIC_URL') as string } : {}),
    ...(logLevel !== undefined ? { logLevel: logLevel as ServerConfig['logLevel'] } : {}),
    ...(pick(values['mtls-public-url'], 'TESSERA_MTLS_PUBLIC_URL') !== undefined ? { mtlsPublicUrl: pick(values['mtls-public-url'], 'TESSERA_MTLS_PUBLIC_URL') as string } : {}),
    ...(env['TESSERA_MASTER_KEY'] ? { masterKey: env['TESSERA_MASTER_KEY'] } : {}),
    trustedProxies: proxies,
    outboundAllow,
    rateLimit: {
      ...(rateLimit !== undefined ? { tokenRequestsPerWindow: Number(rateLimit) } : {}),
      ...tenantQuota,
      ...(quotaMode !== undefined ? { mode: quotaMode } : {}),
      ...(authFailures !== undefined ? { authFailures } : {}),
      ...(managementLimit !== undefined ? { managementRequestsPerWindow: managementLimit } : {}),
    },
    metrics: { enabled: !metricsOff, ...(metricsPort !== undefined ? { port: metricsPort } : {}) },
    ...(sample !== undefined ? { accessLog: { sampleRate: Number(sample) } } : {}),
    ...(secretMethods !== undefined ? { clientAuth: { secretMethods } } : {}),
    ...(usage !== undefined ? { usage } : {}),
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

/** `--tenant-quota 600` (every tenant) or `--tenant-quota acme=600,beta=100` (those tenants). */
function parseTenantQuota(value: string | undefined): { tenantRequestsPerWindow?: number; tenantQuotas?: Record<string, number> } {
  if (value === undefined) return {};
  if (/^\d+$/.test(value)) return { tenantRequestsPerWindow: Number(value) };
  const tenantQuotas: Record<string, number> = {};
  for (const part of value.split(',')) {
    const match = /^\s*([a-z0-9][a-z0-9-]{0,62})=(\d+)\s*$/.exec(part);
    if (match === null) throw new Error(`--tenant-quota must be a number or tenant=number pairs, got ${JSON.stringify(value)}`);
    tenantQuotas[match[1] as string] = Number(match[2]);
  }
  return { tenantQuotas };
}

/** `--auth-backoff source=30,client-source=10,client=100` (any subset), or `0` to turn the back-off off. */
function parseAuthBackoff(value: string | undefined): Partial<ServerConfig['rateLimit']['authFailures']> | undefined {
  if (value === undefined) return undefined;
  if (value === '0' || value === 'off') return { perSource: 0, perClientAndSource: 0, perClient: 0 };
  const names = { source: 'perSource', 'client-source': 'perClientAndSource', client: 'perClient' } as const;
  const result: Partial<ServerConfig['rateLimit']['authFailures']> = {};
  for (const part of value.split(',')) {
    const match = /^\s*(source|client-source|client)=(\d+)\s*$/.exec(part);
    if (match === null) throw new Error(`--auth-backoff must look like source=30,client-source=10,client=100 (or 0), got ${JSON.stringify(value)}`);
    result[names[match[1] as keyof typeof names]] = Number(match[2]);
  }
  return result;
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
  const config = serverConfigOf(input);
  // One log format on standard output: pino JSON lines (observability/logger.ts).
  // The start banner is for people and goes to standard error (see printBanner).
  const logger = createLogger(config.logLevel);
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
    const app = await buildApp({ config, store, masterKey, https, logger, startingUp: true, ...(options.worker !== undefined ? { worker: options.worker } : {}) });
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
    if (options.listen === false) {
      // The primary of a cluster: the store is ready; only the data directory's lock stays held.
      await app.close();
      await store.close();
      cleanup.splice(0, cleanup.length, ...cleanup.filter((step) => step !== closeApp && step !== closeStore));
      return { config, url: config.publicUrl, adminFile, bootstrapped: result !== null, metricsUrl: null, logger, close: unwind };
    }
    if (options.banner === 'json') {
      const { url, issuer, managementApi, consoleUrl } = { url: config.publicUrl, issuer: `${config.publicUrl}/t/default`, managementApi: `${config.publicUrl}/manage/v1`, consoleUrl: `${config.publicUrl}/console` };
      process.stdout.write(`${JSON.stringify({ msg: 'tessera started', url, issuer, managementApi, consoleUrl, adminFile, bootstrapped: result !== null, store: store.kind, pid: process.pid })}\n`);
    } else {
      await printBanner(log, config, store.kind, adminFile, result !== null);
    }
    const metrics = app.tessera.metrics;
    const metricsServer = metrics !== null && config.metrics.port !== null ? await listenMetrics(metrics, config.host, config.metrics.port) : null;
    if (metricsServer !== null) cleanup.push(() => new Promise<void>((resolve) => metricsServer.close(() => resolve())));
    const metricsUrl = metricsServer === null ? null : `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${(metricsServer.address() as { port: number }).port}/metrics`;
    if (metricsUrl !== null) log(`Metrics on ${metricsUrl}`);
    cleanup.push(async () => logger.flush());
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

const ADMIN_FILE_NAME = 'admin.json';

/** The configuration; a TLS listener without a public URL names itself https. */
function serverConfigOf(input: ConfigInput): ServerConfig {
  return resolveConfig({ ...input, ...(input.publicUrl === undefined && input.tls ? { publicUrl: `https://${input.host ?? defaults.host}:${input.port ?? defaults.port}` } : {}) });
}

/** `--usage`, `--usage-flush-interval` (seconds) and `--usage-retention` (days: minutes,hours,days). */
function usageInput(enabled: string | undefined, flushSeconds: string | undefined, retentionDays: string | undefined): ConfigInput['usage'] {
  if (enabled === undefined && flushSeconds === undefined && retentionDays === undefined) return undefined;
  if (enabled !== undefined && enabled !== 'on' && enabled !== 'off') throw new Error(`--usage must be on or off, got ${JSON.stringify(enabled)}`);
  if (flushSeconds !== undefined && !/^\d+$/.test(flushSeconds)) throw new Error(`--usage-flush-interval must be whole seconds, got ${JSON.stringify(flushSeconds)}`);
  let retention: { minutes: number; hours: number; days: number } | undefined;
  if (retentionDays !== undefined) {
    const days = retentionDays.split(',').map((d) => d.trim());
    if (days.length !== 3 || days.some((d) => !/^\d+(\.\d+)?$/.test(d))) {
      throw new Error(`--usage-retention must be three numbers of days (minutes,hours,days), got ${JSON.stringify(retentionDays)}`);
    }
    const [minutes, hours, kept] = days.map((d) => Math.round(Number(d) * 86_400_000)) as [number, number, number];
    retention = { minutes, hours, days: kept };
  }
  return {
    ...(enabled !== undefined ? { enabled: enabled === 'on' } : {}),
    ...(flushSeconds !== undefined ? { flushInterval: Number(flushSeconds) * 1000 } : {}),
    ...(retention !== undefined ? { retention } : {}),
  };
}


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
        shutdownGrace: serverConfigOf(configInput).http.shutdownGrace,
        prepare: async () => {
          prepared = await serve(configInput, log, { ...options, listen: false });
        },
        onListening: () => {
          const ready = prepared;
          if (ready === null) return;
          log(`Tessera listening on ${ready.url} (${workers} workers, store: ${ready.config.databaseUrl !== null ? 'postgres' : 'sqlite'})`);
          void printBanner(log, ready.config, ready.config.databaseUrl !== null ? 'postgres' : 'sqlite', ready.adminFile, ready.bootstrapped);
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

/** `--metrics-port`: /metrics on its own port (say, reachable only by Prometheus), nothing else. */
async function listenMetrics(metrics: Metrics, host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('only /metrics here\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' }).end(text),
      () => response.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics could not be collected\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
