/** client_secret_basic and client_secret_post (RFC 6749 §2.3.1). */
import type { ClientEntry, TenantContext } from '../../domain/tenant-context.js';
import type { SecretMethodPolicy } from '../../config/config.js';
import { isSecretMethod, type TokenEndpointAuthMethod } from '../../store/types.js';
import { InvalidClient, InvalidRequest } from '../errors.js';
import type { AuthenticatedClient, ClientAuthMethod } from './types.js';

export const AUTHENTICATION_FAILED = 'client authentication failed';

/** Records when each secret was last used; written to the store in batches, off the hot path. */
export interface SecretUsage {
  record(secretId: string): void;
}

export function clientSecretBasic(usage: SecretUsage, policy: SecretMethodPolicy): ClientAuthMethod {
  return {
    methods: ['client_secret_basic'],
    presented: (request) => request.credentials.hasAuthorizationHeader,
    async authenticate(request) {
      const basic = request.credentials.basic;
      if (basic === null || !basic.ok) throw basicFailure(request.tenant.issuer, basic?.reason ?? 'client_secret_basic needs an Authorization header');
      const bodyClientId = request.params.get('client_id');
      if (bodyClientId !== undefined && bodyClientId !== basic.clientId) {
        throw new InvalidRequest('client_id in the body does not match the Authorization header');
      }
      const entry = await checkSecret(request.tenant, basic.clientId, basic.secret, usage, 'client_secret_basic', policy);
      if (entry === null) throw basicFailure(request.tenant.issuer, AUTHENTICATION_FAILED);
      return { client: entry.client, entry, method: 'client_secret_basic' };
    },
  };
}

/** RFC 6749 §5.2: a failed Basic authentication answers with a Basic challenge. */
function basicFailure(issuer: string, description: string): InvalidClient {
  return InvalidClient.withChallenge(description, 'Basic', issuer);
}

export function clientSecretPost(usage: SecretUsage, policy: SecretMethodPolicy): ClientAuthMethod {
  return {
    methods: ['client_secret_post'],
    presented: (request) => request.credentials.methods.includes('client_secret_post'),
    async authenticate(request): Promise<AuthenticatedClient> {
      const clientId = request.params.get('client_id');
      if (clientId === undefined) throw new InvalidRequest('client_secret_post needs client_id in the body');
      const entry = await checkSecret(request.tenant, clientId, request.params.require('client_secret'), usage, 'client_secret_post', policy);
      if (entry === null) throw new InvalidClient(AUTHENTICATION_FAILED);
      return { client: entry.client, entry, method: 'client_secret_post' };
    },
  };
}

async function checkSecret(
  tenant: TenantContext,
  clientId: string,
  secret: string,
  usage: SecretUsage,
  used: TokenEndpointAuthMethod,
  policy: SecretMethodPolicy,
): Promise<ClientEntry | null> {
  const entry = await tenant.client(clientId);
  // Key- and certificate-based clients never authenticate with a secret.
  if (entry === null || entry.client.disabled || !isSecretMethod(entry.client.tokenEndpointAuthMethod)) return null;
  // RFC 7591 §2: the registered token_endpoint_auth_method is the one the client uses.
  // Refused before the secret is checked and worded like every other failure, so the
  // answer tells neither whether the secret was right nor whether the client exists.
  if (policy === 'registered' && entry.client.tokenEndpointAuthMethod !== used) return null;
  for (const stored of entry.secrets) {
    if (stored.verify(secret)) {
      usage.record(stored.id);
      return entry;
    }
  }
  return null;
}
