import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Custom claims on clients and grants; federations that trust an external issuer for
 * RFC 8693 subject tokens, copy claims, guard against replay, or find their keys by
 * discovery. Every new column is nullable or defaulted: rows written before keep
 * their meaning (a workload federation, no claims, replay protection off).
 */
export const claimsAndFederationTrust: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('clients').addColumn('custom_claims', 'text').execute();
    await db.schema.alterTable('grants').addColumn('custom_claims', 'text').execute();
    await db.schema.alterTable('federations').addColumn('kind', 'text', (c) => c.notNull().defaultTo(sql`'workload'`)).execute();
    await db.schema.alterTable('federations').addColumn('claim_mappings', 'text').execute();
    await db.schema.alterTable('federations').addColumn('replay_protection', 'text').execute();
    await db.schema.alterTable('federations').addColumn('exchange_rules', 'text').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    for (const column of ['exchange_rules', 'replay_protection', 'claim_mappings', 'kind']) {
      await db.schema.alterTable('federations').dropColumn(column).execute();
    }
    await db.schema.alterTable('grants').dropColumn('custom_claims').execute();
    await db.schema.alterTable('clients').dropColumn('custom_claims').execute();
  },
};
