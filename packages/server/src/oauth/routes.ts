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
import { type GrantHandler, tokenResponseJson } from './grants/types.js';
import { authorizationServerMetadata, type MetadataOptions } from './metadata.js';
import { clientCertificateOf, type PresentedCertificate } from './mtls.js';
import { Params, parseForm, UNSUPPORTED_BODY } from './params.js';
import type { OutcomeListener, ProtocolEndpoint, ProtocolOutcome } from './outcome.js';
import { usageRefusals } from './usage-refusals.js';
import type { Protection } from './protection.js';
import type { Metrics } from '../observability/metrics.js';
import { senderConstrainedIssuer } from './dpop/issuer.js';
import type { DpopTokenEndpoint } from './dpop/token-endpoint.js';
import { INTROSPECTION_JWT_MEDIA_TYPE, type IntrospectionJwtSigner, wantsIntrospectionJwt } from './introspection-jwt.js';
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
  /** True once the server is shutting down: responses then end their keep-alive connection. */
  closing: () => boolean;
  /** DPoP proofs of token requests (RFC 9449). */
  dpop: DpopTokenEndpoint;
  /** RFC 9701 signed introspection answers. */
  introspectionJwt: IntrospectionJwtSigner;
}

type TenantRequest = FastifyRequest<{ Params: { tenant: string } }>;

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;
/** RFC 6749 §5.1: every token, introspection and revocation response; built once, not per request. */
const PROTOCOL_HEADERS: readonly string[] = ['Cache-Control', 'no-store', 'Pragma', 'no-cache', 'Content-Type', 'application/json; charset=utf-8'];
const NO_PARAMS = new Params(undefined);

/** What a protocol request has become so far: its outcome, filled in step by step and reported once. */
interface Attempt extends ProtocolOutcome {
  started: number;
  credentials: PresentedCredentials;
  /** Headers every answer to this request carries, success or error (DPoP-Nonce). */
  responseHeaders: Record<string, string> | null;
}

export async function oauthRoutes(app: FastifyInstance, deps: OAuthDependencies): Promise<void> {
  const grantsByType = new Map(deps.grants.map((g) => [g.grantType, g]));
  const metadataOptions: MetadataOptions = {
    ...deps.metadata,
    grantTypes: [...grantsByType.keys()],
    authMethods: deps.authenticator.supportedMethods,
  };
  // The issuer for requests without a DPoP proof: one for all of them, not one per request.
  const unboundIssuer = senderConstrainedIssuer(deps.issuer, null);
  // Who learns how each protocol request ended, each in one place.
  const listeners: OutcomeListener[] = [deps.protection, usageRefusals(deps.usage), ...(deps.metrics !== null ? [deps.metrics] : [])];

  // Only form bodies are accepted; anything else is parsed into a marker so the
  // endpoint can answer invalid_request instead of Fastify's 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: deps.bodyLimit }, (_req, body, done) => {
    done(null, parseForm(body as string));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.bodyLimit }, (_req, _body, done) => {
    done(null, UNSUPPORTED_BODY);
  });
  // Errors before a route's handler runs (an unreadable body, an unknown path).
  app.setErrorHandler((error, request, reply) => sendOAuthError(reply, toOAuthError(error, request)));
  app.setNotFoundHandler((_request, reply) => sendOAuthError(reply, new NotFound('no such endpoint')));

  async function tenantOf(request: TenantRequest): Promise<TenantContext> {
    const tenant = await deps.registry.get(request.params.tenant);
    if (tenant === null) throw new NotFound(`no tenant ${JSON.stringify(request.params.tenant)}`);
    return tenant;
  }

  function authRequestOf(request: TenantRequest, tenant: TenantContext, params: Params, credentials: PresentedCredentials, endpoint: string): ClientAuthRequest {
    return new ProtocolAuthRequest(request, tenant, params, credentials, endpoint, deps);
  }

  function attemptOf(endpoint: ProtocolEndpoint, request: TenantRequest): Attempt {
    return {
      endpoint,
      started: performance.now(),
      tenant: null,
      source: request.ip,
      params: null,
      credentials: new PresentedCredentials(request.headers.authorization, NO_PARAMS),
      client: null,
      grantType: undefined,
      error: null,
      authenticationFailure: null,
      seconds: 0,
      responseHeaders: null,
    };
  }

  /** The request's form and tenant: the first steps of every protocol endpoint. */
  async function begin(attempt: Attempt, request: TenantRequest): Promise<{ params: Params; tenant: TenantContext }> {
    const params = new Params(request.body);
    attempt.params = params;
    attempt.credentials = new PresentedCredentials(request.headers.authorization, params);
    // tenantOf's lookup written out: one async call less per request.
    const tenant = await deps.registry.get(request.params.tenant);
    if (tenant === null) throw new NotFound(`no tenant ${JSON.stringify(request.params.tenant)}`);
    attempt.tenant = tenant;
    return { params, tenant };
  }

  /**
   * Client authentication with back-off (SPEC §1): a source address, or a source
   * address for the client it claims, that failed too often gets 429 before its
   * credentials are looked at. A failure is recorded on the attempt; the outcome's
   * listeners count it (protection, metrics) and log it.
   */
  async function authenticate(attempt: Attempt, request: TenantRequest, tenant: TenantContext, params: Params, optional = false): Promise<AuthenticatedClient | null> {
    const { credentials } = attempt;
    const wait = deps.protection.authBackoff(tenant.tenant.id, request.ip, credentials);
    if (wait > 0) throw new TooManyRequests(wait, 'too many failed client authentications; retry later');
    const authRequest = authRequestOf(request, tenant, params, credentials, attempt.endpoint);
    try {
      const client = optional ? await deps.authenticator.authenticateIfPresented(authRequest) : await deps.authenticator.authenticate(authRequest);
      attempt.client = client;
      return client;
    } catch (error) {
      if (error instanceof InvalidClient) attempt.authenticationFailure = { method: deps.authenticator.methodOf(authRequest) };
      throw error;
    }
  }

  /** Reports the attempt's outcome to every listener, once. */
  function finish(attempt: Attempt, request: TenantRequest, error: OAuthError | null): void {
    attempt.error = error;
    attempt.seconds = (performance.now() - attempt.started) / 1000;
    if (attempt.authenticationFailure !== null && error !== null) {
      request.log.info(
        { event: 'client_authentication_failed', tenant: attempt.tenant?.tenant.id, endpoint: attempt.endpoint, clientId: attempt.credentials.claimedClientId, method: attempt.authenticationFailure.method, reason: error.description, ip: attempt.source },
        'client authentication failed',
      );
    }
    for (const listener of listeners) listener.outcome(attempt);
  }

  /**
   * The response of a protocol endpoint, written directly with the pre-built header
   * set: no serializer lookup and no onSend hook (X-Request-Id and, while shutting
   * down, Connection: close are added here). The access log's onResponse still runs.
   */
  function sendJson(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    body: string,
    extra: Record<string, string> | null = null,
    more: Record<string, string> | null = null,
  ): FastifyReply {
    // One array literal of the final size for the usual answer (no spread, no rest parameter).
    const headers = [
      PROTOCOL_HEADERS[0], PROTOCOL_HEADERS[1], PROTOCOL_HEADERS[2], PROTOCOL_HEADERS[3], PROTOCOL_HEADERS[4], PROTOCOL_HEADERS[5],
      'Content-Length', String(Buffer.byteLength(body)), 'X-Request-Id', request.id,
    ] as string[];
    if (extra !== null) for (const name in extra) headers.push(name, extra[name] as string);
    if (more !== null) for (const name in more) headers.push(name, more[name] as string);
    if (deps.closing()) headers.push('Connection', 'close');
    reply.hijack();
    reply.raw.writeHead(status, headers);
    reply.raw.end(body);
    return reply;
  }

  function refuse(attempt: Attempt, request: TenantRequest, reply: FastifyReply, error: unknown): FastifyReply {
    const oauthError = toOAuthError(error, request);
    return refuseWith(attempt, request, reply, oauthError);
  }

  function refuseWith(attempt: Attempt, request: TenantRequest, reply: FastifyReply, oauthError: OAuthError): FastifyReply {
    finish(attempt, request, oauthError);
    return sendJson(request, reply, oauthError.status, JSON.stringify(oauthError.toJSON()), attempt.responseHeaders, oauthError.headers);
  }

  app.post<{ Params: { tenant: string } }>('/t/:tenant/token', async (request, reply) => {
    const span = deps.tracing?.startSpan('POST /t/{tenant}/token') ?? null;
    const attempt = attemptOf('token', request);
    try {
      const { params, tenant } = await begin(attempt, request);
      const grantType = params.require('grant_type');
      attempt.grantType = grantType;
      const grant = grantsByType.get(grantType);
      if (grant === undefined) throw new UnsupportedGrantType(`grant_type ${JSON.stringify(grantType)} is not supported`);
      const client = await authenticate(attempt, request, tenant, params, grant.clientAuthentication === 'optional');
      const rateLimit = (quotaClient: Client) => {
        const retryAfter = deps.protection.quota(tenant.tenant, quotaClient);
        if (retryAfter > 0) throw new TooManyRequests(retryAfter);
      };
      // A grant without client authentication (jwt-bearer) counts once it knows the client.
      if (client !== null) rateLimit(client.client);
      // RFC 9449 §5: a proof binds the token to its key (and mTLS-authenticated clients too).
      // Awaited only with a proof: without one the answer is at hand.
      const pendingDpop = deps.dpop.tokenRequest(tenant, request.headers, deps.metadata.mtlsBaseUrl);
      const dpop = pendingDpop instanceof Promise ? await pendingDpop : pendingDpop;
      // RFC 9449 §8: the next nonce goes with this answer, a token or an error.
      if (dpop.nonce !== null) attempt.responseHeaders = { 'DPoP-Nonce': dpop.nonce };
      const issuer = dpop.binding === null ? unboundIssuer : senderConstrainedIssuer(deps.issuer, dpop.binding);
      const response = await grant.handle({ tenant, params, client, issuer, inspector: deps.inspector, rateLimit });
      if (dpop.binding !== null && response.token_type === 'Bearer') response.token_type = 'DPoP';
      finish(attempt, request, null);
      return sendJson(request, reply, 200, tokenResponseJson(response), attempt.responseHeaders);
    } catch (error) {
      const oauthError = toOAuthError(error, request);
      span?.set('oauth.error', oauthError.error);
      return refuseWith(attempt, request, reply, oauthError);
    } finally {
      if (span !== null) {
        if (attempt.tenant !== null) span.set('tessera.tenant', attempt.tenant.tenant.id);
        if (attempt.grantType !== undefined) span.set('oauth.grant_type', attempt.grantType);
        span.end();
      }
    }
  });

  /** Introspection and revocation start alike: an authenticated caller and the `token` it asks about. */
  async function tokenRequest(attempt: Attempt, request: TenantRequest) {
    const { params, tenant } = await begin(attempt, request);
    const caller = (await authenticate(attempt, request, tenant, params)) as AuthenticatedClient;
    const token = params.require('token');
    params.get('token_type_hint'); // may be sent once; tokens are found whatever it says
    return { tenant, caller, found: await deps.inspector.inspect(tenant, token) };
  }

  // RFC 7662 §2: a caller learns about a token only if it is the token's client or
  // one of its API's introspectors; everything else is {"active": false}.
  app.post<{ Params: { tenant: string } }>('/t/:tenant/introspect', async (request, reply) => {
    const attempt = attemptOf('introspect', request);
    try {
      const { tenant, caller, found } = await tokenRequest(attempt, request);
      const answer = introspectionAnswer(tenant, caller, found);
      // RFC 9701 §4: the same answer as a JWT signed by the tenant, when asked for.
      if (wantsIntrospectionJwt(request.headers.accept)) {
        const jwt = await deps.introspectionJwt.sign(tenant, caller.client.clientId, answer);
        finish(attempt, request, null);
        return reply.headers(NO_STORE).type(INTROSPECTION_JWT_MEDIA_TYPE).send(jwt);
      }
      finish(attempt, request, null);
      return sendJson(request, reply, 200, answer.active === false ? INACTIVE : JSON.stringify(answer));
    } catch (error) {
      return refuse(attempt, request, reply, error);
    }
  });

  function introspectionAnswer(tenant: TenantContext, caller: AuthenticatedClient, found: Awaited<ReturnType<TokenInspector['inspect']>>): Record<string, unknown> {
    if (found === null) return { active: false };
    const { claims } = found;
    const api = tenant.apisByIdentifier.get(claims.aud);
    const mayKnow = claims.client_id === caller.client.clientId || (api?.introspectors.includes(caller.client.clientId) ?? false);
    if (!mayKnow) return { active: false };
    // RFC 9449 §6.2: a DPoP-bound token is introspected as token_type DPoP, with its cnf.
    return { active: true, token_type: claims.cnf?.jkt !== undefined ? 'DPoP' : 'Bearer', ...claims };
  }

  // RFC 7009 §2: revoke our own tokens; unknown or invalid tokens get 200 all the same.
  app.post<{ Params: { tenant: string } }>('/t/:tenant/revoke', async (request, reply) => {
    const attempt = attemptOf('revoke', request);
    try {
      const { tenant, caller, found } = await tokenRequest(attempt, request);
      if (found !== null) {
        if (found.claims.client_id !== caller.client.clientId) {
          throw new UnauthorizedClient('the token was not issued to this client (RFC 7009 §2.1)');
        }
        await deps.inspector.revoke(tenant, found);
      }
      finish(attempt, request, null);
      return reply.headers(NO_STORE).send();
    } catch (error) {
      return refuse(attempt, request, reply, error);
    }
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

const INACTIVE = JSON.stringify({ active: false });

/**
 * What client authentication sees of a protocol request. The certificate is read (and
 * a forwarded one parsed) only if a method asks for it: client_secret_* and
 * private_key_jwt never do. A class rather than an object literal with a getter, which
 * V8 builds slowly, with a closure, on every request.
 */
class ProtocolAuthRequest implements ClientAuthRequest {
  #certificate: PresentedCertificate | null | undefined;

  constructor(
    readonly request: TenantRequest,
    readonly tenant: TenantContext,
    readonly params: Params,
    readonly credentials: PresentedCredentials,
    readonly endpoint: string,
    readonly deps: Pick<OAuthDependencies, 'trustedProxies' | 'clientCaConfigured'>,
  ) {}

  get certificate(): PresentedCertificate | null {
    this.#certificate ??= clientCertificateOf(this.request.raw.socket, this.request.headers, this.deps.trustedProxies, this.deps.clientCaConfigured);
    return this.#certificate;
  }

  get endpointUrl(): string {
    return `${this.tenant.issuer}/${this.endpoint}`;
  }
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

/** What a client is told about an error; the request's log gets the details. */
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
