/**
 * PostgreSQL for tests. Set TESSERA_TEST_DATABASE_URL to a server where the user
 * may create databases (e.g. postgres://postgres@127.0.0.1:5432/postgres); each call
 * creates a fresh `tessera_t_<random>` database on that server, so test files run in
 * parallel without seeing each other's rows.
 *
 *   const pg = await createTestDatabase();
 *   describe.skipIf(pg === null)(...)          // or describe.skip with a message
 *   ... createStore({ databaseUrl: pg.url, dataDir }) ...
 *   afterAll(() => pg?.drop());                // close your pools first
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL_ENV = 'TESSERA_TEST_DATABASE_URL';

export interface TestDatabase {
  /** Connection URL of the new database. */
  url: string;
  /** Drops the database, terminating connections that are still open. */
  drop(): Promise<void>;
}

/** The admin URL from the environment, or undefined when PostgreSQL tests are off. */
export function testDatabaseUrl(): string | undefined {
  const url = process.env[TEST_DATABASE_URL_ENV];
  return url === undefined || url === '' ? undefined : url;
}

async function withAdminClient<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh database; null when TESSERA_TEST_DATABASE_URL is not set. */
export async function createTestDatabase(): Promise<TestDatabase | null> {
  const adminUrl = testDatabaseUrl();
  if (adminUrl === undefined) return null;
  // Lower-case hex only: safe to interpolate as an identifier.
  const name = `tessera_t_${randomBytes(6).toString('hex')}`;
  await withAdminClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdminClient(adminUrl, async (client) => {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [
          name,
        ]);
        await client.query(`DROP DATABASE IF EXISTS ${name}`);
      });
    },
  };
}
