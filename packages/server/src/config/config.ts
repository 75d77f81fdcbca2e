import { resolve } from 'node:path';
import type { SigningAlg } from '../store/types.js';
import { OutboundPolicy } from '../outbound/policy.js';
import { defaults } from './defaults.js';

/**
 * How a secret client may present its secret (`--secret-methods`; the default is in
 * defaults.ts): `registered`, only with the method it was registered for (RFC 7591 §2,
 * as node-oidc-provider, Auth0 and Hydra do); `either`, a secret is a secret however it
 * travels, so client_secret_basic and client_secret_post both work (as in Keycloak).
 */
export type SecretMethodPolicy = 'registered' | 'either';
export const SECRET_METHOD_POLICIES: readonly SecretMethodPolicy[] = ['registered', 'either'];

export function isSecretMethodPolicy(value: string): value is SecretMethodPolicy {
  return (SECRET_METHOD_POLICIES as readonly string[]).includes(value);
}

export interface ServerConfig {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | null;
  /** `redis://` or `rediss://`: the hot state in Redis (docs/storage.md); null: in the database. */
  stateUrl: string | null;
  /** Base of every issuer, without a trailing slash. */
  publicUrl: string;
  /** Whether publicUrl was configured (--public-url), not the default http(s)://<host>:<port> (domain/public-url.ts). */
  publicUrlConfigured: boolean;
  /** base64 of 32 bytes; null: the embedded default generates one into dataDir. */
  masterKey: string | null;
  tokens: { defaultLifetime: number; minLifetime: number; maxLifetime: number };
  keys: { defaultAlg: SigningAlg; rotationInterval: number; publishLeadTime: number; checkInterval: number };
  jwks: { maxAge: number };
  cache: {
    pollInterval: number;
    listen: boolean;
    maxTenants: number;
    maxClients: number;
    maxUnknownClients: number;
    maxUnknownTenants: number;
    unknownTenantLookupsPerSecond: number;
    maxTenantBytes: number;
    maxClientBytes: number;
    maxSigners: number;
    maxSignerBytes: number;
    serveStaleFor: number;
    feedRetention: number;
    feedBatchSize: number;
    maxFeedLag: number;
  };
  http: { bodyLimit: number; shutdownGrace: number; headersTimeout: number; requestTimeout: number; idleTimeout: number; keepAliveTimeout: number };
  rateLimit: {
    tokenRequestsPerWindow: number;
    tenantRequestsPerWindow: number;
    tenantQuotas: Record<string, number>;
    mode: 'enforce' | 'monitor';
    windowSeconds: number;
    managementRequestsPerWindow: number;
    authFailures: { perSource: number; perClientAndSource: number; perClient: number; windowSeconds: number };
  };
  /** Prometheus /metrics: on the main port, or on its own (`--metrics-port`), or off. */
  metrics: { enabled: boolean; port: number | null; maxTenantLabels: number };
  /** The access log: one info line per request, for this fraction of requests (0 to 1). */
  accessLog: { sampleRate: number };
  clientAssertion: { maxLifetime: number; clockTolerance: number };
  dpop: { proofMaxAge: number; clockTolerance: number; nonceWindow: number };
  transactionTokens: { lifetime: number };
  federation: { maxAssertionLifetime: number };
  clientAuth: { secretMethods: SecretMethodPolicy };
  /** Usage analytics (docs/usage.md). */
  usage: UsageConfig;
  /** HTTPS with client certificates (RFC 8705). */
  tls: { cert: string; key: string; clientCa: string | null } | null;
  /** Addresses of TLS-terminating proxies whose forwarded client certificate is trusted. */
  trustedProxies: string[];
  /**
   * Base URL of the mTLS endpoint aliases (RFC 8705 §5) when clients must reach mTLS
   * at another host than the public URL (a separate proxy listener); null: the public URL.
   */
  mtlsPublicUrl: string | null;
  /**
   * Hosts or CIDR ranges that outbound fetches (key sets, discovery) may reach although
   * they are loopback or private, and over http (SPEC §1 `--outbound-allow`).
   */
  outboundAllow: string[];
  /**
   * Console single sign-on with the organisation's OpenID Provider (docs/console.md):
   * authorization code with PKCE; `roleClaim` of the ID token says viewer or admin, and
   * `tenantsClaim` (when set) the tenants the person may act on (null: every tenant).
   * Null: local console users only.
   */
  consoleOidc: { issuer: string; clientId: string; clientSecret: string; roleClaim: string; tenantsClaim: string | null } | null;
  /**
   * Credentials the first start gives instead of generated ones (TESSERA_BOOTSTRAP_*),
   * for platforms where nobody reads a pod's files; ignored once the store is bootstrapped.
   */
  bootstrap: { adminSecret: string | null; consolePassword: string | null };
  /** Whether to log requests (pino). */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
  /** Write each log line at once instead of through the buffer (observability/logger.ts). */
  logSync: boolean;
}

export interface UsageConfig {
  enabled: boolean;
  flushInterval: number;
  rollupInterval: number;
  retention: { minutes: number; hours: number; days: number };
}

export type ConfigInput = Partial<Omit<ServerConfig, 'publicUrl' | 'publicUrlConfigured' | 'cache' | 'usage' | 'rateLimit' | 'metrics' | 'accessLog' | 'bootstrap' | 'consoleOidc'>> & {
  consoleOidc?: { issuer?: string; clientId?: string; clientSecret?: string; roleClaim?: string; tenantsClaim?: string | null } | null;
  bootstrap?: Partial<ServerConfig['bootstrap']>;
  publicUrl?: string | null;
  cache?: Partial<ServerConfig['cache']>;
  usage?: Partial<Omit<UsageConfig, 'retention'>> & { retention?: Partial<UsageConfig['retention']> };
  rateLimit?: Partial<Omit<ServerConfig['rateLimit'], 'authFailures'>> & { authFailures?: Partial<ServerConfig['rateLimit']['authFailures']> };
  metrics?: Partial<ServerConfig['metrics']>;
  accessLog?: Partial<ServerConfig['accessLog']>;
};

/** All of issuer, client id and secret, or none (local console users only). */
function resolveConsoleOidc(input: ConfigInput['consoleOidc']): ServerConfig['consoleOidc'] {
  if (input == null || (input.issuer === undefined && input.clientId === undefined && input.clientSecret === undefined)) return null;
  const { issuer, clientId, clientSecret } = input;
  if (issuer === undefined || clientId === undefined || clientSecret === undefined) {
    throw new Error('console single sign-on needs --console-oidc-issuer, --console-oidc-client-id and --console-oidc-client-secret together');
  }
  if (!/^https?:\/\/[^\s/?#]+/.test(issuer)) throw new Error(`--console-oidc-issuer must be an https:// URL, got ${JSON.stringify(issuer)}`);
  return { issuer: issuer.replace(/\/+$/, ''), clientId, clientSecret, roleClaim: input.roleClaim ?? 'tessera_role', tenantsClaim: input.tenantsClaim ?? null };
}

/** Fills defaults and validates; throws a readable error at start-up instead of failing later. */
export function resolveConfig(input: ConfigInput = {}): ServerConfig {
  const port = input.port ?? defaults.port;
  const host = input.host ?? defaults.host;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`invalid port: ${String(input.port)}`);
  // The default names the listener: https when it serves TLS.
  const publicUrl = (input.publicUrl ?? `${input.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(publicUrl);
  } catch {
    throw new Error(`invalid public URL: ${publicUrl}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('the public URL must be http(s)');
  if (parsed.search || parsed.hash) throw new Error('the public URL must not have a query or fragment');
  const databaseUrl = input.databaseUrl ?? null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error('--database-url must be a postgres:// URL (omit it for the embedded store)');
  }
  const stateUrl = input.stateUrl ?? null;
  if (stateUrl !== null && !/^rediss?:\/\/[^/]/i.test(stateUrl)) {
    throw new Error('--state-url must be a redis:// or rediss:// URL (omit it to keep the state in the database)');
  }
  if (input.masterKey != null && Buffer.from(input.masterKey, 'base64').length !== 32) {
    throw new Error('TESSERA_MASTER_KEY must be base64 of 32 random bytes (e.g. `openssl rand -base64 32`)');
  }
  const config: ServerConfig = {
    port,
    host,
    dataDir: resolve(input.dataDir ?? defaults.dataDir),
    databaseUrl,
    stateUrl,
    publicUrl,
    publicUrlConfigured: input.publicUrl != null,
    masterKey: input.masterKey ?? null,
    tokens: { ...defaults.tokens, ...input.tokens },
    keys: { ...defaults.keys, ...input.keys },
    jwks: { ...defaults.jwks, ...input.jwks },
    cache: { ...defaults.cache, ...input.cache },
    http: { ...defaults.http, ...input.http },
    rateLimit: {
      ...defaults.rateLimit,
      ...input.rateLimit,
      tenantQuotas: { ...defaults.rateLimit.tenantQuotas, ...input.rateLimit?.tenantQuotas },
      authFailures: { ...defaults.rateLimit.authFailures, ...input.rateLimit?.authFailures },
    },
    metrics: { ...defaults.metrics, ...input.metrics },
    accessLog: { ...defaults.accessLog, ...input.accessLog },
    clientAssertion: { ...defaults.clientAssertion, ...input.clientAssertion },
    dpop: { ...defaults.dpop, ...input.dpop },
    transactionTokens: { ...defaults.transactionTokens, ...input.transactionTokens },
    federation: { ...defaults.federation, ...input.federation },
    clientAuth: { ...defaults.clientAuth, ...input.clientAuth },
    usage: resolveUsage(input.usage),
    tls: input.tls ?? null,
    trustedProxies: input.trustedProxies ?? [],
    outboundAllow: input.outboundAllow ?? [],
    consoleOidc: resolveConsoleOidc(input.consoleOidc),
    mtlsPublicUrl: input.mtlsPublicUrl == null ? null : input.mtlsPublicUrl.replace(/\/+$/, ''),
    bootstrap: { adminSecret: input.bootstrap?.adminSecret ?? null, consolePassword: input.bootstrap?.consolePassword ?? null },
    logLevel: input.logLevel ?? 'info',
    logSync: input.logSync ?? defaults.logSync,
  };
  assertBootstrapCredentials(config.bootstrap);
  if (config.mtlsPublicUrl !== null && !/^https:\/\/[^/?#]+(?:\/[^?#]*)?$/.test(config.mtlsPublicUrl)) {
    throw new Error('the mTLS public URL must be an https:// URL without a query or fragment');
  }
  // A malformed entry is reported at start-up, not at the first fetch.
  new OutboundPolicy(config.outboundAllow);
  for (const name of ['pollInterval', 'maxTenants', 'maxClients', 'maxUnknownClients', 'maxUnknownTenants', 'unknownTenantLookupsPerSecond', 'maxTenantBytes', 'maxClientBytes', 'maxSigners', 'maxSignerBytes', 'serveStaleFor', 'feedRetention', 'feedBatchSize'] as const) {
    const value = config.cache[name];
    if (!Number.isInteger(value) || value < (name === 'maxUnknownClients' || name === 'maxUnknownTenants' || name === 'unknownTenantLookupsPerSecond' ? 0 : 1)) throw new Error(`cache.${name} must be a positive integer`);
  }
  if (config.cache.serveStaleFor <= 2 * config.cache.pollInterval) {
    throw new Error('cache.serveStaleFor must be more than twice cache.pollInterval: a healthy replica reads the change feed that often');
  }
  if (!isSecretMethodPolicy(config.clientAuth.secretMethods)) {
    throw new Error('--secret-methods must be registered or either');
  }
  const { metrics, accessLog, rateLimit } = config;
  if (metrics.port !== null && (!Number.isInteger(metrics.port) || metrics.port < 0 || metrics.port > 65_535)) throw new Error(`invalid metrics port: ${String(metrics.port)}`);
  if (!(accessLog.sampleRate >= 0 && accessLog.sampleRate <= 1)) throw new Error('the access-log sample rate must lie between 0 and 1');
  if (rateLimit.mode !== 'enforce' && rateLimit.mode !== 'monitor') throw new Error('the quota mode must be enforce or monitor');
  for (const [name, value] of Object.entries({ ...rateLimit.authFailures, tokenRequestsPerWindow: rateLimit.tokenRequestsPerWindow, tenantRequestsPerWindow: rateLimit.tenantRequestsPerWindow, managementRequestsPerWindow: rateLimit.managementRequestsPerWindow, ...rateLimit.tenantQuotas })) {
    if (!Number.isInteger(value) || value < 0) throw new Error(`rate limit ${name} must be a whole number, got ${String(value)}`);
  }
  if (rateLimit.windowSeconds < 1 || rateLimit.authFailures.windowSeconds < 1) throw new Error('rate-limit windows must be at least 1 second');
  const { minLifetime, maxLifetime, defaultLifetime } = config.tokens;
  if (!(minLifetime <= defaultLifetime && defaultLifetime <= maxLifetime)) {
    throw new Error('tokens.defaultLifetime must lie between tokens.minLifetime and tokens.maxLifetime');
  }
  return config;
}

/** The shortest TESSERA_BOOTSTRAP_ADMIN_SECRET: as strong as a generated secret needs 43 base64url characters; 32 is the floor. */
export const MIN_BOOTSTRAP_SECRET_LENGTH = 32;
/** The shortest TESSERA_BOOTSTRAP_CONSOLE_PASSWORD. */
export const MIN_CONSOLE_PASSWORD_LENGTH = 12;

function assertBootstrapCredentials({ adminSecret, consolePassword }: ServerConfig['bootstrap']): void {
  // Control characters and surrounding spaces are almost always a copy-and-paste accident (a trailing newline of a Secret file).
  const unprintable = /[\u0000-\u001f\u007f]|^\s|\s$/;
  if (adminSecret !== null) {
    if (adminSecret.length < MIN_BOOTSTRAP_SECRET_LENGTH) {
      throw new Error(`TESSERA_BOOTSTRAP_ADMIN_SECRET must be at least ${MIN_BOOTSTRAP_SECRET_LENGTH} characters (it has ${adminSecret.length}); generate one with \`openssl rand -base64 32\``);
    }
    if (adminSecret.length > 512 || unprintable.test(adminSecret)) {
      throw new Error('TESSERA_BOOTSTRAP_ADMIN_SECRET must be at most 512 printable characters, without leading or trailing whitespace');
    }
  }
  if (consolePassword !== null) {
    if (consolePassword.length < MIN_CONSOLE_PASSWORD_LENGTH) {
      throw new Error(`TESSERA_BOOTSTRAP_CONSOLE_PASSWORD must be at least ${MIN_CONSOLE_PASSWORD_LENGTH} characters (it has ${consolePassword.length})`);
    }
    if (consolePassword.length > 512 || unprintable.test(consolePassword)) {
      throw new Error('TESSERA_BOOTSTRAP_CONSOLE_PASSWORD must be at most 512 printable characters, without leading or trailing whitespace');
    }
  }
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Flushes between 1 s and 5 min; each granularity kept long enough for the next one to be rolled up from it. */
function resolveUsage(input: ConfigInput['usage']): UsageConfig {
  const usage: UsageConfig = {
    ...defaults.usage,
    ...input,
    retention: { ...defaults.usage.retention, ...input?.retention },
  };
  const { flushInterval, rollupInterval, retention } = usage;
  if (!Number.isInteger(flushInterval) || flushInterval < 1000 || flushInterval > 300_000) {
    throw new Error('usage.flushInterval must be 1000 to 300000 ms');
  }
  if (!Number.isInteger(rollupInterval) || rollupInterval < 1000 || rollupInterval > HOUR_MS) {
    throw new Error('usage.rollupInterval must be 1000 to 3600000 ms');
  }
  if (!(retention.minutes >= 2 * HOUR_MS)) throw new Error('usage.retention.minutes must be at least 2 hours');
  if (!(retention.hours >= 2 * DAY_MS && retention.hours >= retention.minutes)) throw new Error('usage.retention.hours must be at least 2 days and at least the minutes retention');
  if (!(retention.days >= retention.hours)) throw new Error('usage.retention.days must be at least the hours retention');
  return usage;
}
