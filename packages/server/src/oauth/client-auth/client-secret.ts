/** client_secret_basic and client_secret_post (RFC 6749 §2.3.1). */
import type { ClientEntry, TenantContext } from '../../domain/tenant-context.js';
import type { TokenEndpointAuthMethod } from '../../store/types.js';
import { InvalidClient, InvalidRequest } from '../errors.js';
import type { AuthenticatedClient, ClientAuthMethod } from './types.js';

export const AUTHENTICATION_FAILED = 'client authentication failed';

/** Records when each secret was last used; written to the store in batches, off the hot path. */
export interface SecretUsage {
  record(secretId: string): void;
}

/**
 * `registered`: a client authenticates only with the secret method it was registered
 * for (as node-oidc-provider, Auth0, Hydra do); `either`: a secret is a secret however
 * it travels, both methods work for both (as in Keycloak). `--secret-methods`.
 */
export type SecretMethodPolicy = 'registered' | 'either';

export function clientSecretBasic(usage: SecretUsage, policy: SecretMethodPolicy = 'registered'): ClientAuthMethod {
  return {
    methods: ['client_secret_basic'],
    presented: (request) => request.authorization !== undefined,
    async authenticate(request) {
      const realm = request.tenant.issuer;
      const fail = (description: string) => InvalidClient.withChallenge(description, 'Basic', realm);
      const header = request.authorization ?? '';
      const match = /^Basic +([A-Za-z0-9+/=_-]+) *$/i.exec(header);
      if (match === null) throw fail('the Authorization header must be "Basic" with base64(client_id:client_secret)');
      const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw fail('Basic credentials must be client_id:client_secret');
      let clientId: string;
      let secret: string;
      try {
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        clientId = formDecode(decoded.slice(0, colon));
        secret = formDecode(decoded.slice(colon + 1));
      } catch {
        throw fail('Basic credentials are not valid form-urlencoded values');
      }
      const bodyClientId = request.params.get('client_id');
      if (bodyClientId !== undefined && bodyClientId !== clientId) {
        throw new InvalidRequest('client_id in the body does not match the Authorization header');
      }
      const entry = await checkSecret(request.tenant, clientId, secret, usage, 'client_secret_basic', policy);
      if (entry === null) throw fail(AUTHENTICATION_FAILED);
      return { client: entry.client, entry, method: 'client_secret_basic' };
    },
  };
}

export function clientSecretPost(usage: SecretUsage, policy: SecretMethodPolicy = 'registered'): ClientAuthMethod {
  return {
    methods: ['client_secret_post'],
    presented: (request) => request.params.has('client_secret'),
    async authenticate(request): Promise<AuthenticatedClient> {
      const clientId = request.params.get('client_id');
      if (clientId === undefined) throw new InvalidRequest('client_secret_post needs client_id in the body');
      const entry = await checkSecret(request.tenant, clientId, request.params.require('client_secret'), usage, 'client_secret_post', policy);
      if (entry === null) throw new InvalidClient(AUTHENTICATION_FAILED);
      return { client: entry.client, entry, method: 'client_secret_post' };
    },
  };
}

const SECRET_METHODS: ReadonlySet<TokenEndpointAuthMethod> = new Set(['client_secret_basic', 'client_secret_post']);

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
  if (entry === null || entry.client.disabled || !SECRET_METHODS.has(entry.client.tokenEndpointAuthMethod)) return null;
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

function formDecode(value: string): string {
  // Generated ids and secrets are base64url: nothing to decode, the usual case.
  if (!value.includes('%') && !value.includes('+')) return value;
  return decodeURIComponent(value.replace(/\+/g, ' '));
}
