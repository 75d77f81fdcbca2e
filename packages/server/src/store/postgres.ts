import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import { SqlStateStore } from './state/sql.js';

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
  // A connection that dies (database restart, pg_terminate_backend, network) must not
  // crash the process. The pool listens on idle clients only; a checked-out client
  // emits 'error' with nobody listening, which Node turns into an uncaught exception.
  // Every client gets its own listener for its whole life: the query at hand rejects
  // (StoreUnavailableError, 503), pg marks the client unusable and the pool drops it
  // on release, and the next query gets a fresh connection.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return new KyselyStore('postgres', db, {
    // The state store shares the pool: each of its writes is one autocommitted statement.
    openState: () => new SqlStateStore('postgres', db, async () => {}),
    listen: async (onNotify, onError) => (await import('./pg-listen.js')).listenForChanges(databaseUrl, onNotify, onError),
  });
}
