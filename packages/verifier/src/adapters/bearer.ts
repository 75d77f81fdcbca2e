/**
 * What every adapter shares: reading the bearer token from a request (RFC 6750 §2) and
 * answering a failure with the exact status, `WWW-Authenticate` challenge (RFC 6750 §3)
 * and a JSON body `{ error, error_description }`.
 *
 * Framework types are structural on purpose: the package imports no framework.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AccessTokenClaims, CertificateInput, ScopeRequirement } from '../claims.js';
import { InsufficientScopeError, InvalidRequestError, MissingTokenError, VerifierError } from '../errors.js';
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
  let headerToken: string | undefined;
  const header = request.headers.authorization;
  if (header !== undefined) {
    // Node keeps only the first of repeated Authorization headers; rawHeaders shows them all.
    if (countAuthorizationHeaders(request) > 1) throw new InvalidRequestError('the request has more than one Authorization header');
    const match = CREDENTIALS.exec(header.trim());
    if (match === null) throw new InvalidRequestError('the Authorization header is malformed');
    if (match[1]?.toLowerCase() === 'bearer') {
      const credentials = match[2];
      if (credentials === undefined || !B64TOKEN.test(credentials)) {
        throw new InvalidRequestError('the Bearer credentials are not a b64token (RFC 6750 §2.1)');
      }
      headerToken = credentials;
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
  return token;
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

/** The status, headers and body that answer `error` (any thrown value) on a protected route. */
export function errorResponse(error: unknown, realm: string): ErrorResponse {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (!(error instanceof VerifierError)) {
    return { status: 500, headers, body: { error: 'server_error', error_description: 'The request could not be authorized' } };
  }
  const description = PUBLIC_DESCRIPTIONS[error.code];
  if (error.status === 503) {
    headers['retry-after'] = '5';
    return { status: 503, headers, body: { error: 'temporarily_unavailable', error_description: description } };
  }
  let challenge = `Bearer realm=${quote(realm)}`;
  if (error.bearerError !== null) {
    challenge += `, error=${quote(error.bearerError)}, error_description=${quote(description)}`;
    if (error instanceof InsufficientScopeError) challenge += `, scope=${quote(error.requiredScopes.join(' '))}`;
  }
  headers['www-authenticate'] = challenge;
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
    const token = extractBearerToken(request, body);
    const certificate = options.certificate ? options.certificate(request) : peerCertificate(request);
    return verifier.verify(token, { scopes: options.scopes, anyScopes: options.anyScopes, certificate });
  } catch (error) {
    // A throwing `certificate` option, too, becomes an answer rather than an uncaught exception.
    return Promise.reject(error);
  }
}

export function realmOf(verifier: Verifier, options: AuthOptions): string {
  return options.realm ?? verifier.audiences[0] ?? 'api';
}
