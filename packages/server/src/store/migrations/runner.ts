/**
 * Runs the migrations of `MIGRATIONS` that a database has not applied, each in its own
 * transaction together with its row in `tessera_migration`: a process killed at any
 * moment leaves every migration either applied and recorded or neither, on SQLite
 * (whose DDL is transactional, though Kysely's Migrator does not use it there) and on
 * PostgreSQL. The table and its rows are those Kysely's Migrator wrote, so databases
 * made by earlier releases upgrade in place.
 *
 * Concurrent starters (replicas, `--workers`) take turns: each transaction first takes
 * the database's write lock (SQLite: `BEGIN IMMEDIATE`, see sqlite.ts) or an advisory
 * lock (PostgreSQL), then reads what is applied, so a migration runs exactly once.
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import { MIGRATION_TABLE, MIGRATIONS, type NamedMigration } from './index.js';

/** Kysely's Migrator's advisory lock id: a replica of an earlier release waits for this one and back. */
const POSTGRES_LOCK_ID = BigInt('3853314791062309107');

export class MigrationOrderError extends Error {}

/** What a database has applied, checked against this build's migrations: the next one to run, or null. */
export function nextMigration(applied: readonly string[], migrations: readonly NamedMigration[] = MIGRATIONS): NamedMigration | null {
  const known = new Set(migrations.map((m) => m.name));
  const unknown = applied.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new MigrationOrderError(
      `the database was migrated by a newer Tessera (it has applied ${unknown.join(', ')}, which this build does not know): run that version, or restore the backup taken before the upgrade`,
    );
  }
  const done = new Set(applied);
  const pending = migrations.findIndex((m) => !done.has(m.name));
  const after = pending === -1 ? [] : migrations.slice(pending + 1).filter((m) => done.has(m.name));
  if (after.length > 0) {
    throw new MigrationOrderError(`migrations out of order: ${after.map((m) => m.name).join(', ')} applied before ${migrations[pending]!.name}`);
  }
  return pending === -1 ? null : migrations[pending]!;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations see the schema of their own time, not today's
type AnyDb = Kysely<any>;

export async function migrateToLatest(db: AnyDb, kind: 'sqlite' | 'postgres', migrations: readonly NamedMigration[] = MIGRATIONS): Promise<string[]> {
  const ran: string[] = [];
  for (;;) {
    const name = await db.transaction().execute(async (trx) => {
      await lock(trx, kind);
      await trx.schema
        .createTable(MIGRATION_TABLE)
        .ifNotExists()
        .addColumn('name', 'varchar(255)', (c) => c.notNull().primaryKey())
        .addColumn('timestamp', 'varchar(255)', (c) => c.notNull())
        .execute();
      const rows = await trx.selectFrom(MIGRATION_TABLE).select('name').orderBy('name').execute();
      const next = nextMigration(rows.map((r: { name: string }) => r.name), migrations);
      if (next === null) return null;
      await next.migration.up(trx);
      await trx.insertInto(MIGRATION_TABLE).values({ name: next.name, timestamp: new Date().toISOString() }).execute();
      return next.name;
    });
    if (name === null) return ran;
    ran.push(name);
  }
}

async function lock(trx: Transaction<unknown>, kind: 'sqlite' | 'postgres'): Promise<void> {
  // SQLite: the transaction began IMMEDIATE, which holds the database's write lock.
  if (kind === 'postgres') await sql`select pg_advisory_xact_lock(${sql.lit(POSTGRES_LOCK_ID)})`.execute(trx);
}
