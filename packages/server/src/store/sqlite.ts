import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, type DatabaseConnection, type Driver, Kysely, SqliteDialect, SqliteDriver } from 'kysely';
import { toStoreError } from './errors.js';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';

export const SQLITE_FILE_NAME = 'tessera.db';

/**
 * The embedded store: one file, `<dataDir>/tessera.db`, shared by the worker
 * processes of `serve --workers N`. WAL lets readers proceed during a write;
 * `busy_timeout` makes a writer wait for another process's write to commit.
 * Transactions begin IMMEDIATE: a deferred one that reads and then writes could not
 * wait for the lock (SQLITE_BUSY at once when another process wrote in between).
 * Kysely's SQLite driver serialises all statements over the one connection, so a
 * transaction is also a process-wide lock.
 */
export function openSqliteStore(dataDir: string): KyselyStore {
  let database: BetterSqlite3.Database;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = join(dataDir, SQLITE_FILE_NAME);
    database = new BetterSqlite3(file);
    // Hashes and encrypted keys live here: owner only. SQLite gives the -wal and
    // -shm files the permissions of the database file.
    chmodSync(file, 0o600);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
  } catch (error) {
    throw toStoreError(error);
  }
  return sqliteStoreOn(database);
}

/**
 * An embedded store that lives in memory and leaves no file behind: for a test
 * issuer inside another project's test process (@tessera/testing), never for
 * `serve`. One process, one connection: nothing to share it with.
 */
export function openMemorySqliteStore(): KyselyStore {
  let database: BetterSqlite3.Database;
  try {
    database = new BetterSqlite3(':memory:');
    database.pragma('foreign_keys = ON');
  } catch (error) {
    throw toStoreError(error);
  }
  return sqliteStoreOn(database);
}

function sqliteStoreOn(database: BetterSqlite3.Database): KyselyStore {
  const db = new Kysely<Database>({ dialect: new ImmediateTransactionsDialect({ database: withStatementCache(database) }) });
  return new KyselyStore('sqlite', db);
}

class ImmediateTransactionsDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver() as SqliteDriver;
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
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
