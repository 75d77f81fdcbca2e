/**
 * The composition root: builds the Fastify app and every service from a config and
 * a store. Never listens (main.ts does), so tests inject requests into it.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { ServerConfig } from './config/config.js';
import { defaults } from './config/defaults.js';
import type { MasterKey } from './crypto/master-key.js';
import { ApiService } from './domain/apis.js';
import { ChangeFeed } from './domain/change-feed.js';
import { type BootstrapResult, bootstrap } from './domain/bootstrap.js';
import { ClientService } from './domain/clients.js';
import { ConsoleSignIn } from './domain/console.js';
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
import { createOutboundFetch } from './outbound/fetch.js';
import { OutboundPolicy } from './outbound/policy.js';
import { redactQuery } from './logging.js';
import { createLogger, requestIdOf } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { instrumentStore } from './observability/store-instrumentation.js';
import { startTracing, tracedFetch, type Tracing } from './observability/tracing.js';
import type { Store } from './store/types.js';

export interface AppOptions {
  config: ServerConfig;
  store: Store;
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
  registry: TenantRegistry;
  /** Follows the change feed: the one owner of registry invalidation. */
  changeFeed: ChangeFeed;
  tenants: TenantService;
  clients: ClientService;
  apis: ApiService;
  grants: GrantService;
  keys: KeyService;
  federations: FederationService;
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
   * out the tasks that need to run once per data directory: key rotation and purges.
   */
  startBackgroundTasks(options?: { singletons?: boolean }): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    tessera: Tessera;
  }
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config, masterKey } = options;
  const now = options.now ?? Date.now;
  const metrics = config.metrics.enabled ? new Metrics({ maxTenantLabels: config.metrics.maxTenantLabels }) : null;
  // Tracing costs nothing unless OTEL_* variables configure it: the SDK is not even imported.
  const tracing: Tracing | null = await startTracing(options.env ?? process.env);
  const store = metrics !== null || tracing !== null ? instrumentStore(options.store, metrics ?? { query() {}, error() {} }, tracing) : options.store;
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(config.logLevel, options.logStream),
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
  } as FastifyServerOptions) as unknown as FastifyInstance;

  const { maxTenants, maxClients, maxUnknownClients, serveStaleFor } = config.cache;
  const registry = new TenantRegistry({
    store,
    publicUrl: config.publicUrl,
    masterKey,
    now,
    limits: { maxTenants, maxClients, maxUnknownClients, serveStaleFor },
    // Cache hits, misses, loads, evictions and the feed's lag go to /metrics (docs/metrics.md).
    ...(options.cacheEvents !== undefined ? { events: options.cacheEvents } : metrics !== null ? { events: metrics } : {}),
  });
  const changeFeed = new ChangeFeed({
    store,
    registry,
    pollInterval: config.cache.pollInterval,
    listen: config.cache.listen,
    batchSize: config.cache.feedBatchSize,
    retention: config.cache.feedRetention,
    log: { info: (message) => app.log.info(message), warn: (message, error) => app.log.warn({ err: error }, message) },
  });
  const keys = new KeyService({
    store,
    masterKey,
    now,
    policy: { rotationInterval: config.keys.rotationInterval, publishLeadTime: config.keys.publishLeadTime, maxTokenLifetime: config.tokens.maxLifetime },
  });
  const ctx: DomainContext = { store, keys, config, now };
  const usageRecorder = config.usage.enabled ? new UsageRecorder(store.usage(), now) : null;
  const usageRecording = usageRecorder ?? noUsageRecording;
  const issuer = new TokenIssuer(store, config.tokens.defaultLifetime, now, usageRecording);
  const inspector = new TokenInspector(store, now);
  const secretUsage = new SecretUsageTracker(store, now);
  // Every URL the server fetches goes through one policy and one bounded fetch.
  const outboundFetch = createOutboundFetch(new OutboundPolicy(config.outboundAllow));
  const clientKeys = new ClientKeys({ now, fetch: tracing !== null ? tracedFetch(tracing, outboundFetch) : outboundFetch });
  const federatedJwts = new FederatedJwtVerifier({ store, now, clockTolerance: config.clientAssertion.clockTolerance, fetch: outboundFetch });
  // RFC 8705 needs a client certificate: from our own TLS listener or a trusted proxy.
  const mtlsBaseUrl = config.tls !== null || config.trustedProxies.length > 0 ? (config.mtlsPublicUrl ?? config.publicUrl) : null;
  const authenticator = new ClientAuthenticator(
    [
      clientSecretBasic(secretUsage, config.clientAuth.secretMethods),
      clientSecretPost(secretUsage, config.clientAuth.secretMethods),
      privateKeyJwt({ store, keys: clientKeys, now, mtlsBaseUrl, usage: usageRecording, ...config.clientAssertion }),
    ],
    mtlsBaseUrl !== null ? [tlsClientAuth({ keys: clientKeys })] : [],
  );
  const protection = new Protection(config.rateLimit, now, metrics ?? undefined);
  const consoleSignIn = new ConsoleSignIn(store, registry, issuer, inspector, now);
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

  const tessera: Tessera = {
    config,
    store,
    registry,
    changeFeed,
    tenants: new TenantService(ctx),
    clients: new ClientService(ctx),
    apis: new ApiService(ctx),
    grants,
    keys,
    federations: new FederationService(ctx),
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
      every(config.usage.rollupInterval, () => usage.maintenance.run(), 'rolling up usage failed');
      every(1000, () => protection.sync(store), 'sharing rate-limit counts failed');
      every(1000, () => consoleSignIn.sync(), 'sharing console sign-in counts failed');
      if (!singletons) return;
      every(config.keys.checkInterval, () => keys.runDueSchedule(), 'scheduled key rotation failed');
      every(10 * 60_000, () => store.purgeExpired(now()), 'purging expired tokens failed');
    },
  };
  app.decorate('tessera', tessera);
  if (starting) {
    // A callback hook, and only while starting matters: one boolean test per request.
    app.addHook('onRequest', (_request, reply, done) => {
      if (!starting) return done();
      void reply
        .code(503)
        .header('retry-after', '1')
        .header('cache-control', 'no-store')
        .send({ error: 'temporarily_unavailable', error_description: 'Tessera is starting (first-start bootstrap in progress); retry in a moment' });
    });
  }
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
        const shown = query !== -1 && debug ? { query: redactQuery(url).slice(path.length + 1) } : {};
        request.log.info({ method: request.method, path, ...shown, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100, ip: request.ip }, 'request');
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
    const report = await readiness({ store, registry, changeFeed, maxFeedLag: config.cache.maxFeedLag });
    return reply.code(report.status === 'ready' ? 200 : 503).header('Cache-Control', 'no-store').send(report);
  });
  if (metrics !== null && config.metrics.port === null) {
    app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).header('Cache-Control', 'no-store').send(await metrics.registry.metrics()));
  }

  await app.register(async (scope) => {
    await oauthRoutes(scope, {
      registry,
      authenticator,
      grants: [
        clientCredentials,
        jwtBearer(federatedJwts, { maxAssertionLifetime: config.federation.maxAssertionLifetime }),
        tokenExchange(federatedJwts),
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
  });

  return app;
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
async function readiness(deps: { store: Store; registry: TenantRegistry; changeFeed: ChangeFeed; maxFeedLag: number }): Promise<{ status: 'ready' | 'not ready'; reason?: string; checks: Record<string, ReadinessCheck> }> {
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
      checks['keys'] = admin === null || admin.signer === null ? { ok: false, reason: 'no signing keys yet' } : { ok: true };
    } catch {
      checks['keys'] = { ok: false, reason: 'signing keys cannot be loaded' };
    }
  } else {
    checks['keys'] = { ok: false, reason: 'not checked: the store is unreachable' };
  }
  const lag = deps.changeFeed.lagSeconds();
  checks['feed'] = lag === null || lag <= deps.maxFeedLag ? { ok: true } : { ok: false, reason: `change feed ${Math.round(lag)} s behind (more than ${deps.maxFeedLag} s)` };
  const failed = Object.values(checks).find((c) => !c.ok);
  return failed === undefined ? { status: 'ready', checks } : { status: 'not ready', reason: failed.reason as string, checks };
}
