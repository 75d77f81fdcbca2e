/** RFC 8414 authorization server metadata (also served as OpenID discovery). */
import { SUPPORTED_ALGORITHMS } from '@tessera/verifier/core';
import { SIGNING_ALGS } from '../crypto/signing.js';
import type { TenantContext } from '../domain/tenant-context.js';
import { DPOP_SIGNING_ALGS } from './dpop/token-endpoint.js';

export interface MetadataOptions {
  grantTypes: string[];
  authMethods: string[];
  /** Base URL of the mTLS listener, if a separate one exists (RFC 8705 §5). */
  mtlsBaseUrl: string | null;
  mtlsEnabled: boolean;
}

export function authorizationServerMetadata(tenant: TenantContext, options: MetadataOptions): Record<string, unknown> {
  const issuer = tenant.issuer;
  const scopes = [...new Set([...tenant.apisById.values()].flatMap((api) => api.scopes.map((s) => s.value)))].sort();
  const signingAlgs = [...SUPPORTED_ALGORITHMS];
  return {
    issuer,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks.json`,
    introspection_endpoint: `${issuer}/introspect`,
    revocation_endpoint: `${issuer}/revoke`,
    grant_types_supported: options.grantTypes,
    // REQUIRED by RFC 8414; empty because there is no authorization endpoint (M2M only).
    response_types_supported: [],
    token_endpoint_auth_methods_supported: options.authMethods,
    token_endpoint_auth_signing_alg_values_supported: signingAlgs,
    introspection_endpoint_auth_methods_supported: options.authMethods,
    introspection_endpoint_auth_signing_alg_values_supported: signingAlgs,
    // RFC 9701 §7: signed introspection answers use the tenant's signing algorithm.
    introspection_signing_alg_values_supported: [tenant.tenant.signingAlg],
    revocation_endpoint_auth_methods_supported: options.authMethods,
    revocation_endpoint_auth_signing_alg_values_supported: signingAlgs,
    // RFC 9068 access tokens are signed with the tenant's algorithm; the others it may switch to.
    access_token_signing_alg_values_supported: [tenant.tenant.signingAlg, ...SIGNING_ALGS.filter((a) => a !== tenant.tenant.signingAlg)],
    scopes_supported: scopes,
    subject_types_supported: ['public'],
    tls_client_certificate_bound_access_tokens: options.mtlsEnabled,
    // RFC 9449 §5.1
    dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS,
    ...(options.mtlsBaseUrl !== null
      ? {
          mtls_endpoint_aliases: {
            token_endpoint: `${options.mtlsBaseUrl}/t/${tenant.tenant.id}/token`,
            introspection_endpoint: `${options.mtlsBaseUrl}/t/${tenant.tenant.id}/introspect`,
            revocation_endpoint: `${options.mtlsBaseUrl}/t/${tenant.tenant.id}/revoke`,
          },
        }
      : {}),
  };
}
