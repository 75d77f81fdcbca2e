/**
 * Upgrade path (docs/storage.md): databases made by the last release, opened by HEAD.
 * The fixtures are committed (test/fixtures/upgrade-372020f, see make-upgrade-fixture.mjs);
 * the test works on copies. PostgreSQL runs when TESSERA_TEST_DATABASE_URL is set.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../server/test/helpers/postgres.js';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { startServer, stopAllServers } from './helpers/tessera-process.js';
import { copySqliteDataDir, expectUpgraded, FIXTURE_DIR, postgresFacts, sqliteFacts, upgradeArgs } from './helpers/upgrade-fixture.js';

const dirs: TempDir[] = [];
afterAll(async () => {
  await stopAllServers();
  await Promise.all(dirs.map((dir) => dir.cleanup()));
});

const database = await createTestDatabase();
afterAll(() => database?.drop());

describe('upgrading a database made by the previous release', { timeout: 60_000 }, () => {
  it('SQLite: every client gets tokens with its old secrets, old tokens verify, audit and usage remain, and a restart changes nothing', async () => {
    const dir = await makeTempDir('tessera-upgrade-');
    dirs.push(dir);
    const dataDir = join(dir.path, 'data');
    await copySqliteDataDir(dataDir);
    const facts = sqliteFacts();
    const admin = JSON.parse(await readFile(join(dataDir, 'admin.json'), 'utf8')) as { clientId: string; clientSecret: string };
    for (let start = 0; start < 2; start++) {
      const server = await startServer({ dataDir, args: upgradeArgs(facts), timeoutMs: 30_000 });
      await expectUpgraded(server.url, facts, admin);
      expect((await server.stop()).code).toBe(0);
    }
  });

  it.skipIf(database === null)(`PostgreSQL: the same, from a plain pg_dump${database === null ? ' (skipped: set TESSERA_TEST_DATABASE_URL)' : ''}`, async () => {
    // Plain SQL without COPY blocks: one simple query restores it, no psql needed (the
    // dump's psql meta-commands, \restrict and \unrestrict, only guard psql itself).
    const dump = (await readFile(join(FIXTURE_DIR, 'postgres.sql'), 'utf8')).split('\n').filter((line) => !line.startsWith('\\')).join('\n');
    const client = new pg.Client({ connectionString: database!.url });
    await client.connect();
    try {
      await client.query(dump);
    } finally {
      await client.end();
    }
    const dir = await makeTempDir('tessera-upgrade-pg-');
    dirs.push(dir);
    const facts = postgresFacts();
    const server = await startServer({
      dataDir: join(dir.path, 'data'),
      args: upgradeArgs(facts),
      env: { TESSERA_DATABASE_URL: database!.url, TESSERA_MASTER_KEY: facts.masterKey },
      timeoutMs: 30_000,
    });
    await expectUpgraded(server.url, facts, facts.admin);
    expect((await server.stop()).code).toBe(0);
  });
});
