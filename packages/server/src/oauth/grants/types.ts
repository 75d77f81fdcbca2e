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
  return {
    access_token: issued.accessToken,
    token_type: 'Bearer',
    expires_in: issued.expiresIn,
    ...(issued.scope !== '' ? { scope: issued.scope } : {}),
  };
}

/** The authenticated client of a grant that requires client authentication. */
export function authenticatedClient(context: GrantContext): AuthenticatedClient {
  if (context.client === null) throw new InvalidClient('client authentication is required for this grant');
  return context.client;
}
