import type { Kysely, Migration } from 'kysely';

/** Quotas (docs/protection.md): token requests per minute per client and per tenant; null: the default. */
export const quotas: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('clients').addColumn('token_quota_per_minute', 'integer').execute();
    await db.schema.alterTable('tenants').addColumn('token_quota_per_minute', 'integer').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('clients').dropColumn('token_quota_per_minute').execute();
    await db.schema.alterTable('tenants').dropColumn('token_quota_per_minute').execute();
  },
};
