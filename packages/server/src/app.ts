/**
 * The composition root: builds the Fastify app and every service from a config and
 * a store. Never listens (main.ts does), so tests inject requests into it.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { ServerConfig } from './config/config.js';
import { defaults } from './config/defaults.js';
import type { MasterKey } from './crypto/master-key.js';
import { serializeRequest } from './logging.js';
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
import { RateLimiter } from './oauth/rate-limit.js';
import { oauthRoutes } from './oauth/routes.js';
import { createOutboundFetch } from './outbound/fetch.js';
import { OutboundPolicy } from './outbound/policy.js';
import type { Store } from './store/types.js';

export interface AppOptions {
  config: ServerConfig;
  store: Store;
  masterKey: MasterKey;
  /** The clock, in epoch milliseconds; tests freeze it. */
  now?: () => number;
  /** Where log lines go (pino, JSON lines); standard output by default. */
  logStream?: NodeJS.WritableStream;
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
  const { config, store, masterKey } = options;
  const now = options.now ?? Date.now;
  const app = Fastify({
    logger: {
      level: config.logLevel,
      // Credentials never reach a log line, even if a serializer starts logging headers.
      redact: { paths: ['req.headers.authorization', 'req.headers["x-client-cert"]', 'req.headers.cookie'], remove: true },
      // Query strings may carry a credential a client should not have put there.
      serializers: { req: serializeRequest },
      ...(options.logStream !== undefined ? { stream: options.logStream } : {}),
    },
    // One log line per request only at debug level: the token endpoint serves tens of thousands a second.
    logController: new LogController({ disableRequestLogging: config.logLevel !== 'debug' }),
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
    ...(options.cacheEvents !== undefined ? { events: options.cacheEvents } : {}),
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
  const clientKeys = new ClientKeys({ now, fetch: outboundFetch });
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
  const rateLimiter = new RateLimiter(config.rateLimit.tokenRequestsPerWindow, config.rateLimit.windowSeconds, now);
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
      if (rateLimiter.enabled) every(1000, () => rateLimiter.sync(store), 'sharing rate-limit counts failed');
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
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('Connection', 'close');
    done(null, payload);
  });
  app.addHook('onClose', async () => {
    await changeFeed.stop();
    for (const timer of timers) clearInterval(timer);
    await Promise.allSettled([...running]);
    await secretUsage.flush().catch(() => {});
    await usageRecorder?.flush().catch((error: unknown) => app.log.warn({ err: error }, 'writing usage counts at shutdown failed'));
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
    try {
      await store.ping();
    } catch {
      return reply.code(503).send({ status: 'not ready', reason: 'store unreachable' });
    }
    try {
      const admin = await registry.get(defaults.management.adminTenant);
      if (admin === null || admin.signer === null) return reply.code(503).send({ status: 'not ready', reason: 'no signing keys yet' });
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'not ready', reason: 'signing keys cannot be loaded' });
    }
  });

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
      rateLimiter,
      usage: usageRecording,
      publicUrl: config.publicUrl,
      bodyLimit: config.http.bodyLimit,
      jwksMaxAge: config.jwks.maxAge,
      trustedProxies: config.trustedProxies,
      clientCaConfigured: config.tls?.clientCa != null,
      metadata: { mtlsBaseUrl, mtlsEnabled: mtlsBaseUrl !== null },
    });
  });

  await app.register(async (scope) => {
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
    await consoleRoutes(scope, { signIn: new ConsoleSignIn(store, registry, issuer, now) });
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
