import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../test/helpers/postgres.js';
import { MIGRATION_TABLE, MIGRATIONS, type NamedMigration } from './index.js';
import { MigrationOrderError, migrateToLatest, nextMigration } from './runner.js';

const step = (name: string, up: (db: Kysely<any>) => Promise<void>): NamedMigration => ({ name, migration: { up } });

/** A migration that creates a table, then fails: what a kill between its statements leaves behind. */
const failing = step('002_b', async (db) => {
  await db.schema.createTable('half').addColumn('id', 'integer').execute();
  await db.schema.alterTable('a').addColumn('extra', 'text').execute();
  throw new Error('interrupted');
});
const first = step('001_a', async (db) => {
  await db.schema.createTable('a').addColumn('id', 'integer').execute();
});
const fixed = step('002_b', async (db) => {
  await db.schema.createTable('half').addColumn('id', 'integer').execute();
  await db.schema.alterTable('a').addColumn('extra', 'text').execute();
});

describe('the order of migrations', () => {
  it('is by number, and the shipped names never change (databases record them)', () => {
    const names = MIGRATIONS.map((m) => m.name);
    expect(names.slice(0, 6)).toEqual(['001_initial', '002_rate_limits', '003_change_feed', '005_usage', '006_quotas', '009_claims_and_federation_trust']);
    expect([...names].sort()).toEqual(names);
    expect(new Set(names.map((n) => n.slice(0, 3))).size).toBe(names.length);
  });

  it('runs what is missing next, and refuses a database that knows more or skipped one', () => {
    const list = [first, fixed];
    expect(nextMigration([], list)?.name).toBe('001_a');
    expect(nextMigration(['001_a'], list)?.name).toBe('002_b');
    expect(nextMigration(['001_a', '002_b'], list)).toBeNull();
    expect(() => nextMigration(['001_a', '002_b', '003_c'], list)).toThrow(MigrationOrderError);
    expect(() => nextMigration(['001_a', '003_c'], list)).toThrow(/newer Tessera/);
    expect(() => nextMigration(['002_b'], list)).toThrow(/out of order/);
  });
});

async function atomicity(db: Kysely<any>, kind: 'sqlite' | 'postgres', tables: () => Promise<string[]>) {
  await expect(migrateToLatest(db, kind, [first, failing])).rejects.toThrow('interrupted');
  // The first migration committed with its row; nothing of the second is left.
  expect((await db.selectFrom(MIGRATION_TABLE).select('name').execute()).map((r) => r.name)).toEqual(['001_a']);
  expect(await tables()).not.toContain('half');
  // A restart runs the second again from the start (no "already exists", no "duplicate column").
  expect(await migrateToLatest(db, kind, [first, fixed])).toEqual(['002_b']);
  expect(await migrateToLatest(db, kind, [first, fixed])).toEqual([]);
  expect((await db.selectFrom(MIGRATION_TABLE).select('name').orderBy('name').execute()).map((r) => r.name)).toEqual(['001_a', '002_b']);
}

const database = await createTestDatabase();
afterAll(() => database?.drop());

describe('each migration and its bookkeeping row commit or roll back together', () => {
  it('on SQLite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-migrate-'));
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(join(dir, 'test.db')) }) });
    try {
      await atomicity(db, 'sqlite', async () =>
        (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(db)).rows.map((r) => r.name),
      );
    } finally {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(database === null)(`on PostgreSQL, and concurrent starters run each migration once${database === null ? ' (skipped: set TESSERA_TEST_DATABASE_URL)' : ''}`, async () => {
    const pools = [new pg.Pool({ connectionString: database!.url }), new pg.Pool({ connectionString: database!.url })];
    const [db, other] = pools.map((pool) => new Kysely<any>({ dialect: new PostgresDialect({ pool }) })) as [Kysely<any>, Kysely<any>];
    try {
      await atomicity(db, 'postgres', async () =>
        (await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = 'public'`.execute(db)).rows.map((r) => r.tablename),
      );
      let runs = 0;
      const counted = step('003_c', async (trx) => {
        runs++;
        await trx.schema.createTable('c').addColumn('id', 'integer').execute();
      });
      const ran = await Promise.all([db, other].map((d) => migrateToLatest(d, 'postgres', [first, fixed, counted])));
      expect(ran.flat()).toEqual(['003_c']);
      expect(runs).toBe(1);
    } finally {
      await db.destroy();
      await other.destroy();
    }
  });
});
