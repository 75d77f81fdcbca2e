/**
 * One public URL per deployment (docs/deploy.md). Every issuer is `<public URL>/t/<tenant>`:
 * two replicas of one database with different public URLs would sign tokens that the
 * other answers as inactive, and revocations through one would do nothing on the other.
 * The first start records the URL in the store; a start with another one is refused
 * with both named, and `tessera admin set-public-url` is the way to change it.
 *
 * One case follows the new URL instead: the embedded store (one data directory, one
 * server at a time) where neither the recorded nor the new URL was configured, both
 * being the default `http://<host>:<port>`: a restart on another port on one machine.
 * Nothing else can hold the old issuer there, and refusing would only get in the way.
 */
import type { NewAuditEntry, Store } from '../store/types.js';

export const PUBLIC_URL_META = 'public-url';
const LOCK = 'public-url';

export interface PublicUrlRecord {
  url: string;
  /** Set by --public-url/TESSERA_PUBLIC_URL (or the set-public-url command), not the default http://<host>:<port>. */
  configured: boolean;
}

/** What a start runs with: its URL, whether it was configured, and whether other processes can share its store. */
export interface PublicUrlClaim extends PublicUrlRecord {
  shared: boolean;
}

export class PublicUrlMismatchError extends Error {
  readonly code = 'ERR_PUBLIC_URL_MISMATCH';

  constructor(readonly recorded: string, readonly requested: string, configured: boolean) {
    super(
      `this deployment's public URL is ${recorded} (recorded by its first start), but this server's is ${requested}`
      + `${configured ? '' : ' (the default http://<host>:<port>, as --public-url is not set)'}: `
      + `every replica of one store must serve one public URL. Start it with --public-url ${recorded} (or TESSERA_PUBLIC_URL), `
      + `or change the deployment's public URL first: tessera admin set-public-url ${requested} (docs/deploy.md)`,
    );
    this.name = 'PublicUrlMismatchError';
  }
}

export async function readPublicUrl(store: Store): Promise<PublicUrlRecord | null> {
  const value = await store.getMeta(PUBLIC_URL_META);
  if (value === null) return null;
  try {
    const parsed = JSON.parse(value) as Partial<PublicUrlRecord>;
    if (typeof parsed.url === 'string') return { url: parsed.url, configured: parsed.configured === true };
  } catch {
    // not JSON: treat as a bare URL
  }
  return { url: value, configured: true };
}

export async function writePublicUrl(store: Store, record: PublicUrlRecord, audit?: NewAuditEntry): Promise<void> {
  await store.setMeta(PUBLIC_URL_META, JSON.stringify({ url: record.url, configured: record.configured }), audit);
}

/**
 * At each start, after the bootstrap (which records the first URL in its transaction):
 * records the URL if the store has none yet (a store bootstrapped by an older release),
 * accepts the recorded one, follows a new default on the embedded store, refuses the rest.
 * Returns what was recorded before this start, if it differed.
 */
export async function claimPublicUrl(store: Store, claim: PublicUrlClaim): Promise<{ followed: string | null }> {
  return store.withLock(LOCK, async (tx) => {
    const recorded = await readPublicUrl(tx);
    if (recorded === null) {
      await writePublicUrl(tx, claim);
      return { followed: null };
    }
    if (recorded.url === claim.url) {
      if (claim.configured && !recorded.configured) await writePublicUrl(tx, claim);
      return { followed: null };
    }
    if (!claim.shared && !claim.configured && !recorded.configured) {
      await writePublicUrl(tx, claim);
      return { followed: recorded.url };
    }
    throw new PublicUrlMismatchError(recorded.url, claim.url, claim.configured);
  });
}
