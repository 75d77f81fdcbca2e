import { type Kysely, type Migration, sql } from 'kysely';

/**
 * DPoP (RFC 9449) and Transaction Tokens: per client, whether its tokens must be
 * DPoP-bound (`dpop_bound_access_tokens`) and whether it may mint transaction tokens;
 * per tenant, the trust domain transaction tokens are addressed to (null: the issuer)
 * and whether DPoP proofs must carry a server nonce. Defaults keep existing rows as
 * they were.
 */
export const senderConstraintsAndTxnTokens: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('clients').addColumn('dpop_bound_access_tokens', 'integer', (c) => c.notNull().defaultTo(sql`0`)).execute();
    await db.schema.alterTable('clients').addColumn('txn_token_service', 'integer', (c) => c.notNull().defaultTo(sql`0`)).execute();
    await db.schema.alterTable('tenants').addColumn('trust_domain', 'text').execute();
    await db.schema.alterTable('tenants').addColumn('dpop_nonce_required', 'integer', (c) => c.notNull().defaultTo(sql`0`)).execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('tenants').dropColumn('dpop_nonce_required').execute();
    await db.schema.alterTable('tenants').dropColumn('trust_domain').execute();
    await db.schema.alterTable('clients').dropColumn('txn_token_service').execute();
    await db.schema.alterTable('clients').dropColumn('dpop_bound_access_tokens').execute();
  },
};
