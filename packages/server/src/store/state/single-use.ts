/**
 * The namespaces of single-use keys, in one place so that two features never share
 * one by accident. Each feature calls `useOnce` through its function here.
 */
import type { StateStore } from './types.js';

/**
 * A client assertion's `jti` (RFC 7523 §3: the server may keep `jti`s to prevent
 * replay), per authenticating client. Federated assertions pass `iss:<issuer>` as the
 * client.
 */
export function useAssertionJti(state: Pick<StateStore, 'useOnce'>, tenantId: string, clientId: string, jti: string, expiresAt: number): Promise<boolean> {
  return state.useOnce(`assertion:${clientId}`, tenantId, jti, expiresAt);
}
