import { resolve } from 'node:path';
import type { SigningAlg } from '../store/types.js';
import { OutboundPolicy } from '../outbound/policy.js';
import { defaults } from './defaults.js';

export interface ServerConfig {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | null;
  /** Base of every issuer, without a trailing slash. */
  publicUrl: string;
  /** base64 of 32 bytes; null: the embedded default generates one into dataDir. */
  masterKey: string | null;
  tokens: { defaultLifetime: number; minLifetime: number; maxLifetime: number };
  keys: { defaultAlg: SigningAlg; rotationInterval: number; publishLeadTime: number; checkInterval: number };
  jwks: { maxAge: number };
  cache: { pollInterval: number };
  http: { bodyLimit: number; shutdownGrace: number; headersTimeout: number; requestTimeout: number; idleTimeout: number; keepAliveTimeout: number };
  rateLimit: { tokenRequestsPerWindow: number; windowSeconds: number };
  clientAssertion: { maxLifetime: number; clockTolerance: number };
  federation: { maxAssertionLifetime: number };
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
  /** Whether to log requests (pino). */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
}

export type ConfigInput = Partial<Omit<ServerConfig, 'publicUrl'>> & { publicUrl?: string | null };

/** Fills defaults and validates; throws a readable error at start-up instead of failing later. */
export function resolveConfig(input: ConfigInput = {}): ServerConfig {
  const port = input.port ?? defaults.port;
  const host = input.host ?? defaults.host;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`invalid port: ${String(input.port)}`);
  const publicUrl = (input.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');
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
  if (input.masterKey != null && Buffer.from(input.masterKey, 'base64').length !== 32) {
    throw new Error('TESSERA_MASTER_KEY must be base64 of 32 random bytes (e.g. `openssl rand -base64 32`)');
  }
  const config: ServerConfig = {
    port,
    host,
    dataDir: resolve(input.dataDir ?? defaults.dataDir),
    databaseUrl,
    publicUrl,
    masterKey: input.masterKey ?? null,
    tokens: { ...defaults.tokens, ...input.tokens },
    keys: { ...defaults.keys, ...input.keys },
    jwks: { ...defaults.jwks, ...input.jwks },
    cache: { ...defaults.cache, ...input.cache },
    http: { ...defaults.http, ...input.http },
    rateLimit: { ...defaults.rateLimit, ...input.rateLimit },
    clientAssertion: { ...defaults.clientAssertion, ...input.clientAssertion },
    federation: { ...defaults.federation, ...input.federation },
    tls: input.tls ?? null,
    trustedProxies: input.trustedProxies ?? [],
    outboundAllow: input.outboundAllow ?? [],
    mtlsPublicUrl: input.mtlsPublicUrl == null ? null : input.mtlsPublicUrl.replace(/\/+$/, ''),
    logLevel: input.logLevel ?? 'info',
  };
  if (config.mtlsPublicUrl !== null && !/^https:\/\/[^/?#]+(?:\/[^?#]*)?$/.test(config.mtlsPublicUrl)) {
    throw new Error('the mTLS public URL must be an https:// URL without a query or fragment');
  }
  // A malformed entry is reported at start-up, not at the first fetch.
  new OutboundPolicy(config.outboundAllow);
  const { minLifetime, maxLifetime, defaultLifetime } = config.tokens;
  if (!(minLifetime <= defaultLifetime && defaultLifetime <= maxLifetime)) {
    throw new Error('tokens.defaultLifetime must lie between tokens.minLifetime and tokens.maxLifetime');
  }
  return config;
}
