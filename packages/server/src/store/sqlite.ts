import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, type DatabaseConnection, type Driver, Kysely, type QueryResult, SqliteDialect, SqliteDriver } from 'kysely';
import { toStoreError } from './errors.js';
import { KyselyStore } from './kysely-store.js';
import type { Database } from './schema.js';
import { SqlStateStore } from './state/sql.js';
import type { LockWaitListener, StoreConnectionName } from './types.js';

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
 * How long each use of a connection waited for a lock is reported (`lockWaits`).
 */
export function openSqliteStore(dataDir: string): KyselyStore {
  const file = join(dataDir, SQLITE_FILE_NAME);
  const lockWaits = new LockWaits();
  const db = openSqliteDatabase(file, { create: true, connection: 'registry', lockWaits });
  return new KyselyStore('sqlite', db, {
    lockWaits,
    openState: () => {
      const stateDb = openSqliteDatabase(file, { create: false, connection: 'state', lockWaits });
      return new SqlStateStore('sqlite', stateDb, () => stateDb.destroy());
    },
  });
}

/** Where the connections of one SQLite store report their lock waits (to the store's listeners). */
export class LockWaits {
  readonly #listeners: LockWaitListener[] = [];

  listen(listener: LockWaitListener): void {
    this.#listeners.push(listener);
  }

  report(connection: StoreConnectionName, seconds: number): void {
    for (const listener of this.#listeners) listener(connection, seconds);
  }
}

interface ConnectionOptions {
  create: boolean;
  connection: StoreConnectionName;
  lockWaits: LockWaits;
}

function openSqliteDatabase(file: string, options: ConnectionOptions): Kysely<Database> {
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
  return new Kysely<Database>({ dialect: new NonBlockingDialect(database, options.connection, options.lockWaits) });
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
  const lockWaits = new LockWaits();
  const db = new Kysely<Database>({ dialect: new NonBlockingDialect(database, 'registry', lockWaits) });
  const store = new KyselyStore('sqlite', db, { lockWaits, openState: () => new SqlStateStore('sqlite', db, async () => {}) });
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

/**
 * Transactions that begin IMMEDIATE, lock waits on timers instead of in `busy_timeout`,
 * and each use of the connection (one statement, or one transaction from `begin` to
 * its end) reported with the time it waited for a lock: for this process's one
 * connection (Kysely's driver queues its users), and for the database's write lock
 * held by another connection (the retries after SQLITE_BUSY).
 */
class NonBlockingDialect extends SqliteDialect {
  readonly #database: BetterSqlite3.Database;
  readonly #name: StoreConnectionName;
  readonly #lockWaits: LockWaits;

  constructor(database: BetterSqlite3.Database, name: StoreConnectionName, lockWaits: LockWaits) {
    super({ database: withStatementCache(database) });
    this.#database = database;
    this.#name = name;
    this.#lockWaits = lockWaits;
  }

  override createDriver(): Driver {
    const driver = super.createDriver() as SqliteDriver;
    const acquire = driver.acquireConnection.bind(driver);
    const release = driver.releaseConnection.bind(driver);
    const connection = new LockWaitingConnection(this.#database);
    const lockWaits = this.#lockWaits;
    const name = this.#name;
    driver.acquireConnection = async () => {
      const asked = performance.now();
      connection.use(await acquire());
      connection.waited = performance.now() - asked;
      return connection;
    };
    driver.releaseConnection = async () => {
      lockWaits.report(name, connection.waited / 1000);
      await release();
    };
    driver.beginTransaction = async (used: DatabaseConnection) => {
      await used.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

/**
 * Retries a statement that found the database locked by another connection, after a
 * short timer, until LOCK_WAIT_LIMIT: safe only where the failed statement changed
 * nothing, which holds outside a transaction (autocommit) and for `begin immediate`,
 * where SQLite takes the write lock (in WAL mode nothing else in a transaction that
 * began so can meet it). `waited` adds up the time spent so (milliseconds) for the
 * driver to report at the connection's release.
 */
class LockWaitingConnection implements DatabaseConnection {
  waited = 0;
  #connection: DatabaseConnection | null = null;

  constructor(private readonly database: BetterSqlite3.Database) {}

  use(connection: DatabaseConnection): void {
    this.#connection = connection;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const connection = this.#connection as DatabaseConnection;
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      const retryable = !this.database.inTransaction || query.sql === 'begin immediate';
      const attempted = performance.now();
      try {
        const result = await connection.executeQuery<R>(query);
        // Everything before the attempt that succeeded was spent waiting for the lock.
        this.waited += attempted - started;
        return result;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        const busy = typeof code === 'string' && code.startsWith('SQLITE_BUSY');
        if (!busy || !retryable || performance.now() - started > LOCK_WAIT_LIMIT) {
          // A statement that gave up on the lock waited all along; any other failure, only before its attempt.
          this.waited += (busy ? performance.now() : attempted) - started;
          throw error;
        }
        await sleep(Math.min(2 ** attempt, 20));
      }
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return (this.#connection as DatabaseConnection).streamQuery<R>(query, chunkSize);
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
