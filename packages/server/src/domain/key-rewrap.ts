/**
 * Re-encrypts every tenant's signing keys under a new master key, in one transaction:
 * either every key is sealed under the new key, or (on any failure) none is. Keys
 * already sealed under the new key are left as they are, so a repeated run is harmless.
 */
import type { MasterKey } from '../crypto/master-key.js';
import { rewrapPrivateKey } from '../crypto/rewrap.js';
import type { Store } from '../store/types.js';

export interface RewrapResult {
  /** Keys re-encrypted now. */
  rewrapped: number;
  /** Keys that were already under the new key. */
  unchanged: number;
  tenants: number;
}

export async function rewrapSigningKeys(store: Store, from: MasterKey, to: MasterKey, actor: string, beforeCommit: () => Promise<void> = async () => {}): Promise<RewrapResult> {
  return store.transaction(async (tx) => {
    const result: RewrapResult = { rewrapped: 0, unchanged: 0, tenants: 0 };
    for (const tenant of await tx.listTenants()) {
      // The tenant's key lock: a rotation of a replica that is still running waits for this commit.
      await tx.withLock(`keys:${tenant.id}`, async () => undefined);
      result.tenants++;
      for (const key of await tx.listSigningKeys(tenant.id)) {
        let sealed: string | null;
        try {
          sealed = rewrapPrivateKey(key.privateKeyEncrypted, key.kid, from, to);
        } catch {
          throw new Error(`the current master key cannot decrypt signing key ${key.kid} of tenant ${tenant.id}: TESSERA_MASTER_KEY (or the data directory's master.key) must be the key the servers run with now`);
        }
        if (sealed === null) {
          result.unchanged++;
          continue;
        }
        await tx.updateSigningKey(tenant.id, key.kid, { privateKeyEncrypted: sealed }, { tenantId: tenant.id, actor, action: 'key.rewrap', targetType: 'key', targetId: key.kid, details: {} });
        result.rewrapped++;
      }
    }
    await beforeCommit();
    return result;
  });
}
