/**
 * Every default of the server, in one place. Each value here is documented in
 * docs/configuration.md; change both together.
 */
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

  cache: {
    /** How often each replica polls the store's change counter to drop stale caches (ms). SPEC §8: changes visible within 2 s. */
    pollInterval: 1000,
    /** /readyz reports not ready when the change feed is this far behind (seconds). */
    maxFeedLag: 30,
  },

  http: {
    /** Largest accepted request body (bytes); larger bodies get 413. */
    bodyLimit: 64 * 1024,
    /** Grace period for in-flight requests on SIGTERM (milliseconds). */
    shutdownGrace: 10_000,
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

  accessLog: {
    /** `--access-log-sample` / TESSERA_ACCESS_LOG_SAMPLE: fraction of requests logged at info (0 to 1). */
    sampleRate: 1,
  },

  clientAssertion: {
    /** RFC 7523 client assertions: `exp` at most this far ahead (seconds). */
    maxLifetime: 300,
    /** Clock skew allowed on `iat`/`nbf`/`exp` (seconds). */
    clockTolerance: 30,
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
