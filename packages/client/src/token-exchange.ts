/** RFC 8693 token exchange as a request/process pair. */
import { appendAll, normalizeScope, tokenEndpointRequest, type TokenEndpointContext } from './token-request.js';

export { processTokenExchangeResponse } from './token-request.js';

export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** RFC 8693 §3 token type identifiers. */
export const TokenTypes = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  /** draft-ietf-oauth-transaction-tokens */
  txnToken: 'urn:ietf:params:oauth:token-type:txn_token',
} as const;

export interface TokenExchangeParameters {
  /** The token received from upstream, on whose behalf we act. */
  subjectToken: string;
  /** Default: `urn:ietf:params:oauth:token-type:access_token`. */
  subjectTokenType?: string;
  /** Our own token, when the server wants delegation (`act` claim) rather than impersonation. */
  actorToken?: string;
  /** Default when `actorToken` is given: access_token. */
  actorTokenType?: string;
  audience?: string | string[];
  resource?: string | string[];
  scope?: string | string[];
  requestedTokenType?: string;
  extra?: Record<string, string>;
}

/** RFC 8693 §2.1: `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`. */
export function tokenExchangeRequest(context: TokenEndpointContext, parameters: TokenExchangeParameters): Promise<Response> {
  const body = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE_GRANT_TYPE,
    subject_token: parameters.subjectToken,
    subject_token_type: parameters.subjectTokenType ?? TokenTypes.accessToken,
  });
  if (parameters.actorToken !== undefined) {
    body.set('actor_token', parameters.actorToken);
    body.set('actor_token_type', parameters.actorTokenType ?? TokenTypes.accessToken);
  }
  appendAll(body, 'audience', parameters.audience);
  appendAll(body, 'resource', parameters.resource);
  const scope = normalizeScope(parameters.scope);
  if (scope) body.set('scope', scope);
  if (parameters.requestedTokenType) body.set('requested_token_type', parameters.requestedTokenType);
  for (const [name, value] of Object.entries(parameters.extra ?? {})) body.set(name, value);
  return tokenEndpointRequest(context, body);
}
