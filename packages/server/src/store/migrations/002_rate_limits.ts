import type { Kysely, Migration } from 'kysely';

/** Token-endpoint rate-limit counters shared by every replica: one row per key and window. */
export const rateLimits: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('rate_limits')
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('window_start', 'bigint', (c) => c.notNull())
      .addColumn('hits', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('rate_limits_pk', ['key', 'window_start'])
      .execute();
    await db.schema.createIndex('rate_limits_window_idx').on('rate_limits').column('window_start').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('rate_limits').execute();
  },
};
