/**
 * The options of `tessera serve`, as one table: each row is a flag, its environment
 * variable, the default shown, a parser and the help text. The usage text, the
 * environment lookup, node:util's parseArgs options (and so the CLI's "did you mean")
 * all come from this table; adding an option is adding a row.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { type ConfigInput, MIN_BOOTSTRAP_SECRET_LENGTH, MIN_CONSOLE_PASSWORD_LENGTH, resolveConfig, SECRET_METHOD_POLICIES, type ServerConfig } from './config.js';
import { defaults } from './defaults.js';

/** What `serve` is started with: the configuration, and how many processes run it. */
export type ServeInput = ConfigInput & { workers?: number };

/** What the rows fill in: the input, and the TLS files to read once every setting is known to be valid. */
interface Draft {
  input: ServeInput;
  tlsFiles: { cert?: string; key?: string; clientCa?: string };
}

export interface ServeOption {
  /** `port` for `--port`; absent for a setting read only from the environment. */
  flag?: string;
  /** The environment variable read when the flag is not given (an empty value counts as unset). */
  env?: string;
  /** The value's placeholder in the usage (`<n>`); absent for a switch (`--no-metrics`). */
  arg?: string;
  /** The flag may be repeated; its values and the variable's are comma-separated lists. */
  multiple?: boolean;
  /** The default, as shown in the usage (the value itself lives in config/defaults.ts). */
  default?: string;
  /** One or more lines of help. */
  help: string;
  /** A heading printed above this row in the usage. */
  section?: string;
  /**
   * Parses the raw value (the flag's, else the variable's; a switch given is `"on"`)
   * into the draft; throws an Error whose message names the flag. Absent: the option is
   * read elsewhere (`--json` by the CLI, OTEL_* by observability/tracing.ts).
   */
  read?: (raw: string, draft: Draft) => void;
}

/** A row whose value goes through `parse`, then `apply`. */
function option<T>(row: Omit<ServeOption, 'read'> & { parse: (raw: string) => T; apply: (input: ServeInput, value: T) => void }): ServeOption {
  const { parse, apply, ...rest } = row;
  return { ...rest, read: (raw, draft) => apply(draft.input, parse(raw)) };
}

const wholeNumber = (flag: string, what = 'a whole number') => (raw: string): number => {
  if (!/^\d+$/.test(raw)) throw new Error(`--${flag} must be ${what}, got ${JSON.stringify(raw)}`);
  return Number(raw);
};
const text = (raw: string) => raw;
const list = (raw: string) => raw.split(',').map((s) => s.trim()).filter(Boolean);
function oneOf<T extends string>(flag: string, values: readonly T[], message?: string) {
  return (raw: string): T => {
    if (!(values as readonly string[]).includes(raw)) throw new Error(message ?? `--${flag} must be ${values.join(' or ')}, got ${JSON.stringify(raw)}`);
    return raw as T;
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'silent'] as const;
const retentionDefault = [defaults.usage.retention.minutes, defaults.usage.retention.hours, defaults.usage.retention.days].map((ms) => ms / 86_400_000).join(',');

export const SERVE_OPTION_TABLE: readonly ServeOption[] = [
  option({ flag: 'port', env: 'TESSERA_PORT', arg: '<n>', default: String(defaults.port), help: 'port to listen on', parse: (raw) => wholeNumber('port', 'a number')(raw), apply: (input, port) => (input.port = port) }),
  option({ flag: 'host', env: 'TESSERA_HOST', arg: '<addr>', default: defaults.host, help: 'address to listen on', parse: text, apply: (input, host) => (input.host = host) }),
  option({ flag: 'data-dir', env: 'TESSERA_DATA_DIR', arg: '<path>', default: defaults.dataDir, help: 'embedded store, generated master key, admin.json', parse: text, apply: (input, dataDir) => (input.dataDir = dataDir) }),
  option({ flag: 'database-url', env: 'TESSERA_DATABASE_URL', arg: '<url>', default: 'embedded SQLite in the data dir', help: 'postgres://... to use PostgreSQL', parse: text, apply: (input, databaseUrl) => (input.databaseUrl = databaseUrl) }),
  option({ flag: 'state-url', env: 'TESSERA_STATE_URL', arg: '<url>', default: 'in the database', help: 'redis://... for replay ids, revocations, opaque tokens and rate limits (docs/storage.md)', parse: text, apply: (input, stateUrl) => (input.stateUrl = stateUrl) }),
  option({ flag: 'public-url', env: 'TESSERA_PUBLIC_URL', arg: '<url>', default: 'http://<host>:<port>', help: 'the base of every issuer; one per deployment (docs/deploy.md)', parse: text, apply: (input, publicUrl) => (input.publicUrl = publicUrl) }),
  option<ServerConfig['logLevel']>({ flag: 'log-level', env: 'TESSERA_LOG_LEVEL', arg: '<level>', default: 'info', help: LOG_LEVELS.join('|'), parse: oneOf('log-level', LOG_LEVELS, `--log-level must be one of ${LOG_LEVELS.join(', ')}`), apply: (input, logLevel) => (input.logLevel = logLevel) }),
  option({ flag: 'log-sync', env: 'TESSERA_LOG_SYNC', help: 'write each log line at once (default: buffered, 4 KiB or 1 s;\na crash that skips exit handlers loses the buffer)', parse: (raw) => !['off', 'false', '0'].includes(raw.toLowerCase()), apply: (input, logSync) => (input.logSync = logSync) }),
  { flag: 'tls-cert', env: 'TESSERA_TLS_CERT', arg: '<file>', help: 'serve HTTPS with this certificate (PEM)', read: (raw, draft) => (draft.tlsFiles.cert = raw) },
  { flag: 'tls-key', env: 'TESSERA_TLS_KEY', arg: '<file>', help: 'and this key (PEM)', read: (raw, draft) => (draft.tlsFiles.key = raw) },
  { flag: 'tls-client-ca', env: 'TESSERA_TLS_CLIENT_CA', arg: '<file>', help: 'request client certificates (RFC 8705), trusting this CA', read: (raw, draft) => (draft.tlsFiles.clientCa = raw) },
  option({ flag: 'trusted-proxy', env: 'TESSERA_TRUSTED_PROXIES', arg: '<ip>', multiple: true, help: 'accept X-Client-Cert from these proxies (comma-separated)', parse: list, apply: (input, proxies) => (input.trustedProxies = proxies) }),
  option({ flag: 'mtls-public-url', env: 'TESSERA_MTLS_PUBLIC_URL', arg: '<url>', help: 'https base URL where clients present certificates, if not the public URL', parse: text, apply: (input, url) => (input.mtlsPublicUrl = url) }),
  option({ flag: 'metrics-port', env: 'TESSERA_METRICS_PORT', arg: '<n>', help: 'serve /metrics on this port (same host) instead of the main one', parse: wholeNumber('metrics-port'), apply: (input, port) => (input.metrics = { ...input.metrics, port }) }),
  option({ flag: 'no-metrics', env: 'TESSERA_METRICS', help: 'no /metrics at all (TESSERA_METRICS=off)', parse: (raw) => !['off', 'false', '0'].includes(raw.toLowerCase()), apply: (input, enabled) => (input.metrics = { ...input.metrics, enabled }) }),
  option({ flag: 'access-log-sample', env: 'TESSERA_ACCESS_LOG_SAMPLE', arg: '<f>', default: '1', help: 'fraction of requests in the info access log', parse: (raw) => {
    if (!/^(0|1|0?\.\d+|1\.0*)$/.test(raw)) throw new Error(`--access-log-sample must be a number from 0 to 1, got ${JSON.stringify(raw)}`);
    return Number(raw);
  }, apply: (input, sampleRate) => (input.accessLog = { sampleRate }) }),
  option({ section: 'Protection (docs/protection.md); counters are shared by every replica and worker:', flag: 'rate-limit', env: 'TESSERA_RATE_LIMIT', arg: '<n>', default: '0: none', help: 'quota: token requests per client per minute', parse: wholeNumber('rate-limit'), apply: (input, n) => (input.rateLimit = { ...input.rateLimit, tokenRequestsPerWindow: n }) }),
  option({ flag: 'tenant-quota', env: 'TESSERA_TENANT_QUOTA', arg: '<n|tenant=n,...>', default: '0: none', help: 'quota: token requests per tenant per minute', parse: parseTenantQuota, apply: (input, quota) => (input.rateLimit = { ...input.rateLimit, ...quota }) }),
  option<ServerConfig['rateLimit']['mode']>({ flag: 'quota-mode', env: 'TESSERA_QUOTA_MODE', arg: '<mode>', default: 'enforce', help: 'enforce (429) or monitor (count in metrics only)', parse: oneOf('quota-mode', ['enforce', 'monitor'] as const, '--quota-mode must be enforce or monitor'), apply: (input, mode) => (input.rateLimit = { ...input.rateLimit, mode }) }),
  option({ flag: 'auth-backoff', env: 'TESSERA_AUTH_BACKOFF', arg: '<spec>', default: 'source=100,client-source=10,client=100', help: 'failed client authentications per minute before 429; 0 for a limit turns it off', parse: parseAuthBackoff, apply: (input, authFailures) => (input.rateLimit = { ...input.rateLimit, authFailures }) }),
  option({ flag: 'management-rate-limit', env: 'TESSERA_MANAGEMENT_RATE_LIMIT', arg: '<n>', default: '0: none', help: 'management API requests per address per minute', parse: wholeNumber('management-rate-limit'), apply: (input, n) => (input.rateLimit = { ...input.rateLimit, managementRequestsPerWindow: n }) }),
  { env: 'OTEL_EXPORTER_OTLP_ENDPOINT', help: 'export OpenTelemetry traces over OTLP/HTTP (docs/observability.md)' },
  option({ flag: 'outbound-allow', env: 'TESSERA_OUTBOUND_ALLOW', arg: '<list>', multiple: true, help: 'hosts or CIDR ranges (comma-separated) that key-set and\ndiscovery fetches may reach although loopback or private, and over http', parse: list, apply: (input, hosts) => (input.outboundAllow = hosts) }),
  option<ServerConfig['clientAuth']['secretMethods']>({ flag: 'secret-methods', env: 'TESSERA_SECRET_METHODS', arg: '<m>', default: defaults.clientAuth.secretMethods, help: 'either: client_secret_basic and _post both work;\nregistered: a client authenticates with the secret method it was registered for', parse: oneOf('secret-methods', SECRET_METHOD_POLICIES), apply: (input, secretMethods) => (input.clientAuth = { secretMethods }) }),
  { flag: 'json', help: 'the start banner as one JSON line on stdout' },
  option({ flag: 'usage', env: 'TESSERA_USAGE', arg: '<on|off>', default: 'on', help: 'count tokens issued and refused (docs/usage.md)', parse: oneOf('usage', ['on', 'off'] as const), apply: (input, state) => (input.usage = { ...input.usage, enabled: state === 'on' }) }),
  option({ flag: 'usage-flush-interval', env: 'TESSERA_USAGE_FLUSH_INTERVAL', arg: '<s>', default: String(defaults.usage.flushInterval / 1000), help: 'seconds between writes of usage counts, 1 to 300; a crash loses at most this much', parse: wholeNumber('usage-flush-interval', 'whole seconds'), apply: (input, seconds) => (input.usage = { ...input.usage, flushInterval: seconds * 1000 }) }),
  option({ flag: 'usage-retention', env: 'TESSERA_USAGE_RETENTION', arg: '<m,h,d>', default: retentionDefault, help: 'days to keep minute, hour and day counts', parse: parseRetention, apply: (input, retention) => (input.usage = { ...input.usage, retention }) }),
  option({ flag: 'workers', env: 'TESSERA_WORKERS', arg: '<n|auto>', default: '1', help: 'worker processes sharing the port (auto: one per CPU)', parse: parseWorkers, apply: (input, workers) => (input.workers = workers) }),
  option({ env: 'TESSERA_MASTER_KEY', help: 'base64 of 32 random bytes that encrypt signing keys at rest', parse: text, apply: (input, masterKey) => (input.masterKey = masterKey) }),
  option({ section: 'Console single sign-on (docs/console.md), with the organisation\'s OpenID Provider:', flag: 'console-oidc-issuer', env: 'TESSERA_CONSOLE_OIDC_ISSUER', arg: '<url>', help: 'the OpenID Provider (its discovery document is read)', parse: text, apply: (input, issuer) => (input.consoleOidc = { ...input.consoleOidc, issuer }) }),
  option({ flag: 'console-oidc-client-id', env: 'TESSERA_CONSOLE_OIDC_CLIENT_ID', arg: '<id>', help: "the console's client id at the provider", parse: text, apply: (input, clientId) => (input.consoleOidc = { ...input.consoleOidc, clientId }) }),
  option({ flag: 'console-oidc-client-secret', env: 'TESSERA_CONSOLE_OIDC_CLIENT_SECRET', arg: '<secret>', help: 'its secret (prefer the environment variable)', parse: text, apply: (input, clientSecret) => (input.consoleOidc = { ...input.consoleOidc, clientSecret }) }),
  option({ flag: 'console-oidc-role-claim', env: 'TESSERA_CONSOLE_OIDC_ROLE_CLAIM', arg: '<claim>', default: 'tessera_role', help: 'ID token claim holding "admin" or "viewer" (or a list with one)', parse: text, apply: (input, roleClaim) => (input.consoleOidc = { ...input.consoleOidc, roleClaim }) }),
  option({ flag: 'console-oidc-tenants-claim', env: 'TESSERA_CONSOLE_OIDC_TENANTS_CLAIM', arg: '<claim>', help: 'ID token claim listing the tenants a person may act on (an array or space-separated ids; "*": every tenant); unset: every tenant', parse: text, apply: (input, tenantsClaim) => (input.consoleOidc = { ...input.consoleOidc, tenantsClaim }) }),
  option({ section: 'First start only (ignored once the store is bootstrapped; docs/deploy.md):', env: 'TESSERA_BOOTSTRAP_ADMIN_SECRET', help: `the admin client's secret (at least ${MIN_BOOTSTRAP_SECRET_LENGTH} characters) instead of a generated one`, parse: text, apply: (input, adminSecret) => (input.bootstrap = { ...input.bootstrap, adminSecret }) }),
  option({ env: 'TESSERA_BOOTSTRAP_CONSOLE_PASSWORD', help: `the console user's password (at least ${MIN_CONSOLE_PASSWORD_LENGTH} characters) instead of a generated one`, parse: text, apply: (input, consolePassword) => (input.bootstrap = { ...input.bootstrap, consolePassword }) }),
];

/** The flags of `tessera serve` as node:util's parseArgs options (the CLI also uses the names for "did you mean"). */
export const SERVE_OPTIONS: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = Object.fromEntries(
  SERVE_OPTION_TABLE.filter((row) => row.flag !== undefined).map((row) => [row.flag as string, { type: row.arg === undefined ? 'boolean' : 'string', ...(row.multiple ? { multiple: true } : {}) }]),
);

export const SERVE_USAGE = `Usage: tessera serve [options]

${usageLines(SERVE_OPTION_TABLE)}

Standard output carries JSON log lines; the start banner and other messages for people go
to standard error. Stop with Ctrl+C or SIGTERM: requests in flight finish, then it exits 0.
One serve per data directory (embedded store): a second one is refused.
`;

function usageLines(table: readonly ServeOption[]): string {
  const flagColumn = 24;
  const envColumn = 30;
  const lines: string[] = [];
  for (const row of table) {
    if (row.section !== undefined) lines.push(`  ${row.section}`);
    const flag = row.flag === undefined ? (row.env as string) : `--${row.flag}${row.arg === undefined ? '' : ` ${row.arg}`}`;
    const env = row.flag === undefined ? '' : row.env ?? '';
    const [first = '', ...rest] = `${row.help}${row.default === undefined ? '' : ` (default ${row.default})`}`.split('\n');
    const head = `  ${flag.padEnd(flagColumn)} ${env.padEnd(envColumn)}`.replace(/ +$/, '');
    lines.push(head.length > 2 + flagColumn + 1 + envColumn ? `${head} ${first}` : `${head.padEnd(2 + flagColumn + 1 + envColumn)} ${first}`);
    for (const more of rest) lines.push(`${' '.repeat(2 + flagColumn + 1 + envColumn + 1)}${more}`);
  }
  return lines.join('\n');
}

/** `--workers`/`TESSERA_WORKERS`: a positive whole number, or `auto` (one per CPU the process may use). */
export function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  if (!/^[1-9]\d{0,3}$/.test(value)) throw new Error(`--workers must be a whole number from 1 to 9999 or "auto", got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Flags, then environment, through the table; every setting is checked before anything starts. */
export async function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<ServeInput> {
  const { values } = parseArgs({ args: argv, options: SERVE_OPTIONS, strict: true });
  const draft: Draft = { input: {}, tlsFiles: {} };
  for (const row of SERVE_OPTION_TABLE) {
    if (row.read === undefined) continue;
    const raw = rawValue(row, row.flag === undefined ? undefined : values[row.flag], env);
    if (raw !== undefined) row.read(raw, draft);
  }
  const { input, tlsFiles } = draft;
  if ((tlsFiles.cert === undefined) !== (tlsFiles.key === undefined)) throw new Error('--tls-cert and --tls-key go together');
  resolveConfig(input);
  if (tlsFiles.cert !== undefined && tlsFiles.key !== undefined) {
    input.tls = {
      cert: await readFile(tlsFiles.cert, 'utf8'),
      key: await readFile(tlsFiles.key, 'utf8'),
      clientCa: tlsFiles.clientCa !== undefined ? await readFile(tlsFiles.clientCa, 'utf8') : null,
    };
  }
  return input;
}

/** The flag's value if given, else the environment variable's if set and not empty. */
function rawValue(row: ServeOption, flag: string | boolean | (string | boolean)[] | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (flag === true) return row.flag?.startsWith('no-') ? 'off' : 'on';
  if (Array.isArray(flag)) return flag.join(',');
  if (typeof flag === 'string') return flag;
  const fromEnv = row.env === undefined ? undefined : env[row.env];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** `--tenant-quota 600` (every tenant) or `--tenant-quota acme=600,beta=100` (those tenants). */
function parseTenantQuota(value: string): { tenantRequestsPerWindow?: number; tenantQuotas?: Record<string, number> } {
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
function parseAuthBackoff(value: string): Partial<ServerConfig['rateLimit']['authFailures']> {
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

/** `--usage-retention`: days to keep minute, hour and day counts. */
function parseRetention(value: string): { minutes: number; hours: number; days: number } {
  const days = value.split(',').map((d) => d.trim());
  if (days.length !== 3 || days.some((d) => !/^\d+(\.\d+)?$/.test(d))) {
    throw new Error(`--usage-retention must be three numbers of days (minutes,hours,days), got ${JSON.stringify(value)}`);
  }
  const [minutes, hours, kept] = days.map((d) => Math.round(Number(d) * 86_400_000)) as [number, number, number];
  return { minutes, hours, days: kept };
}
