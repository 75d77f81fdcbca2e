/** client_secret_basic and client_secret_post (RFC 6749 §2.3.1). */
import { verifySecret } from '../../crypto/secrets.js';
import type { TenantContext } from '../../domain/tenant-context.js';
import type { Client, TokenEndpointAuthMethod } from '../../store/types.js';
import { InvalidClient, InvalidRequest } from '../errors.js';
import type { AuthenticatedClient, ClientAuthMethod } from './types.js';

export const AUTHENTICATION_FAILED = 'client authentication failed';

/** Records when each secret was last used; written to the store in batches, off the hot path. */
export interface SecretUsage {
  record(secretId: string): void;
}

export function clientSecretBasic(usage: SecretUsage): ClientAuthMethod {
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
      const client = checkSecret(request.tenant, clientId, secret, usage);
      if (client === null) throw fail(AUTHENTICATION_FAILED);
      return { client, method: 'client_secret_basic' };
    },
  };
}

export function clientSecretPost(usage: SecretUsage): ClientAuthMethod {
  return {
    methods: ['client_secret_post'],
    presented: (request) => request.params.has('client_secret'),
    async authenticate(request): Promise<AuthenticatedClient> {
      const clientId = request.params.get('client_id');
      if (clientId === undefined) throw new InvalidRequest('client_secret_post needs client_id in the body');
      const client = checkSecret(request.tenant, clientId, request.params.require('client_secret'), usage);
      if (client === null) throw new InvalidClient(AUTHENTICATION_FAILED);
      return { client, method: 'client_secret_post' };
    },
  };
}

const SECRET_METHODS: ReadonlySet<TokenEndpointAuthMethod> = new Set(['client_secret_basic', 'client_secret_post']);

function checkSecret(tenant: TenantContext, clientId: string, secret: string, usage: SecretUsage): Client | null {
  const client = tenant.clients.get(clientId);
  // A secret is a secret however it travels: a client registered for either secret
  // method may use both, as in Keycloak; key- and certificate-based clients never can.
  if (client === undefined || client.disabled || !SECRET_METHODS.has(client.tokenEndpointAuthMethod)) return null;
  for (const stored of tenant.secretsByClient.get(clientId) ?? []) {
    if (verifySecret(secret, stored.hash)) {
      usage.record(stored.id);
      return client;
    }
  }
  return null;
}

function formDecode(value: string): string {
  // Generated ids and secrets are base64url: nothing to decode, the usual case.
  if (!value.includes('%') && !value.includes('+')) return value;
  return decodeURIComponent(value.replace(/\+/g, ' '));
}
