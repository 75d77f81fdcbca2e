/**
 * Migration 014 on a database made by the previous release: its console user (the
 * bootstrap one, from before roles) becomes an admin for every tenant, signs in as
 * before, and nothing else about it changes.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/store/migrations/index.js';
import { migrateToLatest } from '../src/store/migrations/runner.js';
import { createStore } from '../src/store/index.js';
import { SQLITE_FILE_NAME } from '../src/store/sqlite.js';
import { makeTempDir, type TempDir } from './helpers/temp-dir.js';

let dir: TempDir;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(() => dir.cleanup());

describe('migration 014: console user roles', () => {
  it('makes the console user of a previous release an admin for every tenant', async () => {
    const previous = MIGRATIONS.filter((m) => m.name < '014');
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(join(dir.path, SQLITE_FILE_NAME)) }) });
    expect(await migrateToLatest(db, 'sqlite', previous)).toContain('013_sender_constraints_and_txn_tokens');
    await db.insertInto('console_users').values({ username: 'admin', password_hash: 'scrypt$32768$old$hash', created_at: 1_700_000_000_000 }).execute();
    await db.destroy();

    const store = await createStore({ dataDir: dir.path });
    try {
      expect(await store.getConsoleUser('admin')).toEqual({
        username: 'admin',
        passwordHash: 'scrypt$32768$old$hash',
        role: 'admin',
        tenants: null,
        createdAt: 1_700_000_000_000,
        updatedAt: null,
        passwordChangedAt: 1_700_000_000_000,
      });
    } finally {
      await store.close();
    }
  });
});
