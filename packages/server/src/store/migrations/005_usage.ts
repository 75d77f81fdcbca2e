import type { Kysely, Migration } from 'kysely';

/**
 * Usage analytics (docs/usage.md): hot counters, not audited configuration. Counts are
 * added by every replica's flush (insert or add), rolled up from minutes to hours to
 * days, and deleted after their retention. Last uses only ever move forward.
 */
export const usage: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('usage_counts')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('granularity', 'text', (c) => c.notNull())
      .addColumn('bucket_start', 'bigint', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('audience', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull())
      // 'issued', or the OAuth error code of a refusal.
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('count', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('usage_counts_pk', ['tenant_id', 'granularity', 'bucket_start', 'client_id', 'audience', 'scope', 'outcome'])
      .execute();
    // Roll-up and retention scan one granularity by time, across tenants.
    await db.schema.createIndex('usage_counts_time_idx').on('usage_counts').columns(['granularity', 'bucket_start']).execute();

    await db.schema
      .createTable('usage_last_used')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      // client | grant | scope | key
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('usage_last_used_pk', ['tenant_id', 'kind', 'subject'])
      .execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('usage_last_used').execute();
    await db.schema.dropTable('usage_counts').execute();
  },
};
