/**
 * How a request to a protocol endpoint ended: one outcome per request (issued, or
 * refused with its reason, the client it claimed, the API it named and its source
 * address), reported once by the route when the response is decided. Protection
 * (failed authentications count towards back-off), metrics and usage analytics each
 * consume it in one place instead of being called by hand along the way.
 */
import type { TenantContext } from '../domain/tenant-context.js';
import type { PresentedCredentials } from './client-auth/presented-credentials.js';
import type { AuthenticatedClient } from './client-auth/types.js';
import type { OAuthError } from './errors.js';
import type { Params } from './params.js';

export type ProtocolEndpoint = 'token' | 'introspect' | 'revoke';

export interface ProtocolOutcome {
  endpoint: ProtocolEndpoint;
  /** Null when the request named no tenant that exists. */
  tenant: TenantContext | null;
  /** The client's address (behind trusted proxies, the one they forward). */
  source: string;
  /** The form parameters; null when the body was not a form. */
  params: Params | null;
  /** What credentials the request presented; null when it failed before they were read. */
  credentials: PresentedCredentials | null;
  /** The authenticated client; null before (or without) client authentication. */
  client: AuthenticatedClient | null;
  /** The token endpoint's grant_type, as sent (undefined when absent). */
  grantType: string | undefined;
  /** Null: the request succeeded (a token issued, an introspection or revocation answered). */
  error: OAuthError | null;
  /**
   * Set when client authentication itself failed (invalid_client from a method, not a
   * grant's later refusal): the method the request tried, for the failure log.
   */
  authenticationFailure: { method: string } | null;
  /** From routing to the response being written. */
  seconds: number;
}

/** Something that learns how each protocol request ended. Must not throw and must not wait. */
export interface OutcomeListener {
  outcome(outcome: ProtocolOutcome): void;
}
