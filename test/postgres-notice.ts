/**
 * Vitest global setup: says once, in every reporter's output, whether the PostgreSQL
 * tests run, and the Redis ones. (Skipped tests are listed by name only with --reporter=verbose.)
 */
export default function setup(): void {
  const url = process.env['TESSERA_TEST_DATABASE_URL'];
  if (url === undefined || url === '') {
    process.stderr.write(
      '\nPostgreSQL tests are skipped: TESSERA_TEST_DATABASE_URL is not set. To run them, point it at a server where they may\n' +
        'create databases, e.g. TESSERA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm test\n\n',
    );
  }
  const redis = process.env['TESSERA_TEST_REDIS_URL'];
  if (redis === undefined || redis === '') {
    process.stderr.write('Redis state-store tests are skipped: TESSERA_TEST_REDIS_URL is not set (e.g. TESSERA_TEST_REDIS_URL=redis://127.0.0.1:6379).\n\n');
  }
}
