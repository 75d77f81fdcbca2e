import type { Kysely, Migration } from 'kysely';

/**
 * Console users with a role (viewer or admin) and optionally the tenants they may act
 * on (docs/console.md). Users from before this migration (the bootstrap user) are
 * admins for every tenant, which is what they could do before.
 */
export const consoleUserRoles: Migration = {
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('console_users').addColumn('role', 'text', (c) => c.notNull().defaultTo('admin')).execute();
    // A JSON array of tenant ids; null: every tenant.
    await db.schema.alterTable('console_users').addColumn('tenants', 'text').execute();
    await db.schema.alterTable('console_users').addColumn('updated_at', 'bigint').execute();
    // Console sessions signed in before the password was last set are refused.
    await db.schema.alterTable('console_users').addColumn('password_changed_at', 'bigint').execute();
  },
  async down(db: Kysely<any>): Promise<void> {
    for (const column of ['password_changed_at', 'updated_at', 'tenants', 'role']) {
      await db.schema.alterTable('console_users').dropColumn(column).execute();
    }
  },
};
