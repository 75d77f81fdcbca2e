/**
 * Client authentication at the token, introspection and revocation endpoints: find
 * the one method the request uses (RFC 6749 §2.3: never more than one) and let its
 * strategy authenticate.
 */
import { parseCompactJws } from '@tessera/verifier/core';
import { InvalidClient, InvalidRequest } from '../errors.js';
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
    const presented = this.credentialMethods.filter((m) => m.presented(request));
    if (presented.length > 1) {
      throw new InvalidRequest('the request uses more than one client authentication method (RFC 6749 §2.3)');
    }
    const [method] = presented;
    if (method !== undefined) return method.authenticate(request);
    const transport = this.transportMethods.find((m) => m.presented(request));
    if (transport !== undefined) return transport.authenticate(request);
    throw new InvalidClient('client authentication is required (client_secret_basic, client_secret_post, private_key_jwt or mTLS)');
  }

  /**
   * Who a request claims to be and how, for logging a failed attempt: the client id
   * (from the Basic header, the body, or the unverified assertion) and the method.
   * Never a credential.
   */
  claimedBy(request: ClientAuthRequest): { clientId: string | null; method: string } {
    const [credential] = this.credentialMethods.filter((m) => m.presented(request));
    const transport = credential === undefined ? this.transportMethods.find((m) => m.presented(request)) : undefined;
    const method = credential?.methods.join('|') ?? transport?.methods.join('|') ?? 'none';
    let clientId = request.params.get('client_id') ?? null;
    const basic = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(request.authorization ?? '');
    if (clientId === null && basic?.[1] !== undefined) {
      const user = Buffer.from(basic[1], 'base64').toString('utf8').split(':')[0] ?? '';
      try {
        clientId = decodeURIComponent(user.replace(/\+/g, ' '));
      } catch {
        clientId = null;
      }
    }
    const assertion = request.params.get('client_assertion');
    if (clientId === null && assertion !== undefined) {
      try {
        const sub = parseCompactJws(assertion, 16 * 1024).payload['sub'];
        clientId = typeof sub === 'string' ? sub : null;
      } catch {
        clientId = null;
      }
    }
    // Bounded, so a hostile client id cannot flood a log line.
    return { clientId: clientId === null ? null : clientId.slice(0, 128), method };
  }

  /** Every method name these strategies authenticate, for the discovery metadata. */
  get supportedMethods(): string[] {
    return [...this.credentialMethods, ...this.transportMethods].flatMap((m) => m.methods);
  }
}
