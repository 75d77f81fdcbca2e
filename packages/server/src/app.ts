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
import { type BootstrapResult, bootstrap } from './domain/bootstrap.js';
import { ClientService } from './domain/clients.js';
import { ConsoleSignIn } from './domain/console.js';
import type { DomainContext } from './domain/context.js';
import { FederationService } from './domain/federations.js';
import { GrantService } from './domain/grants.js';
import { KeyService } from './domain/keys.js';
import { SecretUsageTracker } from './domain/secret-usage.js';
import { TenantRegistry } from './domain/tenant-context.js';
import { TenantService } from './domain/tenants.js';
import { TokenInspector, TokenIssuer } from './domain/tokens.js';
import { consoleRoutes } from './manage/console.js';
import { managementRoutes } from './manage/routes.js';
import { ClientAuthenticator } from './oauth/client-auth/index.js';
import { clientSecretBasic, clientSecretPost } from './oauth/client-auth/client-secret.js';
import { ClientKeys } from './oauth/client-auth/client-keys.js';
import { privateKeyJwt } from './oauth/client-auth/private-key-jwt.js';
import { tlsClientAuth } from './oauth/client-auth/tls-client-auth.js';
import { clientCredentials } from './oauth/grants/client-credentials.js';
import { jwtBearer } from './oauth/grants/jwt-bearer.js';
import { tokenExchange } from './oauth/grants/token-exchange.js';
import { RateLimiter } from './oauth/rate-limit.js';
import { oauthRoutes } from './oauth/routes.js';
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
}

export interface Tessera {
  config: ServerConfig;
  store: Store;
  registry: TenantRegistry;
  tenants: TenantService;
  clients: ClientService;
  apis: ApiService;
  grants: GrantService;
  keys: KeyService;
  federations: FederationService;
  issuer: TokenIssuer;
  inspector: TokenInspector;
  /** First-start bootstrap; null when the store was bootstrapped before. */
  bootstrap(): Promise<BootstrapResult | null>;
  /** Polling for changes made by other replicas, scheduled key rotation, purges. */
  startBackgroundTasks(): void;
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
    ...(options.https ? { https: options.https } : {}),
  } as FastifyServerOptions) as unknown as FastifyInstance;

  const registry = new TenantRegistry({ store, publicUrl: config.publicUrl, masterKey, now });
  const keys = new KeyService({
    store,
    masterKey,
    now,
    policy: { rotationInterval: config.keys.rotationInterval, publishLeadTime: config.keys.publishLeadTime, maxTokenLifetime: config.tokens.maxLifetime },
  });
  const ctx: DomainContext = { store, registry, keys, config, now };
  const issuer = new TokenIssuer(store, config.tokens.defaultLifetime, now);
  const inspector = new TokenInspector(store, now);
  const secretUsage = new SecretUsageTracker(store, now);
  const clientKeys = new ClientKeys({ now });
  // RFC 8705 needs a client certificate: from our own TLS listener or a trusted proxy.
  const mtlsBaseUrl = config.tls !== null || config.trustedProxies.length > 0 ? (config.mtlsPublicUrl ?? config.publicUrl) : null;
  const authenticator = new ClientAuthenticator(
    [clientSecretBasic(secretUsage), clientSecretPost(secretUsage), privateKeyJwt({ store, keys: clientKeys, now, mtlsBaseUrl, ...config.clientAssertion })],
    mtlsBaseUrl !== null ? [tlsClientAuth({ keys: clientKeys })] : [],
  );
  const rateLimiter = new RateLimiter(config.rateLimit.tokenRequestsPerWindow, config.rateLimit.windowSeconds, now);
  const timers: NodeJS.Timeout[] = [];
  /** Background tasks under way: shutdown waits for them before the store closes. */
  const running = new Set<Promise<unknown>>();

  const tessera: Tessera = {
    config,
    store,
    registry,
    tenants: new TenantService(ctx),
    clients: new ClientService(ctx),
    apis: new ApiService(ctx),
    grants: new GrantService(ctx),
    keys,
    federations: new FederationService(ctx),
    issuer,
    inspector,
    bootstrap: () => bootstrap(ctx),
    startBackgroundTasks() {
      const warn = (what: string) => (error: unknown) => app.log.warn({ err: error }, what);
      registry.startPolling(config.cache.pollInterval, warn('polling the store for changes failed'));
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
      if (rateLimiter.enabled) every(1000, () => rateLimiter.sync(store), 'sharing rate-limit counts failed');
      every(config.keys.checkInterval, async () => {
        const tenants = await store.listTenants();
        await keys.runSchedule(tenants.map((t) => t.id));
      }, 'scheduled key rotation failed');
      every(10 * 60_000, () => store.purgeExpired(now()), 'purging expired tokens failed');
    },
  };
  app.decorate('tessera', tessera);
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
    registry.stopPolling();
    for (const timer of timers) clearInterval(timer);
    await Promise.allSettled([...running]);
    await secretUsage.flush().catch(() => {});
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tessera management API', version: '1.0.0', description: 'Tenants, clients, APIs, grants, keys, federations and the audit log.' },
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

  app.get('/healthz', async () => ({ status: 'ok' }));
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
      grants: [clientCredentials, jwtBearer({ clockTolerance: config.clientAssertion.clockTolerance, now }), tokenExchange],
      issuer,
      inspector,
      rateLimiter,
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
    await consoleRoutes(scope, { signIn: new ConsoleSignIn(store, registry, issuer, inspector, now) });
  });

  return app;
}
