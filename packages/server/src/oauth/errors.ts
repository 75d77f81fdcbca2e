/**
 * One class per OAuth error code (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8693 §2.2.2,
 * RFC 8707 §2). Each carries its HTTP status and a description safe to show the
 * client; anything unexpected becomes `server_error` with a generic description.
 */
export abstract class OAuthError extends Error {
  abstract readonly error: string;
  readonly status: number = 400;
  /** Extra response headers (WWW-Authenticate, Retry-After). */
  headers: Record<string, string> = {};

  constructor(readonly description: string) {
    super(description);
  }

  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

export class InvalidRequest extends OAuthError {
  readonly error = 'invalid_request';
}

export class InvalidClient extends OAuthError {
  readonly error = 'invalid_client';
  override readonly status = 401;

  /** RFC 6749 §5.2: a client that used the Authorization header gets a matching challenge. */
  static withChallenge(description: string, scheme: 'Basic' | null, realm: string): InvalidClient {
    const error = new InvalidClient(description);
    if (scheme !== null) error.headers['WWW-Authenticate'] = scheme === 'Basic' ? basicChallenge(realm) : `${scheme} realm="${realm}"`;
    return error;
  }
}

/** `Basic realm="<issuer>", charset="UTF-8"` (RFC 7617 §2, §2.1). */
export function basicChallenge(realm: string): string {
  return `Basic realm="${realm.replace(/["\\]/g, '')}", charset="UTF-8"`;
}

export class InvalidGrant extends OAuthError {
  readonly error = 'invalid_grant';
}

export class UnauthorizedClient extends OAuthError {
  readonly error = 'unauthorized_client';
}

export class UnsupportedGrantType extends OAuthError {
  readonly error = 'unsupported_grant_type';
}

export class InvalidScope extends OAuthError {
  readonly error = 'invalid_scope';
}

export class InvalidTarget extends OAuthError {
  readonly error = 'invalid_target';
}

export class UnsupportedTokenType extends OAuthError {
  readonly error = 'unsupported_token_type';
}

export class TooManyRequests extends OAuthError {
  readonly error = 'slow_down';
  override readonly status = 429;
  constructor(retryAfterSeconds: number, description = 'too many requests for this client; retry later') {
    super(description);
    this.headers['Retry-After'] = String(Math.max(1, Math.ceil(retryAfterSeconds)));
  }
}

export class TemporarilyUnavailable extends OAuthError {
  readonly error = 'temporarily_unavailable';
  override readonly status = 503;
  constructor(description = 'the authorization server cannot reach its store; retry shortly') {
    super(description);
    this.headers['Retry-After'] = '1';
  }
}

export class ServerError extends OAuthError {
  readonly error = 'server_error';
  override readonly status = 500;
  constructor() {
    super('the authorization server encountered an unexpected condition');
  }
}

export class NotFound extends OAuthError {
  readonly error = 'not_found';
  override readonly status = 404;
}

/** RFC 9449 §5, §7.1: a DPoP proof that is missing where required, malformed, replayed or for another request. */
export class InvalidDpopProof extends OAuthError {
  readonly error = 'invalid_dpop_proof';
}

/** RFC 9449 §8: the proof must carry the nonce the server provides in `DPoP-Nonce`. */
export class UseDpopNonce extends OAuthError {
  readonly error = 'use_dpop_nonce';
  constructor(nonce: string, description = 'the authorization server requires a DPoP nonce: resend the proof with the nonce in DPoP-Nonce (RFC 9449 §8)') {
    super(description);
    this.headers['DPoP-Nonce'] = nonce;
  }
}
