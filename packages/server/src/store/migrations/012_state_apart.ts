import { sql, type Kysely, type Migration } from 'kysely';

/**
 * The hot state apart from the registry (store/state/): single-use keys of any
 * namespace replace the client-assertion table, and opaque tokens lose their foreign
 * key to clients, so that deleting a client is a registry change only and its tokens
 * end through the state store. Rows move over as they are.
 */
export const stateApart: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('single_use')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('namespace', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('single_use_pk', ['tenant_id', 'namespace', 'key'])
      .execute();
    await db.schema.createIndex('single_use_expiry_idx').on('single_use').column('expires_at').execute();
    await sql`insert into single_use (tenant_id, namespace, key, expires_at)
      select tenant_id, 'assertion:' || client_id, jti, expires_at from assertion_jtis`.execute(db);
    await db.schema.dropTable('assertion_jtis').execute();

    // SQLite cannot drop a constraint: the table is made again without it, on both databases.
    await db.schema
      .createTable('opaque_tokens_012')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('jti', 'text', (c) => c.notNull())
      .addColumn('claims', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await sql`insert into opaque_tokens_012 (token_hash, tenant_id, client_id, jti, claims, expires_at, revoked)
      select token_hash, tenant_id, client_id, jti, claims, expires_at, revoked from opaque_tokens`.execute(db);
    await db.schema.dropTable('opaque_tokens').execute();
    await db.schema.alterTable('opaque_tokens_012').renameTo('opaque_tokens').execute();
    await db.schema.createIndex('opaque_tokens_client_idx').on('opaque_tokens').columns(['tenant_id', 'client_id']).execute();
    await db.schema.createIndex('opaque_tokens_expiry_idx').on('opaque_tokens').column('expires_at').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('single_use').execute();
  },
};
