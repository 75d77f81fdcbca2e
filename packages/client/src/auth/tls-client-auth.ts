import { Agent } from 'undici';
import { ConfigurationError } from '../errors.js';
import type { ClientAuth } from './types.js';

type Pem = string | Buffer;

export interface TlsClientAuthOptions {
  /** The client certificate chain (PEM). */
  cert: Pem | Pem[];
  /** The certificate's private key (PEM). */
  key: Pem;
  /** Passphrase of an encrypted `key`. */
  passphrase?: string;
  /** Extra trusted CA certificates for the server (PEM); Node's defaults otherwise. */
  ca?: Pem | Pem[];
}

function createMtlsAuth(
  method: 'tls_client_auth' | 'self_signed_tls_client_auth',
  options: TlsClientAuthOptions,
): ClientAuth {
  if (!options?.cert || !options.key) {
    throw new ConfigurationError(`${method} needs { cert, key }`);
  }
  const dispatcher = new Agent({
    connect: {
      cert: options.cert,
      key: options.key,
      ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    },
  });
  return {
    method,
    dispatcher,
    apply({ clientId }, _headers, body) {
      // RFC 8705 §2: the certificate authenticates; client_id says who claims it.
      body.set('client_id', clientId);
    },
    async close() {
      await dispatcher.close();
    },
  };
}

/**
 * `tls_client_auth` (RFC 8705 §2.1): the client presents a CA-issued certificate during the
 * TLS handshake and sends `client_id` in the body. Requests go to the metadata's
 * `mtls_endpoint_aliases.token_endpoint` when the server publishes one. Issued tokens are
 * usually bound to the certificate, so the fetch wrapper presents it to APIs as well.
 */
export function tlsClientAuth(options: TlsClientAuthOptions): ClientAuth {
  return createMtlsAuth('tls_client_auth', options);
}

/** `self_signed_tls_client_auth` (RFC 8705 §2.2): as `tlsClientAuth`, with a self-signed certificate. */
export function selfSignedTlsClientAuth(options: TlsClientAuthOptions): ClientAuth {
  return createMtlsAuth('self_signed_tls_client_auth', options);
}
