import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, type DatabaseConnection, type Driver, Kysely, type QueryResult, SqliteDialect, SqliteDriver } from 'kysely';
import { toStoreError } from './errors.js';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import { SqlStateStore } from './state/sql.js';

export const SQLITE_FILE_NAME = 'tessera.db';

/** How long a statement may wait, in all, for another process's write lock. */
const LOCK_WAIT_LIMIT = 5000;

/**
 * The embedded store: one file, `<dataDir>/tessera.db`, shared by the worker
 * processes of `serve --workers N`. WAL lets readers proceed during a write.
 * Transactions begin IMMEDIATE: a deferred one that reads and then writes could not
 * wait for the lock (SQLITE_BUSY at once when another process wrote in between).
 * Kysely's SQLite driver serialises all statements over the one connection, so a
 * transaction is also a process-wide lock.
 *
 * Two connections per process: the registry's, and the state store's (store/state/),
 * so that a token-path write never waits behind a registry transaction of its own
 * process. Neither waits in SQLite's `busy_timeout`, which would block the event loop:
 * a statement that meets another connection's write lock is retried after a timer.
 */
export function openSqliteStore(dataDir: string): KyselyStore {
  const file = join(dataDir, SQLITE_FILE_NAME);
  const db = openSqliteDatabase(file, { create: true });
  return new KyselyStore('sqlite', db, {
    openState: () => {
      const stateDb = openSqliteDatabase(file, { create: false });
      return new SqlStateStore('sqlite', stateDb, () => stateDb.destroy());
    },
  });
}

function openSqliteDatabase(file: string, options: { create: boolean }): Kysely<Database> {
  let database: BetterSqlite3.Database;
  try {
    if (options.create) mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    database = new BetterSqlite3(file);
    // Hashes and encrypted keys live here: owner only. SQLite gives the -wal and
    // -shm files the permissions of the database file.
    if (options.create) chmodSync(file, 0o600);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('busy_timeout = 0');
    database.pragma('foreign_keys = ON');
  } catch (error) {
    throw toStoreError(error);
  }
  return new Kysely<Database>({ dialect: new NonBlockingDialect(database) });
}

/**
 * An embedded store that lives in memory and leaves no file behind: for a test
 * issuer inside another project's test process (@tessera/testing), never for
 * `serve`. One process, one connection: nothing to share it with, so the state store
 * uses that connection too (a second one would open another, empty database).
 *
 * The first one of a process runs the migrations; its freshly migrated database is
 * kept as an image (SQLite's serialize), and every later one opens a copy of that
 * image instead of running them again: the same schema, made by the same migrations,
 * for a fraction of the cost (a suite may start an issuer per test). `migrate()`
 * still checks the copy, and finds nothing to do.
 */
export async function openMigratedMemorySqliteStore(): Promise<KyselyStore> {
  const image = migratedMemoryImage;
  let database: BetterSqlite3.Database;
  try {
    database = image === null ? new BetterSqlite3(':memory:') : new BetterSqlite3(image);
    database.pragma('foreign_keys = ON');
  } catch (error) {
    throw toStoreError(error);
  }
  const db = new Kysely<Database>({ dialect: new NonBlockingDialect(database) });
  const store = new KyselyStore('sqlite', db, { openState: () => new SqlStateStore('sqlite', db, async () => {}) });
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  if (image === null) migratedMemoryImage = database.serialize();
  return store;
}

/** The schema after all migrations, as SQLite serializes an in-memory database; made once per process. */
let migratedMemoryImage: Buffer | null = null;

/** Transactions that begin IMMEDIATE, and lock waits on timers instead of in `busy_timeout`. */
class NonBlockingDialect extends SqliteDialect {
  readonly #database: BetterSqlite3.Database;

  constructor(database: BetterSqlite3.Database) {
    super({ database: withStatementCache(database) });
    this.#database = database;
  }

  override createDriver(): Driver {
    const driver = super.createDriver() as SqliteDriver;
    const database = this.#database;
    const acquire = driver.acquireConnection.bind(driver);
    let wrapped: DatabaseConnection | undefined;
    driver.acquireConnection = async () => {
      const connection = await acquire();
      wrapped ??= waitingForLocks(connection, database);
      return wrapped;
    };
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

/**
 * Retries a statement that found the database locked by another connection, after a
 * short timer, until LOCK_WAIT_LIMIT: safe only where the failed statement changed
 * nothing, which holds outside a transaction (autocommit) and for `begin immediate`,
 * where SQLite takes the write lock (in WAL mode nothing else in a transaction that
 * began so can meet it).
 */
function waitingForLocks(connection: DatabaseConnection, database: BetterSqlite3.Database): DatabaseConnection {
  return {
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      const started = Date.now();
      for (let attempt = 0; ; attempt++) {
        const retryable = !database.inTransaction || query.sql === 'begin immediate';
        try {
          return await connection.executeQuery<R>(query);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          const busy = typeof code === 'string' && code.startsWith('SQLITE_BUSY');
          if (!busy || !retryable || Date.now() - started > LOCK_WAIT_LIMIT) throw error;
          await sleep(Math.min(2 ** attempt, 20));
        }
      }
    },
    streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
  };
}

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely's SQLite driver prepares every query it runs; compiling the SQL again costs
 * as much as running a small insert (the private_key_jwt `jti` record on every
 * assertion). Statements are reused by their SQL text instead: better-sqlite3 runs
 * them synchronously, and SQLite recompiles one by itself if the schema changed.
 */
function withStatementCache(database: BetterSqlite3.Database): Pick<BetterSqlite3.Database, 'close' | 'prepare'> {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(source: string) {
      let statement = statements.get(source);
      if (statement === undefined) {
        statement = database.prepare(source);
        // Queries with a variable number of placeholders make new texts: stay bounded.
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.clear();
        statements.set(source, statement);
      }
      return statement;
    },
  } as Pick<BetterSqlite3.Database, 'close' | 'prepare'>;
}
