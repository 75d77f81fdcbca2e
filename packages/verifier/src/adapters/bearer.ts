/**
 * What every adapter shares: reading the access token from a request (RFC 6750 §2, or
 * `Authorization: DPoP` with its proof, RFC 9449 §7) and answering a failure with the
 * exact status, `WWW-Authenticate` challenges (RFC 6750 §3, RFC 9449 §7.1, with
 * `resource_metadata` per RFC 9728 §5.1) and a JSON body `{ error, error_description }`.
 *
 * Framework types are structural on purpose: the package imports no framework.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AccessTokenClaims, CertificateInput, ScopeRequirement } from '../claims.js';
import type { DpopPresentation } from '../dpop.js';
import { DpopNonceRequiredError, DpopProofInvalidError, InsufficientScopeError, InvalidRequestError, MissingTokenError, VerifierError } from '../errors.js';
import type { VerifierErrorCode } from '../errors.js';
import type { Verifier } from '../verify.js';

export interface AuthOptions extends ScopeRequirement {
  /** `realm` of the challenge. Default: the verifier's first audience. */
  realm?: string;
  /**
   * The client certificate for certificate-bound tokens. Default: the TLS peer certificate
   * of the connection, if any. Behind a TLS-terminating proxy, read it from the header
   * your proxy sets (and make sure clients cannot set that header themselves).
   */
  certificate?: (request: IncomingMessage) => CertificateInput | null | undefined;
  /** Called with every failure (details for logs; the client only sees the generic description). */
  onError?: (error: unknown, request: IncomingMessage) => void;
  /**
   * The external base URL of this service (`https://api.example.com`), for the `htu` a
   * DPoP proof must name when the service runs behind a proxy or under another host name.
   */
  publicUrl?: string;
  /**
   * Behind a reverse proxy you trust: take the external scheme and host for `htu` from
   * `X-Forwarded-Proto` / `X-Forwarded-Host` (or `Forwarded`). Never enable it where
   * clients can reach the service directly. Default false.
   */
  trustProxy?: boolean;
  /** RFC 9728 §5.1: the URL of this resource's metadata, added as `resource_metadata` to every 401 challenge. */
  resourceMetadata?: string;
  /**
   * Answer a request without a token with a DPoP challenge (`algs`) besides the Bearer
   * one (RFC 9449 §7.1), so clients learn that DPoP is accepted. Default false: one
   * Bearer challenge, as RFC 6750 clients expect.
   */
  announceDpop?: boolean;
}

export interface RequestLike {
  headers: IncomingHttpHeaders;
  rawHeaders?: string[];
  method?: string | undefined;
  url?: string | undefined;
}

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** RFC 9110 §11.1: auth-scheme [ 1*SP ( token68 / auth-params ) ]. */
const CREDENTIALS = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +(.*))?$/;

function countAuthorizationHeaders(request: RequestLike): number {
  const raw = request.rawHeaders;
  if (raw === undefined) return request.headers.authorization === undefined ? 0 : 1;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.length === 13 && raw[i]?.toLowerCase() === 'authorization') count++;
  return count;
}

/**
 * The bearer token of a request, from the Authorization header (§2.1) or a form body
 * (§2.2, when the framework parsed one). Throws MissingTokenError when there is none and
 * InvalidRequestError when the request is ambiguous or malformed (§3.1 invalid_request).
 */
export function extractBearerToken(request: RequestLike, body?: unknown): string {
  return extractAccessToken(request, body, false).token;
}

/**
 * The access token of a request and the scheme it came with: Bearer (RFC 6750 §2) or,
 * when `dpop` is true, `Authorization: DPoP <token>` (RFC 9449 §7.1).
 */
export function extractAccessToken(request: RequestLike, body: unknown, dpop: boolean): { token: string; scheme: 'Bearer' | 'DPoP' } {
  let headerToken: string | undefined;
  let scheme: 'Bearer' | 'DPoP' = 'Bearer';
  const header = request.headers.authorization;
  if (header !== undefined) {
    // Node keeps only the first of repeated Authorization headers; rawHeaders shows them all.
    if (countAuthorizationHeaders(request) > 1) throw new InvalidRequestError('the request has more than one Authorization header');
    const match = CREDENTIALS.exec(header.trim());
    if (match === null) throw new InvalidRequestError('the Authorization header is malformed');
    const presented = match[1]?.toLowerCase();
    if (presented === 'bearer' || (dpop && presented === 'dpop')) {
      const credentials = match[2];
      if (credentials === undefined || !B64TOKEN.test(credentials)) {
        throw new InvalidRequestError(`the ${match[1]} credentials are not a token68 (RFC 6750 §2.1, RFC 9449 §7.1)`);
      }
      headerToken = credentials;
      if (presented === 'dpop') scheme = 'DPoP';
    }
    // Another scheme is "an unsupported authentication method": no credentials (§3.1).
  }

  const bodyToken = formBodyToken(request, body);
  if (request.url !== undefined && request.url.includes('access_token=')) {
    const query = new URL(request.url, 'http://localhost').searchParams;
    if (query.has('access_token')) {
      throw new InvalidRequestError('access tokens in the URI query are not accepted (RFC 6750 §2.3); use the Authorization header');
    }
  }
  if (headerToken !== undefined && bodyToken !== undefined) {
    throw new InvalidRequestError('the request carries a token both in the Authorization header and in the body (RFC 6750 §2)');
  }
  const token = headerToken ?? bodyToken;
  if (token === undefined) throw new MissingTokenError('the request has no bearer token');
  return { token, scheme };
}

/**
 * The URL the client addressed, for `htu` (RFC 9449 §4.3): `publicUrl` when given, else
 * the forwarded scheme and host from a trusted proxy, else the connection's. The path is
 * the original one (Express rewrites `req.url` inside routers; `originalUrl` is kept).
 */
export function requestUrl(request: IncomingMessage, options: Pick<AuthOptions, 'publicUrl' | 'trustProxy'>): string {
  const path = (request as IncomingMessage & { originalUrl?: string }).originalUrl ?? request.url ?? '/';
  if (options.publicUrl !== undefined) return `${options.publicUrl.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`;
  const socket = request.socket as Partial<TLSSocket> | undefined;
  let protocol = socket?.encrypted === true ? 'https' : 'http';
  let host = request.headers.host ?? 'localhost';
  if (options.trustProxy === true) {
    const forwarded = parseForwarded(request.headers['forwarded']);
    const proto = forwarded.proto ?? firstValue(request.headers['x-forwarded-proto']);
    const forwardedHost = forwarded.host ?? firstValue(request.headers['x-forwarded-host']);
    if (proto === 'http' || proto === 'https') protocol = proto;
    if (forwardedHost !== undefined && /^[A-Za-z0-9.\-:[\]]+$/.test(forwardedHost)) host = forwardedHost;
  }
  return `${protocol}://${host}${path.startsWith('/') ? path : `/${path}`}`;
}

function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const first = value?.split(',')[0]?.trim();
  return first === '' ? undefined : first?.toLowerCase();
}

/** RFC 7239: the first hop's `proto` and `host`. */
function parseForwarded(header: string | string[] | undefined): { proto?: string; host?: string } {
  const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0];
  if (first === undefined) return {};
  const result: { proto?: string; host?: string } = {};
  for (const pair of first.split(';')) {
    const [name, raw] = pair.split('=');
    const value = raw?.trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (value === undefined) continue;
    if (name?.trim().toLowerCase() === 'proto') result.proto = value;
    if (name?.trim().toLowerCase() === 'host') result.host = value;
  }
  return result;
}

/**
 * RFC 6750 §2.2: `access_token` in an application/x-www-form-urlencoded body of a request
 * whose method has a body. Other bodies are the application's business: a JSON field that
 * happens to be called access_token is not a credential.
 */
function formBodyToken(request: RequestLike, body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('access_token' in body)) return undefined;
  const contentType = request.headers['content-type'] ?? '';
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType) || request.method === 'GET') return undefined;
  const value = (body as { access_token: unknown }).access_token;
  if (typeof value !== 'string' || !B64TOKEN.test(value)) throw new InvalidRequestError('the body access_token is not one b64token');
  return value;
}

/** The TLS client certificate of the connection, DER, or undefined on plain HTTP. */
export function peerCertificate(request: IncomingMessage): Buffer | undefined {
  const socket = request.socket as Partial<TLSSocket> | undefined;
  if (socket?.encrypted !== true || typeof socket.getPeerCertificate !== 'function') return undefined;
  const certificate = socket.getPeerCertificate();
  return certificate !== null && Buffer.isBuffer(certificate.raw) ? certificate.raw : undefined;
}

/**
 * The `error_description` clients see: fixed per code, never derived from the token or
 * the request, so nothing can be injected and no detail leaks. The full message is in
 * the error passed to `onError`.
 */
const PUBLIC_DESCRIPTIONS: Record<VerifierErrorCode, string> = {
  ERR_MALFORMED: 'The access token is malformed',
  ERR_TYP_INVALID: 'The token is not an access token',
  ERR_ALG_NOT_ALLOWED: 'The access token is signed with an algorithm that is not accepted',
  ERR_KID_UNKNOWN: 'The access token is signed with an unknown key',
  ERR_SIGNATURE_INVALID: 'The access token signature is invalid',
  ERR_ISSUER_MISMATCH: 'The access token was issued by an issuer that is not trusted',
  ERR_AUDIENCE_MISMATCH: 'The access token is not meant for this API',
  ERR_TOKEN_EXPIRED: 'The access token expired',
  ERR_TOKEN_NOT_YET_VALID: 'The access token is not valid yet',
  ERR_CLAIM_INVALID: 'The access token has an invalid claim',
  ERR_CNF_MISMATCH: 'The access token is bound to a different client certificate',
  ERR_DPOP_REQUIRED: 'The access token is DPoP-bound and must be sent with the DPoP scheme and a proof',
  ERR_DPOP_UNBOUND: 'The access token is not DPoP-bound',
  ERR_DPOP_PROOF_INVALID: 'The DPoP proof is invalid',
  ERR_DPOP_NONCE_REQUIRED: 'The resource server requires a DPoP nonce',
  ERR_TOKEN_INACTIVE: 'The access token is not active',
  ERR_INSUFFICIENT_SCOPE: 'The access token does not have the scope this request requires',
  ERR_INVALID_REQUEST: 'The request is malformed',
  ERR_TOKEN_MISSING: 'The request has no access token',
  ERR_DISCOVERY_FAILED: 'The authorization server could not be reached',
  ERR_JWKS_UNAVAILABLE: 'The authorization server could not be reached',
  ERR_INTROSPECTION_FAILED: 'The authorization server could not be reached',
};

/** RFC 9110 quoted-string: backslash-escape `"` and `\`; control characters cannot be sent at all. */
export function quote(value: string): string {
  return `"${value.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '').replace(/["\\]/g, '\\$&')}"`;
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
}

/** What shapes the challenges besides the error: see `challengeOptions`. */
export interface ChallengeOptions {
  /** The proof algorithms accepted (`algs`); null or absent when DPoP is off. */
  dpopAlgorithms?: readonly string[] | null;
  /** The scheme the request used; a DPoP request is answered with a DPoP challenge. */
  scheme?: 'Bearer' | 'DPoP';
  /** RFC 9728 §5.1 `resource_metadata`, in every 401 challenge. */
  resourceMetadata?: string;
  /** Add a DPoP challenge to the Bearer one when the request had no token. */
  announceDpop?: boolean;
}

/**
 * The status, headers and body that answer `error` (any thrown value) on a protected
 * route. Challenges: Bearer (RFC 6750 §3) for a Bearer request, DPoP (RFC 9449 §7.1,
 * with `algs`) for a DPoP request or a proof error, both when the request had no token
 * and `announceDpop` is set.
 */
export function errorResponse(error: unknown, realm: string, challengeOptions: ChallengeOptions = {}): ErrorResponse {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (!(error instanceof VerifierError)) {
    return { status: 500, headers, body: { error: 'server_error', error_description: 'The request could not be authorized' } };
  }
  const description = PUBLIC_DESCRIPTIONS[error.code];
  if (error.status === 503) {
    headers['retry-after'] = '5';
    return { status: 503, headers, body: { error: 'temporarily_unavailable', error_description: description } };
  }
  let params = `realm=${quote(realm)}`;
  if (error.bearerError !== null) {
    params += `, error=${quote(error.bearerError)}, error_description=${quote(description)}`;
    if (error instanceof InsufficientScopeError) params += `, scope=${quote(error.requiredScopes.join(' '))}`;
  }
  if (error.status === 401 && challengeOptions.resourceMetadata !== undefined) params += `, resource_metadata=${quote(challengeOptions.resourceMetadata)}`;
  const algorithms = challengeOptions.dpopAlgorithms ?? null;
  const dpopError = error instanceof DpopProofInvalidError || error instanceof DpopNonceRequiredError;
  const dpopChallenge = algorithms !== null ? `DPoP ${params}, algs=${quote(algorithms.join(' '))}` : null;
  const bearerChallenge = `Bearer ${params}`;
  if (dpopChallenge !== null && (dpopError || challengeOptions.scheme === 'DPoP')) headers['www-authenticate'] = dpopChallenge;
  else if (dpopChallenge !== null && error instanceof MissingTokenError && challengeOptions.announceDpop === true) headers['www-authenticate'] = `${bearerChallenge}, ${dpopChallenge}`;
  else headers['www-authenticate'] = bearerChallenge;
  if (error instanceof DpopNonceRequiredError) headers['dpop-nonce'] = error.nonce;
  return {
    status: error.status,
    headers,
    // No token: the challenge carries no error code (§3.1); the body still needs a name.
    body: { error: error.bearerError ?? 'unauthorized', error_description: description },
  };
}

/** Writes an ErrorResponse with plain node:http calls (also what Express responses are). */
export function writeErrorResponse(res: ServerResponse, response: ErrorResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(response.body);
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(payload));
  res.end(payload);
}

/**
 * Extract, verify, and either resolve to the claims or reject; the adapters only differ
 * in how they answer. Not `async`: one promise fewer per request on the hot path.
 */
export function authorize(
  verifier: Verifier,
  request: IncomingMessage,
  body: unknown,
  options: AuthOptions,
): Promise<Readonly<AccessTokenClaims>> {
  try {
    const { token, scheme } = extractAccessToken(request, body, verifier.dpopAlgorithms !== null);
    const certificate = options.certificate ? options.certificate(request) : peerCertificate(request);
    const dpop: DpopPresentation = { scheme, proof: dpopProofOf(request), method: request.method ?? 'GET', url: requestUrl(request, options) };
    return verifier.verify(token, { scopes: options.scopes, anyScopes: options.anyScopes, certificate, dpop });
  } catch (error) {
    // A throwing `certificate` option, too, becomes an answer rather than an uncaught exception.
    return Promise.reject(error);
  }
}

/** The request's one `DPoP` header (RFC 9449 §4.3 check 1: more than one is an invalid proof). */
function dpopProofOf(request: IncomingMessage): string | undefined {
  const header = request.headers['dpop'];
  if (header === undefined) return undefined;
  if (Array.isArray(header) || header.includes(',')) throw new DpopProofInvalidError('ERR_DPOP_MALFORMED', 'the request has more than one DPoP header (RFC 9449 §4.3)');
  return header.trim();
}

/** The challenge options of a failed request: the verifier's DPoP algorithms, the scheme used, the metadata URL. */
export function challengeOptions(verifier: Verifier, options: AuthOptions, request: RequestLike): ChallengeOptions {
  const scheme = /^\s*dpop\s/i.test(request.headers.authorization ?? '') ? 'DPoP' : 'Bearer';
  return {
    dpopAlgorithms: verifier.dpopAlgorithms,
    scheme,
    announceDpop: options.announceDpop === true,
    ...(options.resourceMetadata !== undefined ? { resourceMetadata: options.resourceMetadata } : {}),
  };
}

export function realmOf(verifier: Verifier, options: AuthOptions): string {
  return options.realm ?? verifier.audiences[0] ?? 'api';
}
