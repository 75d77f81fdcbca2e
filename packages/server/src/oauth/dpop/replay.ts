/**
 * Single use of DPoP proof `jti`s (RFC 9449 §11.1), shared by every replica: the one
 * place the token endpoint records a proof as used.
 */
import { useAssertionJti } from '../../store/state/single-use.js';
import type { StateStore } from '../../store/state/types.js';

export type DpopReplayStore = Pick<StateStore, 'useOnce'>;

/**
 * `#` never occurs in a client id or a federation's `iss:` namespace, so proofs cannot
 * collide with client assertions; the key's thumbprint scopes the `jti`, so one key's
 * proofs cannot use up another's.
 */
const namespaceOf = (jkt: string) => `#dpop:${jkt}`;

/** True the first time (tenant, key, jti) is seen before `expiresAt` (epoch ms); false for a replay. */
export function useDpopProofJti(store: DpopReplayStore, tenantId: string, jkt: string, jti: string, expiresAt: number): Promise<boolean> {
  return useAssertionJti(store, tenantId, namespaceOf(jkt), jti, expiresAt);
}
