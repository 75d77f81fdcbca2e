/**
 * SPEC §8 with real processes: three `tessera serve` replicas on one fresh PostgreSQL
 * database, same TESSERA_MASTER_KEY, separate data directories, started at the same
 * moment. Runs when TESSERA_TEST_DATABASE_URL is set (CI sets it).
 */
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../server/test/helpers/postgres.js';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { cliFor, freePort, runCli, type ServerProcess, startServer, stopAllServers, waitFor } from './helpers/tessera-process.js';

const database = await createTestDatabase();
const AUDIENCE = 'https://payments.example.com';

const suite = database === null ? describe.skip : describe;
const title = database === null
  ? 'scale-out on PostgreSQL (skipped: set TESSERA_TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)'
  : 'scale-out: three replicas on one PostgreSQL database';

suite(title, { timeout: 60_000 }, () => {
  const db = database as TestDatabase;
  let dir: TempDir;
  let replicas: ServerProcess[] = [];
  let admin: string;

  beforeAll(async () => {
    dir = await makeTempDir('tessera-replicas-');
    // One public URL for the deployment (here: replica a's address), as behind a load balancer.
    const ports = [await freePort(), await freePort(), await freePort()];
    const env = { TESSERA_MASTER_KEY: randomBytes(32).toString('base64'), TESSERA_DATABASE_URL: db.url, TESSERA_PUBLIC_URL: `http://127.0.0.1:${ports[0]}` };
    replicas = await Promise.all(['a', 'b', 'c'].map((name, i) => startServer({ dataDir: join(dir.path, name), port: ports[i] as number, env, timeoutMs: 30_000 })));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await stopAllServers();
    await db.drop();
    await dir?.cleanup();
  });

  it('bootstraps the empty database exactly once: one admin.json across the three data directories', async () => {
    const written = await Promise.all(replicas.map((replica) => access(replica.adminFile).then(() => true, () => false)));
    expect(written.filter(Boolean)).toHaveLength(1);
    const writer = replicas[written.indexOf(true)] as ServerProcess;
    admin = writer.adminFile;
    const tenants = await cliFor({ url: writer.url, adminFile: admin }).json(['tenants', 'list']);
    expect(tenants.items.map((t: { id: string }) => t.id).sort()).toEqual(['admin', 'default']);
    for (const replica of replicas) expect(replica.output()).not.toMatch(/error/i);
  });

  it('the admin credentials work on every replica', async () => {
    for (const replica of replicas) {
      const result = await runCli(['tenants', 'get', 'default', '--url', replica.url, '--admin', admin, '--json']);
      expect(result.stderr).toBe('');
      expect(JSON.parse(result.stdout).id).toBe('default');
    }
  });

  it('a client created through replica A gets a token from replica B within 2 s, and disabling it reaches B as fast', async () => {
    const [a, b] = replicas as [ServerProcess, ServerProcess];
    const cli = cliFor({ url: a.url, adminFile: admin });
    await cli.json(['apis', 'create', '--identifier', AUDIENCE, '--scope', 'payments:create']);
    const client = await cli.json(['clients', 'create', '--name', 'checkout']);
    await cli.json(['grants', 'create', '--client', client.clientId, '--audience', AUDIENCE, '--scope', 'payments:create']);

    const basic = `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`;
    const { elapsedMs } = await waitFor(async () => {
      const response = await fetch(`${b.url}/t/default/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', audience: AUDIENCE }),
      });
      await response.arrayBuffer();
      return response.ok ? true : undefined;
    }, 5_000);
    console.log(`scale-out: replica B issued a token for the client created through A ${Math.round(elapsedMs)} ms after the grant`);
    expect(elapsedMs).toBeLessThan(2_000);

    // And through the CLI, at the deployment's public URL (the issuer every replica names).
    const token = await runCli(['token', '--url', a.url, '--client-id', client.clientId, '--client-secret', client.clientSecret]);
    expect(token.code).toBe(0);
    const verified = await runCli(['verify', token.stdout.trim(), '--url', a.url, '--audience', AUDIENCE, '--scope', 'payments:create']);
    expect(verified.code).toBe(0);

    // B now knows the client; disabling it through A must reach B's caches too.
    await cli.json(['clients', 'update', client.clientId, '--disable']);
    const refused = await waitFor(async () => {
      const response = await fetch(`${b.url}/t/default/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', audience: AUDIENCE }),
      });
      await response.arrayBuffer();
      return response.ok ? undefined : response.status;
    }, 5_000);
    console.log(`scale-out: replica B refused the client disabled through A ${Math.round(refused.elapsedMs)} ms later`);
    expect(refused.value).toBe(401);
    expect(refused.elapsedMs).toBeLessThan(2_000);
  });

  it("a key rotation through replica A shows in replica B's JWKS within 2 s", async () => {
    const [a, b] = replicas as [ServerProcess, ServerProcess];
    const jwksKids = async (replica: ServerProcess) => {
      const response = await fetch(`${replica.url}/t/default/jwks.json`);
      const jwks = (await response.json()) as { keys: { kid: string }[] };
      return jwks.keys.map((key) => key.kid);
    };
    const before = await jwksKids(b);
    const rotated = await cliFor({ url: a.url, adminFile: admin }).json(['keys', 'rotate']);
    const added = rotated.items.map((k: { kid: string }) => k.kid).filter((kid: string) => !before.includes(kid)) as string[];
    expect(added.length).toBeGreaterThan(0);
    const { elapsedMs } = await waitFor(async () => {
      const kids = await jwksKids(b);
      return added.every((kid) => kids.includes(kid)) ? true : undefined;
    }, 5_000);
    console.log(`scale-out: replica B published the key rotated through A ${Math.round(elapsedMs)} ms later`);
    expect(elapsedMs).toBeLessThan(2_000);
  });
});
