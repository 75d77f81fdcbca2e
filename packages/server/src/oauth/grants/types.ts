import type { InspectedToken, IssuedToken, TokenInspector, TokenIssuing } from '../../domain/tokens.js';
import type { TenantContext } from '../../domain/tenant-context.js';
import type { Client } from '../../store/types.js';
import type { AuthenticatedClient } from '../client-auth/types.js';
import { InvalidClient } from '../errors.js';
import type { Params } from '../params.js';

export interface GrantContext {
  tenant: TenantContext;
  params: Params;
  /** Null only for grants whose client authentication is optional (RFC 7523 §3.1). */
  client: AuthenticatedClient | null;
  issuer: TokenIssuing;
  inspector: TokenInspector;
  /** Counts a token request against the client's and the tenant's quotas; throws 429 beyond them. */
  rateLimit(client: Client): void;
}

/** RFC 6749 §5.1 success response (plus RFC 8693 §2.2.1 issued_token_type). */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer' | 'DPoP' | 'N_A';
  expires_in: number;
  scope?: string;
  issued_token_type?: string;
}

/** A grant type is a plugin: its name, and how it turns a request into a token. */
export interface GrantHandler {
  readonly grantType: string;
  /** 'optional': the grant's own credential (an assertion) may stand in for client authentication. */
  readonly clientAuthentication?: 'required' | 'optional';
  handle(context: GrantContext): Promise<TokenResponse>;
}

export type { InspectedToken, IssuedToken };

export function tokenResponse(issued: IssuedToken): TokenResponse {
  const response: TokenResponse = { access_token: issued.accessToken, token_type: 'Bearer', expires_in: issued.expiresIn };
  if (issued.scope !== '') response.scope = issued.scope;
  return response;
}

/** Characters a JSON string may hold without an escape, as every access token Tessera issues is made of. */
const JSON_PLAIN = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;

/**
 * The response as JSON, the same text `JSON.stringify` makes of it: a token response's
 * members written in place, which allocates a fraction of what the generic serialiser
 * does for a string of this size. Anything unusual (a member this does not know, a
 * value that needs escaping) goes to `JSON.stringify`.
 */
export function tokenResponseJson(response: TokenResponse): string {
  const { access_token, token_type, expires_in, scope, issued_token_type } = response;
  if (!JSON_PLAIN.test(access_token) || !Number.isFinite(expires_in) || !plainKeys(response)) return JSON.stringify(response);
  let json = `{"access_token":"${access_token}","token_type":"${token_type}","expires_in":${expires_in}`;
  if (scope !== undefined) json += JSON_PLAIN.test(scope) ? `,"scope":"${scope}"` : `,"scope":${JSON.stringify(scope)}`;
  if (issued_token_type !== undefined) json += `,"issued_token_type":${JSON.stringify(issued_token_type)}`;
  return `${json}}`;
}

const TOKEN_RESPONSE_KEYS: readonly string[] = ['access_token', 'token_type', 'expires_in', 'scope', 'issued_token_type'];

/** Whether the members are the known ones, in the order tokenResponseJson writes them. */
function plainKeys(response: TokenResponse): boolean {
  let next = 0;
  for (const key in response) {
    while (next < TOKEN_RESPONSE_KEYS.length && TOKEN_RESPONSE_KEYS[next] !== key) next++;
    if (next === TOKEN_RESPONSE_KEYS.length) return false;
    next++;
  }
  return true;
}

/** The authenticated client of a grant that requires client authentication. */
export function authenticatedClient(context: GrantContext): AuthenticatedClient {
  if (context.client === null) throw new InvalidClient('client authentication is required for this grant');
  return context.client;
}
