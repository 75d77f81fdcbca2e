// node .ci/pg.mjs create|drop <admin-url> <database>: the per-run CI database.
import pg from 'pg';

const [action, url, database] = process.argv.slice(2);
if (!['create', 'drop'].includes(action) || !url || !/^[a-z0-9_]+$/.test(database ?? '')) {
  console.error('usage: node .ci/pg.mjs create|drop <admin-url> <database>');
  process.exit(2);
}
const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
try {
  await client.connect();
  if (action === 'create') {
    await client.query(`CREATE DATABASE ${database}`);
  } else {
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    await client.query(`DROP DATABASE IF EXISTS ${database}`);
  }
} catch (error) {
  console.error(`${action} ${database}: ${error.message}`);
  process.exitCode = 1;
} finally {
  await client.end().catch(() => {});
}
