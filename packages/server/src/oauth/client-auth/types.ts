import type { X509Certificate } from 'node:crypto';
import type { ClientEntry, TenantContext } from '../../domain/tenant-context.js';
import type { Client, TokenEndpointAuthMethod } from '../../store/types.js';
import type { PresentedCertificate } from '../mtls.js';
import type { Params } from '../params.js';
import type { PresentedCredentials } from './presented-credentials.js';

/** What a client authentication method can see of a request. */
export interface ClientAuthRequest {
  tenant: TenantContext;
  params: Params;
  /** The credentials the request presents (Authorization header and body), parsed once. */
  credentials: PresentedCredentials;
  /** The TLS client certificate (direct or from a trusted proxy), if any. */
  certificate: PresentedCertificate | null;
  /** The URL this request was sent to (an allowed client-assertion audience). */
  endpointUrl: string;
}

export interface AuthenticatedClient {
  client: Client;
  /** The client's registry entry (grants) as it was when the client authenticated. */
  entry: ClientEntry;
  method: TokenEndpointAuthMethod;
  /** The certificate the client authenticated with (mTLS): tokens get bound to it. */
  certificate?: X509Certificate;
}

/** One client authentication method (a strategy, not a flag): see client-auth/index.ts. */
export interface ClientAuthMethod {
  /** The registered methods this strategy authenticates. */
  readonly methods: readonly TokenEndpointAuthMethod[];
  /** Whether the request carries this method's credentials. */
  presented(request: ClientAuthRequest): boolean;
  /** Authenticates, or throws InvalidClient / InvalidRequest. */
  authenticate(request: ClientAuthRequest): Promise<AuthenticatedClient>;
}
