/**
 * `tessera serve`: flags and environment -> config -> store -> app -> listen;
 * bootstrap on first start; graceful shutdown on SIGTERM. Nothing else.
 */
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { type ConfigInput, resolveConfig, type ServerConfig } from './config/config.js';
import { defaults } from './config/defaults.js';
import { MasterKey } from './crypto/master-key.js';
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
  --outbound-allow <list> TESSERA_OUTBOUND_ALLOW  hosts or CIDR ranges (comma-separated) that key-set and
                        discovery fetches may reach although loopback or private, and over http
  TESSERA_MASTER_KEY    base64 of 32 random bytes that encrypt signing keys at rest
`;

export interface RunningServer {
  config: ServerConfig;
  url: string;
  adminFile: string;
  bootstrapped: boolean;
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
      'outbound-allow': { type: 'string', multiple: true },
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
  const outboundAllow = (values['outbound-allow'] ?? [env['TESSERA_OUTBOUND_ALLOW'] ?? ''])
    .flatMap((list) => list.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
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
    outboundAllow,
    ...(rateLimit !== undefined ? { rateLimit: { tokenRequestsPerWindow: Number(rateLimit), windowSeconds: 60 } } : {}),
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

export async function serve(input: ConfigInput, log: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<RunningServer> {
  const config = resolveConfig({ ...input, ...(input.publicUrl === undefined && input.tls ? { publicUrl: `https://${input.host ?? defaults.host}:${input.port ?? defaults.port}` } : {}) });
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
    app = await buildApp({ config, store, masterKey, https });
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
  app.tessera.startBackgroundTasks();
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
    async close() {
      await app.close();
      await store.close();
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
      process.stdout.write(`${signal}: finishing in-flight requests\n`);
      const force = setTimeout(() => process.exit(1), server.config.http.shutdownGrace);
      force.unref();
      server.close().then(resolve, (error: unknown) => {
        process.stderr.write(`shutdown: ${String(error)}\n`);
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
