import { ConfigurationError } from '../errors.js';
import type { ClientAuth } from './types.js';

/** application/x-www-form-urlencoded encoding of one value, as RFC 6749 §2.3.1 requires before base64. */
function formUrlEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function requireSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new ConfigurationError('client secret must be a non-empty string');
  }
}

/**
 * `client_secret_basic` (RFC 6749 §2.3.1): HTTP Basic with the client id and secret,
 * each form-urlencoded first so that `:` and non-ASCII characters survive.
 */
export function clientSecretBasic(secret: string): ClientAuth {
  requireSecret(secret);
  return {
    method: 'client_secret_basic',
    apply({ clientId }, headers) {
      const credentials = `${formUrlEncode(clientId)}:${formUrlEncode(secret)}`;
      headers.set('authorization', `Basic ${Buffer.from(credentials).toString('base64')}`);
    },
  };
}

/** `client_secret_post` (RFC 6749 §2.3.1): `client_id` and `client_secret` in the form body. */
export function clientSecretPost(secret: string): ClientAuth {
  requireSecret(secret);
  return {
    method: 'client_secret_post',
    apply({ clientId }, _headers, body) {
      body.set('client_id', clientId);
      body.set('client_secret', secret);
    },
  };
}
