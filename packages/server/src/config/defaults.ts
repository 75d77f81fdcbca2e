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

  rateLimit: {
    /** Token-endpoint requests per client per window; 0 disables. */
    tokenRequestsPerWindow: 0,
    windowSeconds: 60,
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

  management: {
    audience: 'urn:tessera:management',
    adminTenant: 'admin',
    defaultTenant: 'default',
    /** Largest page size of list endpoints. */
    maxPageSize: 200,
    defaultPageSize: 50,
  },
} as const;
