import type { Dispatcher } from 'undici';
import type { Clock } from '../runtime.js';

export type ClientAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'private_key_jwt'
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth';

/** What a strategy needs to authenticate one token endpoint request. */
export interface ClientAuthContext {
  clientId: string;
  /** The configured issuer identifier. */
  issuer: string;
  /** The URL the request goes to (after any mTLS alias has been applied). */
  tokenEndpoint: string;
  clock: Clock;
}

/**
 * A client authentication method as a value (oauth4webapi style): build one with
 * `clientSecretBasic(secret)`, `clientSecretPost(secret)`, `privateKeyJwt(key)` or
 * `tlsClientAuth({ cert, key })` and pass it as `auth`.
 */
export interface ClientAuth {
  readonly method: ClientAuthMethod;
  /** Adds credentials to an outgoing token endpoint request (headers and/or form body). */
  apply(context: ClientAuthContext, headers: Headers, body: URLSearchParams): void | Promise<void>;
  /** For mTLS: the undici dispatcher that presents the client certificate. */
  readonly dispatcher?: Dispatcher;
  /** Releases resources the strategy owns (the mTLS connection pool). */
  close?(): Promise<void>;
}
