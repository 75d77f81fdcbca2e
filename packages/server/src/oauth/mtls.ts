import { createHash, X509Certificate as X509CertificateClass, type X509Certificate } from 'node:crypto';

/** RFC 8705 §3.1: base64url SHA-256 of the DER certificate, the `cnf.x5t#S256` value. */
export function certificateThumbprint(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('base64url');
}

export interface PresentedCertificate {
  certificate: X509Certificate;
  /** Whether a trusted CA verified its chain (tls_client_auth needs this; self-signed does not). */
  chainVerified: boolean;
}

/**
 * The client certificate of a request: the one presented in the TLS handshake (when
 * Tessera terminates TLS itself), or the one a trusted TLS-terminating proxy
 * forwards in `X-Client-Cert` (URL-encoded PEM, as nginx `$ssl_client_escaped_cert`
 * produces), accepted only from the configured proxy addresses; the proxy's
 * `X-Client-Verify: SUCCESS` says it verified the chain.
 */
export function clientCertificateOf(
  socket: import('node:net').Socket,
  headers: Record<string, string | string[] | undefined>,
  trustedProxies: readonly string[],
  /** Whether our own TLS listener verifies chains against a configured client CA. */
  clientCaConfigured: boolean,
): PresentedCertificate | null {
  const tls = socket as import('node:tls').TLSSocket;
  if (typeof tls.getPeerX509Certificate === 'function') {
    const certificate = tls.getPeerX509Certificate();
    // Without a configured client CA, Node would verify against its public root CAs:
    // any publicly issued certificate is not a chain *we* trust.
    if (certificate !== undefined) return { certificate, chainVerified: tls.authorized && clientCaConfigured };
  }
  const forwarded = headers['x-client-cert'];
  if (typeof forwarded !== 'string' || forwarded === '' || trustedProxies.length === 0) return null;
  const remote = normaliseAddress(socket.remoteAddress ?? '');
  if (!trustedProxies.some((proxy) => normaliseAddress(proxy) === remote)) return null;
  try {
    const certificate = new X509CertificateClass(decodeURIComponent(forwarded));
    return { certificate, chainVerified: headers['x-client-verify'] === 'SUCCESS' };
  } catch {
    return null;
  }
}

function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
