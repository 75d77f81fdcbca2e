import type { KyselyStore } from './kysely-store.js';
import type { Store } from './types.js';

export type * from './types.js';
export { StoreConflictError, StoreError, StoreInvalidCursorError, StoreUnavailableError } from './errors.js';
export type { StoreErrorCode } from './errors.js';

export interface CreateStoreOptions {
  /** A `postgres://` or `postgresql://` URL selects PostgreSQL; anything else the embedded SQLite store. */
  databaseUrl?: string;
  /** Where the embedded store keeps `tessera.db` (created with mode 0700). */
  dataDir: string;
  /** The embedded store in memory, without a file (test issuers only; ignored with a `databaseUrl`). */
  inMemory?: boolean;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/** Opens the configured store and brings its schema up to date. */
export async function createStore(options: CreateStoreOptions): Promise<Store> {
  // Each driver is loaded only when used: an embedded deployment never loads pg, and start-up stays fast.
  if (!isPostgresUrl(options.databaseUrl) && options.inMemory === true) return (await import('./sqlite.js')).openMigratedMemorySqliteStore();
  const store: KyselyStore = isPostgresUrl(options.databaseUrl)
    ? (await import('./postgres.js')).openPostgresStore(options.databaseUrl)
    : (await import('./sqlite.js')).openSqliteStore(options.dataDir);
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}
