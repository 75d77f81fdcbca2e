import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Indexes for lists that scale (docs/management-api.md, "Search, sort and paging"):
 * every sort of the client, API, grant and audit lists is a walk of one of these in
 * key order from where the cursor stopped, never a sort of the tenant's rows. Names
 * sort case-insensitively (lower(name)), as a person reads them; SQLite and
 * PostgreSQL both index the expression.
 */
export const listIndexes: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await sql`create index clients_name_idx on clients (tenant_id, lower(name), client_id)`.execute(db);
    await sql`create index apis_name_idx on apis (tenant_id, lower(name), id)`.execute(db);
    await db.schema.createIndex('apis_identifier_idx').on('apis').columns(['tenant_id', 'identifier', 'id']).execute();
    await db.schema.createIndex('grants_client_sort_idx').on('grants').columns(['tenant_id', 'client_id', 'id']).execute();
    await db.schema.createIndex('grants_audience_sort_idx').on('grants').columns(['tenant_id', 'audience', 'id']).execute();
    // Clients by last use, and the unused-grant reports' walk of last uses by time.
    await db.schema.createIndex('usage_last_used_time_idx').on('usage_last_used').columns(['tenant_id', 'kind', 'last_used_at', 'subject']).execute();
    // The audit of one action, or of one target (a client's history), newest first.
    await db.schema.createIndex('audit_log_action_idx').on('audit_log').columns(['tenant_id', 'action', 'at', 'id']).execute();
    await db.schema.createIndex('audit_log_target_idx').on('audit_log').columns(['tenant_id', 'target_type', 'target_id', 'at', 'id']).execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    for (const name of ['audit_log_target_idx', 'audit_log_action_idx', 'usage_last_used_time_idx', 'grants_audience_sort_idx', 'grants_client_sort_idx', 'apis_identifier_idx', 'apis_name_idx', 'clients_name_idx']) {
      await db.schema.dropIndex(name).execute();
    }
  },
};
