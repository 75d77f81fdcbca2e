/**
 * Every default of the server, in one place. Each value here is documented in
 * docs/configuration.md; change both together.
 */
import type { SecretMethodPolicy } from './config.js';

export const defaults = {
  /** `--port` / TESSERA_PORT */
  port: 8080,
  /** `--host` / TESSERA_HOST */
  host: '127.0.0.1',
  /** `--data-dir` / TESSERA_DATA_DIR: embedded database, generated master key, admin.json */
  dataDir: './.tessera',

  tokens: {
    /** Access-token lifetime when neither the client, the API nor the tenant sets one (seconds). */
    defaultLifetime: 3600,
    /** Bounds for every configurable lifetime (seconds). */
    minLifetime: 60,
    maxLifetime: 86_400,
  },

  keys: {
    /** Signing algorithm of new tenants. */
    defaultAlg: 'ES256',
    /** Scheduled rotation: the active key signs for this long (seconds), then the next key takes over. */
    rotationInterval: 30 * 86_400,
    /**
     * A next key is published at least this long (seconds) before it may sign, so every
     * verifier that honours the JWKS Cache-Control has fetched it first.
     */
    publishLeadTime: 3600,
    /** How often each replica checks whether a rotation is due (milliseconds). */
    checkInterval: 60_000,
  },

  jwks: {
    /** `Cache-Control: max-age` of the JWKS and discovery documents (seconds). */
    maxAge: 300,
  },

  /** The registry's caches and the change feed that keeps them current (docs/storage.md). */
  cache: {
    /** How often each replica reads the change feed (ms), NOTIFY or not. SPEC §8: changes visible within 2 s. */
    pollInterval: 1000,
    /** PostgreSQL: LISTEN for changes, so other replicas see them at once (polling stays the fallback). */
    listen: true,
    /**
     * Tenants kept in memory (APIs, federations, signing keys' public halves); beyond the
     * bound the least recently used of those used once go first (segmented LRU:
     * scan-resistant). The byte bound decides first at about 4.5 KB per tenant with one
     * API and two keys, so 512 MiB holds some 115,000 of them.
     */
    maxTenants: 200_000,
    /** Estimated bytes of all cached tenants, whatever their count. */
    maxTenantBytes: 512 * 1024 * 1024,
    /** Unknown tenant ids remembered (until the change feed says one was created), so junk paths cost no store query. */
    maxUnknownTenants: 10_000,
    /**
     * Ids the known-tenant directory does not hold that are still looked up in the store,
     * per second: a tenant created through another replica is served before the change
     * feed brings it, and a flood of made-up ids costs at most this many queries a second.
     */
    unknownTenantLookupsPerSecond: 10,
    /** Clients kept in memory (client, secret hashes, grants). */
    maxClients: 100_000,
    /** Estimated bytes of all cached clients, whatever their count (about 2.3 KB per client with one secret and one grant). */
    maxClientBytes: 256 * 1024 * 1024,
    /**
     * Unsealed private signing keys kept, one per tenant that issues tokens, and their
     * estimated bytes (about 6 KB per ES256 or RS256 key, 2.3 KB per EdDSA key, mostly
     * OpenSSL's): a tenant whose signer is not kept unseals it again on its next
     * token (about 1 million instructions for ES256, a tenth of that for RSA).
     */
    maxSigners: 100_000,
    maxSignerBytes: 128 * 1024 * 1024,
    /** Unknown client ids remembered, so repeated guesses do not each cost a store lookup. */
    maxUnknownClients: 10_000,
    /** While the store is unreachable, cached entries keep serving this long (ms); then 503 temporarily_unavailable. */
    serveStaleFor: 300_000,
    /** Change-feed rows kept (ms); a replica that was unreachable longer drops its caches once. */
    feedRetention: 3_600_000,
    /** Change-feed rows read per query. */
    feedBatchSize: 1000,
    /** /readyz reports not ready when the change feed is this far behind (seconds). */
    maxFeedLag: 30,
  },

  http: {
    /** Largest accepted request body (bytes); larger bodies get 413. */
    bodyLimit: 64 * 1024,
    /** Grace period for in-flight requests on SIGTERM (milliseconds). */
    shutdownGrace: 10_000,
    /** The request line and headers must arrive within this long (ms), or the connection is closed with 408. */
    headersTimeout: 10_000,
    /** The whole request, body included, must arrive within this long (ms), or 408 and the connection is closed. */
    requestTimeout: 15_000,
    /** A connection on which nothing moves for this long is closed (ms). */
    idleTimeout: 10_000,
    /** How long a kept-alive connection waits for the next request (ms). */
    keepAliveTimeout: 5_000,
  },

  /** Protection (docs/protection.md). On by default: failed authentications back off. */
  rateLimit: {
    /** Quota: token-endpoint requests per client per window (`--rate-limit`/`--client-quota`); 0: none. */
    tokenRequestsPerWindow: 0,
    /** Quota: token-endpoint requests per tenant per window (`--tenant-quota`); 0: none. */
    tenantRequestsPerWindow: 0,
    /** Per-tenant quotas overriding tenantRequestsPerWindow (`--tenant-quota acme=600`). */
    tenantQuotas: {} as Record<string, number>,
    /** `enforce`: over quota is 429; `monitor`: counted in metrics, never refused (`--quota-mode`). */
    mode: 'enforce' as 'enforce' | 'monitor',
    windowSeconds: 60,
    /** Management API requests per source address per window (`--management-rate-limit`); 0: none. */
    managementRequestsPerWindow: 0,
    /** Back-off after failed client authentications, counted per window; 0 disables a limit. */
    authFailures: {
      /** Failures from one source address, whatever the client and method, before it gets 429. */
      perSource: 100,
      /** Wrong secrets for one client from one source address before that pair gets 429. */
      perClientAndSource: 10,
      /** Failures for one client from every address: then any address that failed for it backs off at once. */
      perClient: 100,
      windowSeconds: 60,
    },
  },

  metrics: {
    /** Serve Prometheus /metrics. */
    enabled: true,
    /** `--metrics-port` / TESSERA_METRICS_PORT: serve /metrics there instead of on the main port; null: main port. */
    port: null as number | null,
    /** At most this many tenants get their own `tenant` label; the rest share `tenant="other"`. */
    maxTenantLabels: 100,
  },

  /**
   * `--log-sync` / TESSERA_LOG_SYNC=on: write each log line to standard output at once.
   * Off: lines are buffered (4 KiB, at most 1 s) and flushed at exit; a crash that skips
   * the exit handlers (SIGKILL, OOM kill) loses at most the buffer (docs/observability.md).
   */
  logSync: false,

  accessLog: {
    /** `--access-log-sample` / TESSERA_ACCESS_LOG_SAMPLE: fraction of requests logged at info (0 to 1). */
    sampleRate: 1,
  },

  usage: {
    /** Count tokens issued and refused, and last uses (docs/usage.md); false turns recording off. */
    enabled: true,
    /** How often each replica writes its in-memory counts to the store (ms); a crash loses at most this much. */
    flushInterval: 10_000,
    /** How often each replica rolls minutes up into hours and days and deletes old buckets (ms). */
    rollupInterval: 60_000,
    /** How long each granularity is kept (ms): minutes 2 days, hours 30 days, days 400 days. */
    retention: { minutes: 2 * 86_400_000, hours: 30 * 86_400_000, days: 400 * 86_400_000 },
  },

  /** DPoP proofs at the token endpoint (RFC 9449, docs/dpop.md). */
  dpop: {
    /** How old a proof's `iat` may be (seconds). */
    proofMaxAge: 60,
    /** How far ahead of the server's clock a proof's `iat` may be (seconds). */
    clockTolerance: 5,
    /** Server nonces (for tenants that require them) change every this many seconds; each stays good for two. */
    nonceWindow: 300,
  },

  /** Transaction tokens (docs/transaction-tokens.md). */
  transactionTokens: {
    /** Lifetime of a transaction token (seconds; at most 300). */
    lifetime: 60,
  },

  clientAssertion: {
    /** RFC 7523 client assertions: `exp` at most this far ahead (seconds). */
    maxLifetime: 300,
    /** Clock skew allowed on `iat`/`nbf`/`exp` (seconds). */
    clockTolerance: 30,
  },

  federation: {
    /** RFC 7523 §2.1 assertions: `exp` at most this far ahead (seconds); longer-lived tokens are refused. */
    maxAssertionLifetime: 86_400,
  },

  clientAuth: {
    /**
     * `--secret-methods` / TESSERA_SECRET_METHODS: `registered` (a client uses the secret
     * method it was registered for, client_secret_basic or client_secret_post) or
     * `either` (both work for every secret client).
     */
    secretMethods: 'either' as SecretMethodPolicy,
  },

  management: {
    audience: 'urn:tessera:management',
    adminTenant: 'admin',
    defaultTenant: 'default',
    /** Largest page size of list endpoints. */
    maxPageSize: 200,
    defaultPageSize: 50,
  },
} as const;
