import type { Kysely, Migration } from 'kysely';

/**
 * The initial schema. Tenant-scoped tables key on (tenant_id, ...), reference their
 * parents with ON DELETE CASCADE (the store also deletes children explicitly, so the
 * cascade is a safety net), and index every lookup the store makes.
 * Migrations are written against `Kysely<any>` on purpose: they must keep describing
 * the schema as it was at this version, whatever `schema.ts` says later.
 */
export const initial: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('tenants')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('signing_alg', 'text', (c) => c.notNull())
      .addColumn('access_token_lifetime', 'integer')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('clients')
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('token_endpoint_auth_method', 'text', (c) => c.notNull())
      .addColumn('jwks', 'text')
      .addColumn('jwks_uri', 'text')
      .addColumn('tls_client_auth_subject_dn', 'text')
      .addColumn('access_token_lifetime', 'integer')
      .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('clients_pk', ['tenant_id', 'client_id'])
      .execute();
    await db.schema.createIndex('clients_page_idx').on('clients').columns(['tenant_id', 'created_at', 'client_id']).execute();

    await db.schema
      .createTable('client_secrets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint')
      .addForeignKeyConstraint('client_secrets_client_fk', ['tenant_id', 'client_id'], 'clients', ['tenant_id', 'client_id'], (fk) =>
        fk.onDelete('cascade'),
      )
      .execute();
    await db.schema.createIndex('client_secrets_client_idx').on('client_secrets').columns(['tenant_id', 'client_id']).execute();

    await db.schema
      .createTable('apis')
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('identifier', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('access_token_lifetime', 'integer')
      .addColumn('token_format', 'text', (c) => c.notNull())
      .addColumn('introspectors', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('apis_pk', ['tenant_id', 'id'])
      .addUniqueConstraint('apis_identifier_unique', ['tenant_id', 'identifier'])
      .execute();
    await db.schema.createIndex('apis_page_idx').on('apis').columns(['tenant_id', 'created_at', 'id']).execute();

    await db.schema
      .createTable('grants')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('api_id', 'text', (c) => c.notNull())
      .addColumn('audience', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('grants_pk', ['tenant_id', 'id'])
      .addUniqueConstraint('grants_client_api_unique', ['tenant_id', 'client_id', 'api_id'])
      .addForeignKeyConstraint('grants_client_fk', ['tenant_id', 'client_id'], 'clients', ['tenant_id', 'client_id'], (fk) =>
        fk.onDelete('cascade'),
      )
      .addForeignKeyConstraint('grants_api_fk', ['tenant_id', 'api_id'], 'apis', ['tenant_id', 'id'], (fk) => fk.onDelete('cascade'))
      .execute();
    await db.schema.createIndex('grants_page_idx').on('grants').columns(['tenant_id', 'created_at', 'id']).execute();
    await db.schema.createIndex('grants_api_idx').on('grants').columns(['tenant_id', 'api_id']).execute();
    await db.schema.createIndex('grants_audience_idx').on('grants').columns(['tenant_id', 'audience']).execute();

    await db.schema
      .createTable('signing_keys')
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
      .addColumn('kid', 'text', (c) => c.notNull())
      .addColumn('alg', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('private_key_encrypted', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('activated_at', 'bigint')
      .addColumn('retired_at', 'bigint')
      .addColumn('publish_until', 'bigint')
      .addPrimaryKeyConstraint('signing_keys_pk', ['tenant_id', 'kid'])
      .execute();

    await db.schema
      .createTable('federations')
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('issuer', 'text', (c) => c.notNull())
      .addColumn('jwks_uri', 'text')
      .addColumn('jwks', 'text')
      .addColumn('audience', 'text')
      .addColumn('rules', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('federations_pk', ['tenant_id', 'id'])
      .execute();
    await db.schema.createIndex('federations_issuer_idx').on('federations').columns(['tenant_id', 'issuer']).execute();

    await db.schema
      .createTable('opaque_tokens')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('jti', 'text', (c) => c.notNull())
      .addColumn('claims', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
      .addForeignKeyConstraint('opaque_tokens_client_fk', ['tenant_id', 'client_id'], 'clients', ['tenant_id', 'client_id'], (fk) =>
        fk.onDelete('cascade'),
      )
      .execute();
    await db.schema.createIndex('opaque_tokens_client_idx').on('opaque_tokens').columns(['tenant_id', 'client_id']).execute();
    await db.schema.createIndex('opaque_tokens_expiry_idx').on('opaque_tokens').column('expires_at').execute();

    // No foreign keys on the two jti tables: they are written on the token path and
    // must not fail because an admin deleted something a moment earlier.
    await db.schema
      .createTable('revoked_jtis')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('jti', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('revoked_jtis_pk', ['tenant_id', 'jti'])
      .execute();
    await db.schema.createIndex('revoked_jtis_expiry_idx').on('revoked_jtis').column('expires_at').execute();

    await db.schema
      .createTable('assertion_jtis')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('jti', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('assertion_jtis_pk', ['tenant_id', 'client_id', 'jti'])
      .execute();
    await db.schema.createIndex('assertion_jtis_expiry_idx').on('assertion_jtis').column('expires_at').execute();

    // The audit log has no foreign key to tenants: the entry recording a tenant's
    // deletion must outlive the tenant.
    await db.schema
      .createTable('audit_log')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target_type', 'text', (c) => c.notNull())
      .addColumn('target_id', 'text', (c) => c.notNull())
      .addColumn('details', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('audit_log_page_idx').on('audit_log').columns(['tenant_id', 'at', 'id']).execute();

    await db.schema
      .createTable('console_users')
      .addColumn('username', 'text', (c) => c.primaryKey())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('meta')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('state')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .execute();
    await db.insertInto('state').values({ id: 1, version: 0 }).execute();
  },
};
