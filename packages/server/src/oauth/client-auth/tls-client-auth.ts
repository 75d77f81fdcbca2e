/**
 * Mutual-TLS client authentication (RFC 8705 §2): the client proves itself with the
 * certificate of its TLS connection (or the one a trusted proxy forwards) and names
 * itself with `client_id` in the body.
 *
 * - tls_client_auth (§2.1): the chain verifies against the configured client CA and
 *   the subject DN is the one registered (`tlsClientAuthSubjectDn`).
 * - self_signed_tls_client_auth (§2.2): no chain needed; the certificate (x5c) or its
 *   public key is one of the client's registered keys (jwks or jwksUri).
 *
 * Either way the AuthenticatedClient carries the certificate, so tokens are bound to
 * it with `cnf.x5t#S256` (§3). A transport method: the authenticator tries it only
 * when no credential is in the header or body, so a client registered for mTLS has no
 * way in without its certificate.
 */
import type { X509Certificate } from 'node:crypto';
import type { Client } from '../../store/types.js';
import { InvalidClient } from '../errors.js';
import { distinguishedNamesMatch } from '../../domain/distinguished-name.js';
import { type ClientKey, ClientKeySetUnavailable, type ClientKeys } from './client-keys.js';
import type { AuthenticatedClient, ClientAuthMethod, ClientAuthRequest } from './types.js';

/**
 * One answer for every failure after the certificate is seen, so the response never
 * tells whether a client id exists or which method it is registered for.
 */
export const CERTIFICATE_NOT_ACCEPTED =
  'the client certificate does not authenticate this client (tls_client_auth: issued by a trusted CA with the registered subject DN; self_signed_tls_client_auth: its key registered in the client JWKS)';

export interface TlsClientAuthOptions {
  keys: ClientKeys;
}

export function tlsClientAuth(options: TlsClientAuthOptions): ClientAuthMethod {
  return {
    methods: ['tls_client_auth', 'self_signed_tls_client_auth'],
    presented: (request) =>
      request.credentials.methods.length === 0 && request.params.has('client_id') && request.certificate !== null,
    async authenticate(request: ClientAuthRequest): Promise<AuthenticatedClient> {
      const presented = request.certificate;
      if (presented === null) throw new InvalidClient('mutual-TLS client authentication needs a client certificate (RFC 8705 §2)');
      const clientId = request.params.require('client_id');
      const entry = await request.tenant.client(clientId);
      const client = entry?.client;
      if (entry === null || client === undefined || client.disabled) throw new InvalidClient(CERTIFICATE_NOT_ACCEPTED);
      let accepted: boolean;
      switch (client.tokenEndpointAuthMethod) {
        case 'tls_client_auth':
          accepted =
            presented.chainVerified &&
            client.tlsClientAuthSubjectDn !== null &&
            distinguishedNamesMatch(client.tlsClientAuthSubjectDn, presented.certificate.subject);
          break;
        case 'self_signed_tls_client_auth':
          accepted = await isRegisteredCertificate(options.keys, client, presented.certificate);
          break;
        default:
          accepted = false;
      }
      if (!accepted) throw new InvalidClient(CERTIFICATE_NOT_ACCEPTED);
      return { client, entry, method: client.tokenEndpointAuthMethod, certificate: presented.certificate };
    },
  };
}

/**
 * RFC 8705 §2.2: the certificate is registered when a JWK's x5c leaf is this
 * certificate or the JWK is the certificate's public key. The TLS handshake proved
 * possession of the private key; the chain is deliberately not checked.
 */
async function isRegisteredCertificate(keys: ClientKeys, client: Client, certificate: X509Certificate): Promise<boolean> {
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  const matches = (candidate: ClientKey) => {
    const x5c = candidate.jwk['x5c'];
    if (Array.isArray(x5c) && typeof x5c[0] === 'string' && Buffer.from(x5c[0], 'base64').equals(certificate.raw)) return true;
    return candidate.key.export({ type: 'spki', format: 'der' }).equals(spki);
  };
  try {
    return (await keys.find(client, matches)).length > 0;
  } catch (error) {
    if (error instanceof ClientKeySetUnavailable) return false;
    throw error;
  }
}
