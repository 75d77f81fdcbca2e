/**
 * Every error this package throws is a `TokenClientError` with a stable `code`.
 * Callers switch on `code` (or `instanceof`), never on the message text.
 */

export type TokenClientErrorCode =
  | 'ERR_OAUTH_ERROR'
  | 'ERR_HTTP_STATUS'
  | 'ERR_RESPONSE_FORMAT'
  | 'ERR_NETWORK'
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_DISCOVERY'
  | 'ERR_ISSUER_MISMATCH'
  | 'ERR_CONFIGURATION';

export abstract class TokenClientError extends Error {
  abstract readonly code: TokenClientErrorCode;
  /** Whether retrying the same request later may succeed (network errors, 5xx, 429). */
  readonly retryable: boolean = false;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Fields shared by errors that come from an HTTP response. */
interface ResponseDetails {
  status: number;
  /** The raw `Retry-After` header, if the server sent one. */
  retryAfter?: string | undefined;
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * The authorization server answered with an RFC 6749 §5.2 error body
 * (`invalid_client`, `invalid_scope`, `invalid_target`, `temporarily_unavailable`, ...).
 */
export class OAuthError extends TokenClientError {
  readonly code = 'ERR_OAUTH_ERROR' as const;
  override readonly retryable: boolean;
  /** The `error` code from the server, e.g. `invalid_client`. */
  readonly error: string;
  readonly error_description: string | undefined;
  readonly error_uri: string | undefined;
  readonly status: number;
  readonly retryAfter: string | undefined;

  constructor(
    body: { error: string; error_description?: string | undefined; error_uri?: string | undefined },
    details: ResponseDetails,
  ) {
    super(
      body.error_description
        ? `${body.error}: ${body.error_description}`
        : `authorization server returned ${body.error}`,
    );
    this.error = body.error;
    this.error_description = body.error_description;
    this.error_uri = body.error_uri;
    this.status = details.status;
    this.retryAfter = details.retryAfter;
    this.retryable = isRetryableStatus(details.status);
  }
}

/** A non-2xx response that is not an RFC 6749 §5.2 error body (an HTML 502 from a proxy, say). */
export class HttpStatusError extends TokenClientError {
  readonly code = 'ERR_HTTP_STATUS' as const;
  override readonly retryable: boolean;
  readonly status: number;
  readonly retryAfter: string | undefined;

  constructor(message: string, details: ResponseDetails) {
    super(message);
    this.status = details.status;
    this.retryAfter = details.retryAfter;
    this.retryable = isRetryableStatus(details.status);
  }
}

/** A 2xx response whose body is not what the RFC requires (not JSON, missing `access_token`, ...). */
export class ResponseFormatError extends TokenClientError {
  readonly code = 'ERR_RESPONSE_FORMAT' as const;
  readonly status: number;

  constructor(message: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

/** The request never got an HTTP response (connection refused, reset, DNS, TLS handshake). */
export class NetworkError extends TokenClientError {
  readonly code = 'ERR_NETWORK' as const;
  override readonly retryable = true;
}

/** An attempt or the whole operation (all retries included) ran out of time. */
export class TimeoutError extends TokenClientError {
  readonly code = 'ERR_TIMEOUT' as const;
  override readonly retryable: boolean;

  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options);
    this.retryable = options.retryable;
  }
}

/** The caller's `AbortSignal` fired. */
export class AbortError extends TokenClientError {
  readonly code = 'ERR_ABORTED' as const;
}

/** The discovery document could not be fetched or is not valid RFC 8414 metadata. */
export class DiscoveryError extends TokenClientError {
  readonly code = 'ERR_DISCOVERY' as const;
  override readonly retryable: boolean;
  readonly status: number | undefined;
  readonly retryAfter: string | undefined;

  constructor(
    message: string,
    options: { cause?: unknown; retryable?: boolean; status?: number; retryAfter?: string | undefined } = {},
  ) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable ?? false;
    this.status = options.status;
    this.retryAfter = options.retryAfter;
  }
}

/** The discovery document names a different issuer than the one configured (RFC 8414 §3.3). */
export class IssuerMismatchError extends TokenClientError {
  readonly code = 'ERR_ISSUER_MISMATCH' as const;
  readonly expected: string;
  readonly actual: unknown;

  constructor(expected: string, actual: unknown) {
    super(`discovery document issuer ${JSON.stringify(actual)} does not equal the configured issuer ${JSON.stringify(expected)}`);
    this.expected = expected;
    this.actual = actual;
  }
}

/** The options given to this package are invalid (a public key for private_key_jwt, a bad URL, ...). */
export class ConfigurationError extends TokenClientError {
  readonly code = 'ERR_CONFIGURATION' as const;
}
