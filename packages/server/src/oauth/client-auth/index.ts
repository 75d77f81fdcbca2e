/**
 * Client authentication at the token, introspection and revocation endpoints: find
 * the one method the request uses (RFC 6749 §2.3: never more than one) and let its
 * strategy authenticate.
 */
import { basicChallenge, InvalidClient, InvalidRequest } from '../errors.js';
import type { AuthenticatedClient, ClientAuthMethod, ClientAuthRequest } from './types.js';

export type { AuthenticatedClient, ClientAuthMethod, ClientAuthRequest } from './types.js';

export class ClientAuthenticator {
  constructor(
    private readonly credentialMethods: readonly ClientAuthMethod[],
    /** Methods that need no credential in the body or header (mTLS): tried when none is presented. */
    private readonly transportMethods: readonly ClientAuthMethod[] = [],
  ) {}

  /** Authenticates when the request carries client credentials; null when it carries none. */
  async authenticateIfPresented(request: ClientAuthRequest): Promise<AuthenticatedClient | null> {
    const presented = this.credentialMethods.some((m) => m.presented(request)) || this.transportMethods.some((m) => m.presented(request));
    return presented ? this.authenticate(request) : null;
  }

  async authenticate(request: ClientAuthRequest): Promise<AuthenticatedClient> {
    try {
      return await this.#authenticate(request);
    } catch (error) {
      // RFC 9110 §15.5.2: every 401 carries a challenge. The methods that use the
      // Authorization header set their own (RFC 6749 §5.2); the others get Basic, the
      // method every client must be able to use (RFC 6749 §2.3.1).
      if (error instanceof InvalidClient && error.headers['WWW-Authenticate'] === undefined) {
        error.headers['WWW-Authenticate'] = basicChallenge(request.tenant.issuer);
      }
      throw error;
    }
  }

  /** Not async: its promise is the method's own, one fewer per request. A throw here is the caller's rejection. */
  #authenticate(request: ClientAuthRequest): Promise<AuthenticatedClient> {
    let method: ClientAuthMethod | undefined;
    for (const candidate of this.credentialMethods) {
      if (!candidate.presented(request)) continue;
      if (method !== undefined) throw new InvalidRequest('the request uses more than one client authentication method (RFC 6749 §2.3)');
      method = candidate;
    }
    if (method !== undefined) return method.authenticate(request);
    const transport = this.transportMethods.find((m) => m.presented(request));
    if (transport !== undefined) return transport.authenticate(request);
    throw new InvalidClient('client authentication is required (client_secret_basic, client_secret_post, private_key_jwt or mTLS)');
  }

  /**
   * How a request tried to authenticate, for logging a failed attempt: the method
   * names of what it presented (never a credential).
   */
  methodOf(request: ClientAuthRequest): string {
    const [credential] = this.credentialMethods.filter((m) => m.presented(request));
    const transport = credential === undefined ? this.transportMethods.find((m) => m.presented(request)) : undefined;
    return credential?.methods.join('|') ?? transport?.methods.join('|') ?? 'none';
  }

  /** Every method name these strategies authenticate, for the discovery metadata. */
  get supportedMethods(): string[] {
    return [...this.credentialMethods, ...this.transportMethods].flatMap((m) => m.methods);
  }
}
