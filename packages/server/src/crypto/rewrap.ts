/**
 * Master-key rotation (`tessera keys rewrap`, docs/keys.md): every signing key's private
 * key is opened with the current master key and sealed under the new one. The key
 * material never leaves this module in clear.
 */
import type { MasterKey } from './master-key.js';

/** `sealed` (the key `kid`, under `from`) sealed under `to` instead; null if it already is. */
export function rewrapPrivateKey(sealed: string, kid: string, from: MasterKey, to: MasterKey): string | null {
  try {
    to.decrypt(sealed, kid);
    return null;
  } catch {
    // not under the new key yet
  }
  return to.encrypt(from.decrypt(sealed, kid), kid);
}
