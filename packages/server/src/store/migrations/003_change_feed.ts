import { type Kysely, type Migration, PostgresAdapter } from 'kysely';

/**
 * The change feed replaces the global state version: one row per changed registry
 * entry (tenant, kind, entity), written in the same transaction as the change.
 * Replicas follow it by sequence number and invalidate only what changed.
 */
export const changeFeed: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
    await db.schema
      .createTable('changes')
      // Commit order: writers take one advisory lock before their last insert (PostgreSQL);
      // SQLite has one writer at a time. AUTOINCREMENT never reuses a number.
      .addColumn('seq', postgres ? 'bigserial' : 'integer', (c) => (postgres ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('entity_id', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('changes_at_idx').on('changes').column('at').execute();
    await db.schema.dropTable('state').execute();
    // Key rotation finds due tenants with one query over the active and retired keys.
    await db.schema.createIndex('signing_keys_status_idx').on('signing_keys').columns(['status', 'tenant_id']).execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropIndex('signing_keys_status_idx').execute();
    await db.schema.dropTable('changes').execute();
    await db.schema
      .createTable('state')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .execute();
    await db.insertInto('state').values({ id: 1, version: 0 }).execute();
  },
};
