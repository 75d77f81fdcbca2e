/**
 * The composition root: builds the Fastify app and every service from a config and
 * a store. Never listens (main.ts does), so tests inject requests into it.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { ServerConfig } from './config/config.js';
import { defaults } from './config/defaults.js';
import type { MasterKey } from './crypto/master-key.js';
import { ApiService } from './domain/apis.js';
import { ChangeFeed } from './domain/change-feed.js';
import { TenantDirectory } from './domain/tenant-directory.js';
import { type BootstrapResult, bootstrap } from './domain/bootstrap.js';
import { ClientService } from './domain/clients.js';
import { CONSOLE_CLIENT_META, ConsoleSignIn } from './domain/console.js';
import { ConsoleSso } from './domain/console-sso.js';
import { ConsoleUserService } from './domain/console-users.js';
import type { DomainContext } from './domain/context.js';
import { FederationService } from './domain/federations.js';
import { GrantService } from './domain/grants.js';
import { KeyService } from './domain/keys.js';
import { SecretUsageTracker } from './domain/secret-usage.js';
import { type CacheEvents, TenantRegistry } from './domain/tenant-context.js';
import { TenantService } from './domain/tenants.js';
import { TokenInspector, TokenIssuer } from './domain/tokens.js';
import { noUsageRecording, UsageMaintenance, UsageRecorder } from './domain/usage.js';
import { UsageReports } from './domain/usage-reports.js';
import { consoleRoutes } from './manage/console.js';
import { consoleSsoRoutes } from './manage/console-sso-routes.js';
import { managementRoutes } from './manage/routes.js';
import { ClientAuthenticator } from './oauth/client-auth/index.js';
import { clientSecretBasic, clientSecretPost } from './oauth/client-auth/client-secret.js';
import { ClientKeys } from './oauth/client-auth/client-keys.js';
import { privateKeyJwt } from './oauth/client-auth/private-key-jwt.js';
import { tlsClientAuth } from './oauth/client-auth/tls-client-auth.js';
import { clientCredentials } from './oauth/grants/client-credentials.js';
import { FederatedJwtVerifier } from './oauth/grants/federated-jwt.js';
import { jwtBearer } from './oauth/grants/jwt-bearer.js';
import { tokenExchange } from './oauth/grants/token-exchange.js';
import { Protection } from './oauth/protection.js';
import { oauthRoutes } from './oauth/routes.js';
import { DpopTokenEndpoint } from './oauth/dpop/token-endpoint.js';
import { IntrospectionJwtSigner } from './oauth/introspection-jwt.js';
import { NonceIssuer } from '@tessera/verifier/core';
import { createOutboundFetch } from './outbound/fetch.js';
import { OutboundPolicy } from './outbound/policy.js';
import { redactQuery } from './logging.js';
import { createLogger, requestIdOf } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { instrumentStore } from './observability/store-instrumentation.js';
import { startTracing, tracedFetch, type Tracing } from './observability/tracing.js';
import { StoreUnavailableError } from './store/errors.js';
import type { StateStore } from './store/state/types.js';
import type { Store } from './store/types.js';

export interface AppOptions {
  config: ServerConfig;
  store: Store;
  /** The hot state (store/state/): Redis with `--state-url`; absent, the store's own database. */
  state?: StateStore;
  masterKey: MasterKey;
  /** The clock, in epoch milliseconds; tests freeze it. */
  now?: () => number;
  /** Where log lines go (pino, JSON lines); standard output by default. */
  logStream?: NodeJS.WritableStream;
  /** The process's logger (main.ts makes one); made from logStream when absent. */
  logger?: import('pino').Logger;
  /** Where OTEL_* variables are read (process.env by default); tests pass their own. */
  env?: NodeJS.ProcessEnv;
  /** HTTPS options when Tessera terminates TLS itself. */
  https?: import('node:https').ServerOptions | null;
  /** Registry cache events (metrics). */
  cacheEvents?: CacheEvents;
  /**
   * main.ts listens before it bootstraps (so a busy port fails before anything is
   * written): until `tessera.markStarted()`, every request, /healthz included, gets
   * 503 with `Retry-After: 1`.
   */
  startingUp?: boolean;
  /** Which worker of `serve --workers N` this is; /healthz names it (and its PID) in `Tessera-Worker`. */
  worker?: number;
}

export interface Tessera {
  config: ServerConfig;
  store: Store;
  /** Single-use ids, revocations, opaque tokens, rate-limit windows. */
  state: StateStore;
  registry: TenantRegistry;
  /** Follows the change feed: the one owner of registry invalidation. */
  changeFeed: ChangeFeed;
  /** Every tenant id, loaded in the background once the change feed runs: made-up tenants cost no store query. */
  tenantDirectory: TenantDirectory;
  tenants: TenantService;
  clients: ClientService;
  apis: ApiService;
  grants: GrantService;
  keys: KeyService;
  federations: FederationService;
  consoleUsers: ConsoleUserService;
  issuer: TokenIssuer;
  inspector: TokenInspector;
  /** Prometheus metrics; null when `metrics.enabled` is false. Also the registry's cache events. */
  metrics: Metrics | null;
  /**
   * First-start bootstrap; null when the store was bootstrapped before. `persist` saves
   * the credentials inside the bootstrap transaction (domain/bootstrap.ts).
   */
  bootstrap(persist?: (result: BootstrapResult) => Promise<void>): Promise<BootstrapResult | null>;
  /** With `startingUp`: from now on requests are served instead of answered 503. */
  markStarted(): void;
  /** Usage analytics (docs/usage.md): the recorder is null when usage.enabled is false. */
  usage: { recorder: UsageRecorder | null; maintenance: UsageMaintenance; reports: UsageReports };
  /**
   * Polling for changes made by other replicas, scheduled key rotation, purges.
   * `singletons: false` (every worker of `serve --workers N` but the first) leaves
   * out the tasks that need to run once per data directory or host: key rotation,
   * purges and the usage roll-up.
   */
  startBackgroundTasks(options?: { singletons?: boolean }): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    tessera: Tessera;
  }
}

/** A SQLite lock wait this long is logged at warn. */
const LONG_LOCK_WAIT_SECONDS = 0.1;
/** After a failed read of the known-tenant directory, read it again this much later (ms). */
const DIRECTORY_RETRY_DELAY = 5000;
/** Tenant ids read per query by the known-tenant directory (tenant-directory.ts). */
const DIRECTORY_PAGE_SQLITE = 10_000;
const DIRECTORY_PAGE_POSTGRES = 1_000_000;

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config, masterKey } = options;
  const now = options.now ?? Date.now;
  const metrics = config.metrics.enabled ? new Metrics({ maxTenantLabels: config.metrics.maxTenantLabels }) : null;
  // Tracing costs nothing unless OTEL_* variables configure it: the SDK is not even imported.
  const tracing: Tracing | null = await startTracing(options.env ?? process.env);
  const instrumented = metrics !== null || tracing !== null;
  const storeEvents = metrics ?? { query() {}, error() {} };
  const store = instrumented ? instrumentStore(options.store, storeEvents, tracing) : options.store;
  // Under --workers one scrape reports the whole host (cluster.ts aggregates in the primary).
  if (metrics !== null && options.worker !== undefined && (await import('node:cluster')).default.isWorker) {
    metrics.aggregateThroughPrimary((await import('./cluster.js')).hostMetrics);
  }
  const rawState = options.state ?? options.store.state();
  const state = instrumented ? instrumentStore(rawState, storeEvents, tracing) : rawState;
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(config.logLevel, options.logStream, { sync: config.logSync }),
    // Fastify's own request lines are off: the access log below is one sampled line per request.
    logController: new LogController({ disableRequestLogging: true }),
    // X-Request-Id: a sane incoming one is kept, else a fresh UUID; every request log line carries it.
    genReqId: requestIdOf,
    requestIdHeader: false,
    // Behind trusted proxies (--trusted-proxy), the client address for back-off and the
    // access log is the one they forward in X-Forwarded-For, not the proxy's own.
    ...(config.trustedProxies.length > 0 ? { trustProxy: config.trustedProxies } : {}),
    bodyLimit: config.http.bodyLimit,
    // Unknown fields in a management request are an error, not silently dropped, and
    // a value of the wrong type is an error, not converted (`{"name": 42}` is not a name).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Slow or incomplete requests cannot hold connections for long (issue 7: a body
    // that never arrives kept its socket for minutes, and 20,000 of them starved
    // /healthz). Node answers 408 and closes; the check runs every second.
    connectionTimeout: config.http.idleTimeout,
    keepAliveTimeout: config.http.keepAliveTimeout,
    requestTimeout: config.http.requestTimeout,
    http: serverTimeouts(config),
    ...(options.https ? { https: { ...options.https, ...serverTimeouts(config) } } : {}),
    // Until markStarted(), the server itself answers 503: a gate in front of Fastify
    // rather than an onRequest hook that every request would pass for good.
    ...(options.startingUp === true ? { serverFactory: startingGate(() => starting, options.https ?? null, config) } : {}),
  } as FastifyServerOptions) as unknown as FastifyInstance;

  const { maxTenants, maxClients, maxUnknownClients, maxUnknownTenants, unknownTenantLookupsPerSecond, maxTenantBytes, maxClientBytes, maxSigners, maxSignerBytes, serveStaleFor } = config.cache;
  const log = { info: (message: string) => app.log.info(message), warn: (message: string, error?: unknown) => app.log.warn({ err: error }, message) };
  // The embedded store's reads block the event loop: short pages. PostgreSQL's do not, and
  // each page there sorts the table (byte order is not the index's collation): one read.
  const directoryPage = store.kind === 'postgres' ? DIRECTORY_PAGE_POSTGRES : DIRECTORY_PAGE_SQLITE;
  const tenantDirectory = new TenantDirectory({ store, retryDelay: DIRECTORY_RETRY_DELAY, pageSize: directoryPage, log });
  const registry = new TenantRegistry({
    store,
    knownTenants: tenantDirectory,
    publicUrl: config.publicUrl,
    masterKey,
    now,
    limits: { maxTenants, maxClients, maxUnknownClients, maxUnknownTenants, unknownTenantLookupsPerSecond, maxTenantBytes, maxClientBytes, maxSigners, maxSignerBytes, serveStaleFor },
    // Cache hits, misses, loads, evictions and the feed's lag go to /metrics (docs/metrics.md).
    ...(options.cacheEvents !== undefined ? { events: options.cacheEvents } : metrics !== null ? { events: metrics } : {}),
  });
  const changeFeed = new ChangeFeed({
    store,
    registry,
    directory: tenantDirectory,
    pollInterval: config.cache.pollInterval,
    listen: config.cache.listen,
    batchSize: config.cache.feedBatchSize,
    retention: config.cache.feedRetention,
    log,
  });
  const keys = new KeyService({
    store,
    masterKey,
    now,
    policy: { rotationInterval: config.keys.rotationInterval, publishLeadTime: config.keys.publishLeadTime, maxTokenLifetime: config.tokens.maxLifetime },
  });
  const ctx: DomainContext = { store, state, keys, config, now };
  const usageRecorder = config.usage.enabled ? new UsageRecorder(store.usage(), now) : null;
  const usageRecording = usageRecorder ?? noUsageRecording;
  const issuer = new TokenIssuer(state, config.tokens.defaultLifetime, now, usageRecording);
  const dpop = new DpopTokenEndpoint({
    store: state,
    nonces: new NonceIssuer(masterKey.derive('dpop-nonce'), config.dpop.nonceWindow, now),
    now,
    proofMaxAge: config.dpop.proofMaxAge,
    clockTolerance: config.dpop.clockTolerance,
  });
  const inspector = new TokenInspector(state, now);
  const secretUsage = new SecretUsageTracker(store, now);
  // Every URL the server fetches goes through one policy and one bounded fetch.
  const outboundFetch = createOutboundFetch(new OutboundPolicy(config.outboundAllow));
  const clientKeys = new ClientKeys({ now, fetch: tracing !== null ? tracedFetch(tracing, outboundFetch) : outboundFetch });
  const federatedJwts = new FederatedJwtVerifier({ state, now, clockTolerance: config.clientAssertion.clockTolerance, fetch: outboundFetch });
  // RFC 8705 needs a client certificate: from our own TLS listener or a trusted proxy.
  const mtlsBaseUrl = config.tls !== null || config.trustedProxies.length > 0 ? (config.mtlsPublicUrl ?? config.publicUrl) : null;
  const authenticator = new ClientAuthenticator(
    [
      clientSecretBasic(secretUsage, config.clientAuth.secretMethods),
      clientSecretPost(secretUsage, config.clientAuth.secretMethods),
      privateKeyJwt({ store: state, keys: clientKeys, now, mtlsBaseUrl, usage: usageRecording, ...config.clientAssertion }),
    ],
    mtlsBaseUrl !== null ? [tlsClientAuth({ keys: clientKeys })] : [],
  );
  const protection = new Protection(config.rateLimit, now, metrics ?? undefined);
  const consoleSignIn = new ConsoleSignIn(store, registry, issuer, inspector, now, state);
  metrics?.watchSigningKeys({ store, rotationInterval: config.keys.rotationInterval, now });
  const timers: NodeJS.Timeout[] = [];
  let starting = options.startingUp === true;
  /** Background tasks under way: shutdown waits for them before the store closes. */
  const running = new Set<Promise<unknown>>();

  const grants = new GrantService(ctx);
  const usage = {
    recorder: usageRecorder,
    maintenance: new UsageMaintenance(store.usage(), config.usage.retention, now),
    reports: new UsageReports({
      store,
      usage: store.usage(),
      grants,
      issuer,
      retention: config.usage.retention,
      protectedGrants: { tenantId: defaults.management.adminTenant, audience: defaults.management.audience },
      now,
    }),
  };

  // Console sessions are tokens of the console's own client; its id never changes once bootstrap has set it.
  let consoleClient: string | null = null;
  const consoleClientId = async () => (consoleClient ??= await store.getMeta(CONSOLE_CLIENT_META));

  const tessera: Tessera = {
    config,
    store,
    state,
    registry,
    changeFeed,
    tenantDirectory,
    tenants: new TenantService(ctx),
    clients: new ClientService(ctx),
    apis: new ApiService(ctx),
    grants,
    keys,
    federations: new FederationService(ctx),
    consoleUsers: new ConsoleUserService({ store, now }),
    issuer,
    inspector,
    metrics,
    usage,
    bootstrap: (persist) => bootstrap(ctx, persist),
    markStarted() {
      starting = false;
    },
    startBackgroundTasks({ singletons = true } = {}) {
      const warn = (what: string) => (error: unknown) => app.log.warn({ err: error }, what);
      void changeFeed.start();
      const every = (ms: number, task: () => Promise<unknown>, what: string) => {
        const timer = setInterval(() => {
          const run = task().catch(warn(what));
          running.add(run);
          void run.finally(() => running.delete(run));
        }, ms);
        timer.unref();
        timers.push(timer);
      };
      every(10_000, () => secretUsage.flush(), 'recording secret use failed');
      if (usageRecorder !== null) every(config.usage.flushInterval, () => usageRecorder.flush(), 'writing usage counts failed');
      every(1000, () => protection.sync(state), 'sharing rate-limit counts failed');
      every(1000, () => consoleSignIn.sync(), 'sharing console sign-in counts failed');
      if (!singletons) return;
      // Once per host (worker 1); idempotent, so replicas on other hosts may run it too.
      every(config.usage.rollupInterval, () => usage.maintenance.run(), 'rolling up usage failed');
      every(config.keys.checkInterval, () => keys.runDueSchedule(), 'scheduled key rotation failed');
      every(10 * 60_000, () => state.purgeExpired(now()), 'purging expired tokens failed');
    },
  };
  app.decorate('tessera', tessera);
  // SQLite lock waits: counted, and a long one logged (as PostgreSQL's log_lock_waits does).
  options.store.observeLockWaits((connection, seconds) => {
    metrics?.lockWait(connection, seconds);
    if (seconds >= LONG_LOCK_WAIT_SECONDS) app.log.warn({ connection, ms: Math.round(seconds * 1000) }, 'a store connection waited long for a lock');
  });
  // Graceful shutdown: requests in flight when close() starts finish, and their
  // keep-alive connections end with them instead of holding the server open.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // A callback hook: no promise per request on the hot path.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('X-Request-Id', request.id);
    if (closing) reply.header('Connection', 'close');
    done(null, payload);
  });
  // The access log: one info line per request (a sampled fraction with --access-log-sample).
  // The path is logged without its query string, which could carry credentials.
  const sampleRate = config.accessLog.sampleRate;
  const debug = config.logLevel === 'debug';
  if (sampleRate > 0) {
    app.addHook('onResponse', (request, reply, done) => {
      if (sampleRate >= 1 || Math.random() < sampleRate) {
        const url = request.url;
        const query = url.indexOf('?');
        const path = query === -1 ? url : url.slice(0, query);
        // At debug level the query string is shown too, with credential-like values redacted.
        const ms = Math.round(reply.elapsedTime * 100) / 100;
        if (query !== -1 && debug) {
          request.log.info({ method: request.method, path, query: redactQuery(url).slice(path.length + 1), status: reply.statusCode, ms, ip: request.ip }, 'request');
        } else {
          request.log.info({ method: request.method, path, status: reply.statusCode, ms, ip: request.ip }, 'request');
        }
      }
      done();
    });
  }
  app.addHook('onClose', async () => {
    await changeFeed.stop();
    for (const timer of timers) clearInterval(timer);
    await Promise.allSettled([...running]);
    await secretUsage.flush().catch(() => {});
    await usageRecorder?.flush().catch((error: unknown) => app.log.warn({ err: error }, 'writing usage counts at shutdown failed'));
    await tracing?.shutdown().catch(() => {});
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tessera management API', version: '1.0.0', description: 'Tenants, clients, APIs, grants, keys, federations, the audit log and usage reports.' },
      servers: [{ url: `${config.publicUrl}/manage/v1` }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `An access token from ${config.publicUrl}/t/admin/token for audience urn:tessera:management` },
        },
      },
    },
    hideUntagged: true,
    transform: ({ schema, url }) => ({ schema, url: url.replace(/^\/manage\/v1/, '') }),
  });

  const workerLabel = options.worker !== undefined ? `${options.worker} (pid ${process.pid})` : null;
  app.get('/healthz', async (_request, reply) => {
    if (workerLabel !== null) reply.header('Tessera-Worker', workerLabel);
    return { status: 'ok' };
  });
  app.get('/readyz', async (_request, reply) => {
    const report = await readiness({ store, state, registry, changeFeed, maxFeedLag: config.cache.maxFeedLag });
    return reply.code(report.status === 'ready' ? 200 : 503).header('Cache-Control', 'no-store').send(report);
  });
  if (metrics !== null && config.metrics.port === null) {
    app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).header('Cache-Control', 'no-store').send(await metrics.text()));
  }

  await app.register(async (scope) => {
    await oauthRoutes(scope, {
      registry,
      authenticator,
      grants: [
        clientCredentials,
        jwtBearer(federatedJwts, { maxAssertionLifetime: config.federation.maxAssertionLifetime }),
        tokenExchange(federatedJwts, { lifetime: config.transactionTokens.lifetime, now }),
      ],
      issuer,
      inspector,
      usage: usageRecording,
      protection,
      metrics,
      tracing,
      publicUrl: config.publicUrl,
      bodyLimit: config.http.bodyLimit,
      jwksMaxAge: config.jwks.maxAge,
      trustedProxies: config.trustedProxies,
      clientCaConfigured: config.tls?.clientCa != null,
      metadata: { mtlsBaseUrl, mtlsEnabled: mtlsBaseUrl !== null },
      closing: () => closing,
      dpop,
      introspectionJwt: new IntrospectionJwtSigner(now),
    });
  });

  await app.register(async (scope) => {
    // Protection: a source address whose management requests failed authentication
    // too often waits (the same per-source counter as the token endpoint), and an
    // optional per-source request limit (--management-rate-limit).
    scope.addHook('onRequest', (request, reply, done) => {
      const wait = Math.max(protection.sourceBackoff(request.ip), protection.management(request.ip));
      if (wait > 0) {
        void reply.code(429).header('Retry-After', String(Math.ceil(wait))).send({ error: 'too_many_requests', message: 'too many requests from this address; retry later' });
        return;
      }
      done();
    });
    scope.addHook('onResponse', (request, reply, done) => {
      if (reply.statusCode === 401) protection.sourceFailed(request.ip);
      done();
    });
    scope.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    await managementRoutes(scope, {
      store,
      registry,
      inspector,
      tenants: tessera.tenants,
      clients: tessera.clients,
      apis: tessera.apis,
      grants: tessera.grants,
      keys,
      federations: tessera.federations,
      consoleUsers: tessera.consoleUsers,
      consoleClientId,
      usage: { reports: usage.reports, maxDays: Math.floor(config.usage.retention.days / 86_400_000) },
      adminTenant: defaults.management.adminTenant,
      audience: defaults.management.audience,
      trustedProxies: config.trustedProxies,
      clientCaConfigured: config.tls?.clientCa != null,
    });
  }, { prefix: '/manage/v1' });

  await app.register(async (scope) => {
    scope.setErrorHandler((error, request, reply) => {
      const status = (error as { statusCode?: number }).statusCode;
      if (typeof status === 'number' && status >= 400 && status < 500) return reply.code(status).send({ error: 'invalid_request', message: error instanceof Error ? error.message : 'invalid request' });
      request.log.error({ err: error }, 'unexpected error in the console');
      return reply.code(500).send({ error: 'server_error', message: 'unexpected error; see the server log' });
    });
    await consoleRoutes(scope, { signIn: consoleSignIn });
    const sso = config.consoleOidc === null ? null : new ConsoleSso({ settings: config.consoleOidc, store, fetch: outboundFetch, issueSession: (user) => consoleSignIn.issueSession(user), now });
    await consoleSsoRoutes(scope, { sso, publicUrl: config.publicUrl, headers: { 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer' } });
  });

  return app;
}

const STARTING_BODY = JSON.stringify({ error: 'temporarily_unavailable', error_description: 'Tessera is starting (first-start bootstrap in progress); retry in a moment' });

/**
 * The HTTP(S) server Fastify would make (same timeouts), answering every request 503
 * with `Retry-After: 1` while `starting()` says so, and handing each to Fastify after.
 */
function startingGate(starting: () => boolean, https: import('node:https').ServerOptions | null, config: ServerConfig): NonNullable<FastifyServerOptions['serverFactory']> {
  return (handler) => {
    const gated = (request: IncomingMessage, response: ServerResponse) => {
      if (!starting()) return handler(request, response);
      response.writeHead(503, ['Retry-After', '1', 'Cache-Control', 'no-store', 'Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(STARTING_BODY))]);
      response.end(STARTING_BODY);
    };
    const server = https !== null ? createHttpsServer({ ...https, ...serverTimeouts(config) }, gated) : createHttpServer(serverTimeouts(config), gated);
    // What Fastify sets on a server it makes itself (connectionTimeout, keepAliveTimeout, requestTimeout above).
    server.keepAliveTimeout = config.http.keepAliveTimeout;
    server.requestTimeout = config.http.requestTimeout;
    server.setTimeout(config.http.idleTimeout);
    return server;
  };
}

/** node:http server options that Fastify does not set itself. */
function serverTimeouts(config: ServerConfig): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  const { headersTimeout, requestTimeout } = config.http;
  return {
    // Node requires headersTimeout <= requestTimeout.
    headersTimeout: Math.min(headersTimeout, requestTimeout),
    requestTimeout,
    connectionsCheckingInterval: Math.min(1000, headersTimeout),
  };
}

interface ReadinessCheck {
  ok: boolean;
  reason?: string;
}

/** What /readyz reports: each check and, when one fails, why (SPEC §1). */
async function readiness(deps: { store: Store; state: StateStore; registry: TenantRegistry; changeFeed: ChangeFeed; maxFeedLag: number }): Promise<{ status: 'ready' | 'not ready'; reason?: string; checks: Record<string, ReadinessCheck> }> {
  const checks: Record<string, ReadinessCheck> = {};
  try {
    await deps.store.ping();
    checks['store'] = { ok: true };
  } catch {
    checks['store'] = { ok: false, reason: 'store unreachable' };
  }
  if (checks['store'].ok) {
    try {
      const admin = await deps.registry.get(defaults.management.adminTenant);
      checks['keys'] = admin === null || admin.activeKey === undefined ? { ok: false, reason: 'no signing keys yet' } : { ok: true };
    } catch {
      checks['keys'] = { ok: false, reason: 'signing keys cannot be loaded' };
    }
  } else {
    checks['keys'] = { ok: false, reason: 'not checked: the store is unreachable' };
  }
  // The state store in the registry's own database is covered by the store check; one of its own (Redis) is checked too.
  if (deps.state.kind !== deps.store.kind) {
    try {
      await deps.state.ping();
      checks['state'] = { ok: true };
    } catch (error) {
      // The reason names the state store and why (Redis down, say), never a credential.
      checks['state'] = { ok: false, reason: error instanceof StoreUnavailableError ? error.message : 'state store unreachable' };
    }
  }
  const lag = deps.changeFeed.lagSeconds();
  checks['feed'] = lag === null || lag <= deps.maxFeedLag ? { ok: true } : { ok: false, reason: `change feed ${Math.round(lag)} s behind (more than ${deps.maxFeedLag} s)` };
  const failed = Object.values(checks).find((c) => !c.ok);
  return failed === undefined ? { status: 'ready', checks } : { status: 'not ready', reason: failed.reason as string, checks };
}
