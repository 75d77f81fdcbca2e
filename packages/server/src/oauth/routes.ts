/**
 * The protocol endpoints of every tenant (SPEC §2): token, introspection,
 * revocation, discovery and JWKS. Each endpoint is a short pipeline of named steps.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TenantContext, TenantRegistry } from '../domain/tenant-context.js';
import type { TokenInspector, TokenIssuer } from '../domain/tokens.js';
import type { UsageRecording } from '../domain/usage.js';
import { StoreUnavailableError } from '../store/errors.js';
import type { Client } from '../store/types.js';
import type { ClientAuthenticator } from './client-auth/index.js';
import { PresentedCredentials } from './client-auth/presented-credentials.js';
import type { AuthenticatedClient, ClientAuthRequest } from './client-auth/types.js';
import {
  InvalidClient,
  InvalidRequest,
  NotFound,
  OAuthError,
  ServerError,
  TemporarilyUnavailable,
  TooManyRequests,
  UnauthorizedClient,
  UnsupportedGrantType,
} from './errors.js';
import type { GrantHandler } from './grants/types.js';
import { authorizationServerMetadata, type MetadataOptions } from './metadata.js';
import { clientCertificateOf, type PresentedCertificate } from './mtls.js';
import { Params, parseForm, UNSUPPORTED_BODY } from './params.js';
import { recordRefusal, rememberTenant } from './usage-refusals.js';
import type { Protection } from './protection.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';

export interface OAuthDependencies {
  registry: TenantRegistry;
  authenticator: ClientAuthenticator;
  grants: readonly GrantHandler[];
  issuer: TokenIssuer;
  inspector: TokenInspector;
  /** Counts refused token requests (docs/usage.md). */
  usage: UsageRecording;
  protection: Protection;
  /** Null when metrics are off. */
  metrics: Metrics | null;
  /** Null unless OTEL_* variables configure tracing. */
  tracing: Tracing | null;
  publicUrl: string;
  bodyLimit: number;
  jwksMaxAge: number;
  trustedProxies: readonly string[];
  clientCaConfigured: boolean;
  metadata: Omit<MetadataOptions, 'grantTypes' | 'authMethods'>;
}

type TenantRequest = FastifyRequest<{ Params: { tenant: string } }>;

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

export async function oauthRoutes(app: FastifyInstance, deps: OAuthDependencies): Promise<void> {
  const grantsByType = new Map(deps.grants.map((g) => [g.grantType, g]));
  const metadataOptions: MetadataOptions = {
    ...deps.metadata,
    grantTypes: [...grantsByType.keys()],
    authMethods: deps.authenticator.supportedMethods,
  };

  // Only form bodies are accepted; anything else is parsed into a marker so the
  // endpoint can answer invalid_request instead of Fastify's 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: deps.bodyLimit }, (_req, body, done) => {
    done(null, parseForm(body as string));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.bodyLimit }, (_req, _body, done) => {
    done(null, UNSUPPORTED_BODY);
  });
  app.setErrorHandler((error, request, reply) => {
    const oauthError = toOAuthError(error, request);
    recordRefusal(deps.usage, request, oauthError);
    return sendOAuthError(reply, oauthError);
  });
  app.setNotFoundHandler((_request, reply) => sendOAuthError(reply, new NotFound('no such endpoint')));

  async function tenantOf(request: TenantRequest): Promise<TenantContext> {
    const tenant = await deps.registry.get(request.params.tenant);
    if (tenant === null) throw new NotFound(`no tenant ${JSON.stringify(request.params.tenant)}`);
    rememberTenant(request, tenant);
    return tenant;
  }

  function authRequestOf(request: TenantRequest, tenant: TenantContext, params: Params, credentials: PresentedCredentials, endpoint: string): ClientAuthRequest {
    // The certificate is read (and a forwarded one parsed) only if a method asks for it:
    // client_secret_* and private_key_jwt never do.
    let certificate: PresentedCertificate | null | undefined;
    return {
      tenant,
      params,
      credentials,
      get certificate() {
        certificate ??= clientCertificateOf(request.raw.socket, request.headers, deps.trustedProxies, deps.clientCaConfigured);
        return certificate;
      },
      endpointUrl: `${tenant.issuer}/${endpoint}`,
    };
  }

  /**
   * Client authentication with back-off (SPEC §1): a source address, or a source
   * address for the client it claims, that failed too often gets 429 before its
   * credentials are looked at; every invalid_client counts as a failure.
   */
  async function authenticate(request: TenantRequest, tenant: TenantContext, params: Params, endpoint: string, optional = false): Promise<AuthenticatedClient | null> {
    const credentials = new PresentedCredentials(request.headers.authorization, params);
    const wait = deps.protection.authBackoff(tenant.tenant.id, request.ip, credentials);
    if (wait > 0) throw new TooManyRequests(wait, 'too many failed client authentications; retry later');
    const authRequest = authRequestOf(request, tenant, params, credentials, endpoint);
    try {
      return optional ? await deps.authenticator.authenticateIfPresented(authRequest) : await deps.authenticator.authenticate(authRequest);
    } catch (error) {
      if (error instanceof InvalidClient) {
        const clientId = credentials.claimedClientId;
        request.log.info({ event: 'client_authentication_failed', tenant: tenant.tenant.id, endpoint, clientId, method: deps.authenticator.methodOf(authRequest), reason: error.description, ip: request.ip }, 'client authentication failed');
        // A wrong secret is what can be guessed: it counts for the client too. Other
        // failures (assertions, certificates) count for the source address only.
        deps.protection.authFailed(tenant.tenant.id, credentials.presentsSecret ? clientId : null, request.ip);
        deps.metrics?.clientAuthFailed(tenant.tenant.id, endpoint);
      }
      throw error;
    }
  }

  app.post<{ Params: { tenant: string } }>('/t/:tenant/token', async (request, reply) => {
    const started = performance.now();
    const span = deps.tracing?.startSpan('POST /t/{tenant}/token') ?? null;
    let tenantId: string | null = null;
    let grantType: string | undefined;
    try {
      const params = new Params(request.body);
      const tenant = await tenantOf(request);
      tenantId = tenant.tenant.id;
      grantType = params.require('grant_type');
      const grant = grantsByType.get(grantType);
      if (grant === undefined) throw new UnsupportedGrantType(`grant_type ${JSON.stringify(grantType)} is not supported`);
      const client = await authenticate(request, tenant, params, 'token', grant.clientAuthentication === 'optional');
      const rateLimit = (quotaClient: Client) => {
        const retryAfter = deps.protection.quota(tenant.tenant, quotaClient);
        if (retryAfter > 0) throw new TooManyRequests(retryAfter);
      };
      // A grant without client authentication (jwt-bearer) counts once it knows the client.
      if (client !== null) rateLimit(client.client);
      const response = await grant.handle({ tenant, params, client, issuer: deps.issuer, inspector: deps.inspector, rateLimit });
      deps.metrics?.tokenIssued(tenantId, grantType, client?.method ?? 'none', (performance.now() - started) / 1000);
      return reply.headers(NO_STORE).send(response);
    } catch (error) {
      const code = error instanceof OAuthError ? error.error : error instanceof StoreUnavailableError ? 'temporarily_unavailable' : 'server_error';
      deps.metrics?.tokenRefused(tenantId, grantType, code, (performance.now() - started) / 1000);
      span?.set('oauth.error', code);
      throw error;
    } finally {
      if (span !== null) {
        if (tenantId !== null) span.set('tessera.tenant', tenantId);
        if (grantType !== undefined) span.set('oauth.grant_type', grantType);
        span.end();
      }
    }
  });

  /** Introspection and revocation start alike: an authenticated caller and the `token` it asks about. */
  async function tokenRequest(request: TenantRequest, endpoint: 'introspect' | 'revoke') {
    const params = new Params(request.body);
    const tenant = await tenantOf(request);
    const caller = (await authenticate(request, tenant, params, endpoint)) as AuthenticatedClient;
    const token = params.require('token');
    params.get('token_type_hint'); // may be sent once; tokens are found whatever it says
    return { tenant, caller, found: await deps.inspector.inspect(tenant, token) };
  }

  // RFC 7662 §2: a caller learns about a token only if it is the token's client or
  // one of its API's introspectors; everything else is {"active": false}.
  app.post<{ Params: { tenant: string } }>('/t/:tenant/introspect', async (request, reply) => {
    const { tenant, caller, found } = await tokenRequest(request, 'introspect');
    reply.headers(NO_STORE);
    if (found === null) return { active: false };
    const { claims } = found;
    const api = tenant.apisByIdentifier.get(claims.aud);
    const mayKnow = claims.client_id === caller.client.clientId || (api?.introspectors.includes(caller.client.clientId) ?? false);
    if (!mayKnow) return { active: false };
    return { active: true, token_type: 'Bearer', ...claims };
  });

  // RFC 7009 §2: revoke our own tokens; unknown or invalid tokens get 200 all the same.
  app.post<{ Params: { tenant: string } }>('/t/:tenant/revoke', async (request, reply) => {
    const { tenant, caller, found } = await tokenRequest(request, 'revoke');
    if (found !== null) {
      if (found.claims.client_id !== caller.client.clientId) {
        throw new UnauthorizedClient('the token was not issued to this client (RFC 7009 §2.1)');
      }
      await deps.inspector.revoke(tenant, found);
    }
    return reply.headers(NO_STORE).send();
  });

  for (const path of ['/t/:tenant/token', '/t/:tenant/introspect', '/t/:tenant/revoke']) {
    app.route<{ Params: { tenant: string } }>({
      method: ['GET', 'PUT', 'DELETE', 'PATCH'],
      url: path,
      handler: async (_request, reply) => {
        reply.header('Allow', 'POST');
        return sendOAuthError(reply, new InvalidRequestWithStatus('this endpoint accepts POST only', 405));
      },
    });
  }

  const metadataRoute = async (request: TenantRequest, reply: FastifyReply) => {
    const tenant = await tenantOf(request);
    reply.header('Cache-Control', `public, max-age=${deps.jwksMaxAge}`);
    return authorizationServerMetadata(tenant, metadataOptions);
  };
  app.get('/t/:tenant/.well-known/openid-configuration', metadataRoute);
  app.get('/t/:tenant/.well-known/oauth-authorization-server', metadataRoute);
  // RFC 8414 §3: the well-known segment goes between host and issuer path.
  app.get('/.well-known/oauth-authorization-server/t/:tenant', metadataRoute);
  app.get('/.well-known/openid-configuration/t/:tenant', metadataRoute);

  app.get<{ Params: { tenant: string } }>('/t/:tenant/jwks.json', async (request, reply) => {
    const tenant = await tenantOf(request);
    reply.header('Cache-Control', `public, max-age=${deps.jwksMaxAge}`);
    reply.header('ETag', tenant.jwks.etag);
    reply.type('application/jwk-set+json');
    if (request.headers['if-none-match'] === tenant.jwks.etag) return reply.code(304).send();
    return reply.send(tenant.jwks.body);
  });
}

/** An invalid_request whose HTTP status says more than 400 does (405, 413). */
class InvalidRequestWithStatus extends InvalidRequest {
  constructor(
    description: string,
    override readonly status: number,
  ) {
    super(description);
  }
}

function toOAuthError(error: unknown, request: FastifyRequest): OAuthError {
  if (error instanceof OAuthError) return error;
  if (error instanceof StoreUnavailableError) {
    request.log.warn({ err: error }, 'store unavailable');
    return new TemporarilyUnavailable();
  }
  const status = (error as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new InvalidRequestWithStatus(clientErrorDescription(error as { code?: string; message: string }), status === 415 ? 400 : status);
  }
  request.log.error({ err: error }, 'unexpected error at a protocol endpoint');
  return new ServerError();
}

function clientErrorDescription(error: { code?: string; message: string }): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'the request body is too large';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'the Content-Length does not match the body';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'the request body must be application/x-www-form-urlencoded';
    default:
      return 'the request could not be read';
  }
}

export function sendOAuthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  return reply
    .code(error.status)
    .headers({ ...NO_STORE, ...error.headers })
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(error.toJSON()));
}
