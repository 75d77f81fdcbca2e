import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';

const INT8_OID = 20;

/**
 * int8 (bigint: epoch-ms times, counters) as a JavaScript number. Safe: epoch
 * milliseconds and the state version stay far below 2^53. Configured per pool so
 * other pg users in the process are unaffected.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number.parseInt(value, 10)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PostgresStoreOptions {
  /** Pool size per replica (default 10). */
  maxConnections?: number;
}

/** The store for several replicas on one PostgreSQL database. */
export function openPostgresStore(databaseUrl: string, options: PostgresStoreOptions = {}): KyselyStore {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    types,
  });
  // An idle connection that dies (database restart, network) must not crash the
  // process; the next query gets a fresh connection or fails as StoreUnavailableError.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return new KyselyStore('postgres', db, {
    listen: async (onNotify, onError) => (await import('./pg-listen.js')).listenForChanges(databaseUrl, onNotify, onError),
  });
}
