/**
 * `tessera serve`: flags and environment -> config -> store -> app -> listen;
 * bootstrap on first start; graceful shutdown on SIGTERM. Nothing else.
 */
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { type ConfigInput, resolveConfig, type ServerConfig } from './config/config.js';
import { defaults } from './config/defaults.js';
import { MasterKey } from './crypto/master-key.js';
import type { BootstrapResult } from './domain/bootstrap.js';
import { createLogger, startupLogger } from './observability/logger.js';
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
  TESSERA_MASTER_KEY    base64 of 32 random bytes that encrypt signing keys at rest
`;

export interface RunningServer {
  config: ServerConfig;
  url: string;
  adminFile: string;
  bootstrapped: boolean;
  /** Where /metrics is served when `--metrics-port` is set; null otherwise. */
  metricsUrl: string | null;
  /** The process's one logger (pino JSON lines). */
  logger: import('pino').Logger;
  close(): Promise<void>;
}

export async function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<ConfigInput & { tlsFiles?: { cert: string; key: string; clientCa: string | null } }> {
  const { values } = parseArgs({
    args: argv,
    options: {
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
    },
    strict: true,
  });
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
    rateLimit: {
      ...(rateLimit !== undefined ? { tokenRequestsPerWindow: Number(rateLimit) } : {}),
      ...tenantQuota,
      ...(quotaMode !== undefined ? { mode: quotaMode } : {}),
      ...(authFailures !== undefined ? { authFailures } : {}),
      ...(managementLimit !== undefined ? { managementRequestsPerWindow: managementLimit } : {}),
    },
    metrics: { enabled: !metricsOff, ...(metricsPort !== undefined ? { port: metricsPort } : {}) },
    ...(sample !== undefined ? { accessLog: { sampleRate: Number(sample) } } : {}),
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

export async function serve(input: ConfigInput, log?: (line: string) => void): Promise<RunningServer> {
  const config = resolveConfig({ ...input, ...(input.publicUrl === undefined && input.tls ? { publicUrl: `https://${input.host ?? defaults.host}:${input.port ?? defaults.port}` } : {}) });
  // One log format for the whole process: start-up lines are pino JSON too (observability/logger.ts).
  const logger = createLogger(config.logLevel);
  const startup = startupLogger(logger);
  log ??= (line) => startup.info(line);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  if (config.masterKey === null && config.databaseUrl !== null) {
    log('warning: TESSERA_MASTER_KEY is not set; using a key generated into the data directory. Every replica must share one master key: set TESSERA_MASTER_KEY.');
  }
  const masterKey = config.masterKey !== null ? MasterKey.fromBase64(config.masterKey) : await MasterKey.loadOrCreate(config.dataDir);
  const store = await createStore({ dataDir: config.dataDir, ...(config.databaseUrl !== null ? { databaseUrl: config.databaseUrl } : {}) });
  const https = config.tls === null ? null : {
    cert: config.tls.cert,
    key: config.tls.key,
    ...(config.tls.clientCa !== null ? { ca: config.tls.clientCa } : {}),
    requestCert: true,
    rejectUnauthorized: false,
  };
  let app;
  try {
    app = await buildApp({ config, store, masterKey, https, logger });
  } catch (error) {
    await store.close();
    throw error;
  }
  const adminFile = join(config.dataDir, 'admin.json');
  let result: BootstrapResult | null;
  try {
    result = await app.tessera.bootstrap();
    await app.tessera.keys.checkMasterKey(defaults.management.adminTenant);
  } catch (error) {
    await app.close();
    await store.close();
    throw error;
  }
  if (result !== null) await writeAdminFile(adminFile, config, result);
  await app.listen({ port: config.port, host: config.host });
  const metricsServer = app.tessera.metrics !== null && config.metrics.port !== null ? await listenMetrics(app.tessera.metrics, config.host, config.metrics.port) : null;
  app.tessera.startBackgroundTasks();
  const metricsUrl = metricsServer === null ? null : `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${(metricsServer.address() as { port: number }).port}/metrics`;
  if (metricsUrl !== null) log(`Metrics on ${metricsUrl}`);
  const url = config.publicUrl;
  log(`Tessera listening on ${url} (store: ${store.kind})`);
  if (result !== null) log(`First start: bootstrapped tenants "default" and "admin"; admin credentials written to ${adminFile}`);
  else if (await fileExists(adminFile)) log(`Admin credentials: ${adminFile}`);
  else log('Admin credentials: in admin.json of the replica that bootstrapped this store');
  return {
    config,
    url,
    adminFile,
    bootstrapped: result !== null,
    metricsUrl,
    logger,
    async close() {
      if (metricsServer !== null) await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      await app.close();
      await store.close();
      logger.flush();
    },
  };
}

async function fileExists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function writeAdminFile(path: string, config: ServerConfig, result: BootstrapResult): Promise<void> {
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
  await writeFile(path, `${JSON.stringify(admin, null, 2)}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

/** Runs `serve` until SIGTERM/SIGINT, then drains in-flight requests and exits 0. */
export async function runUntilSignal(input: ConfigInput): Promise<void> {
  const server = await serve(input);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      startupLogger(server.logger).info(`${signal}: finishing in-flight requests`);
      const force = setTimeout(() => process.exit(1), server.config.http.shutdownGrace);
      force.unref();
      server.close().then(resolve, (error: unknown) => {
        server.logger.error({ err: error }, 'shutdown failed');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
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
