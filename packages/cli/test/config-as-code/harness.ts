/**
 * An in-process Tessera listening on a free loopback port, and the `tessera` CLI run
 * in this process against it (main() with captured output): what a user types, without
 * a child process per command.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestServer, type TestServer } from '../../../server/test/helpers/app.js';
import { makeTempDir, type TempDir } from '../../../server/test/helpers/temp-dir.js';
import type { Io } from '../../src/io.js';
import { main } from '../../src/main.js';

export interface Harness {
  t: TestServer;
  url: string;
  dir: TempDir;
  /** Runs `tessera <args> --url <url> --admin <file>`. */
  cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs `tessera <args>` as given (commands that talk to no server). */
  run(args: readonly string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Writes `text` to a file in the temp directory; returns its path. */
  file(name: string, text: string): Promise<string>;
  /** The audit entries of a tenant, newest first. */
  audit(tenant: string): Promise<{ action: string; actor: string; targetId: string }[]>;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const t = await createTestServer({ config: { outboundAllow: ['127.0.0.1'] } });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  const dir = await makeTempDir('tessera-config-');
  const adminFile = join(dir.path, 'admin.json');
  await writeFile(adminFile, JSON.stringify({ url, clientId: t.admin.clientId, clientSecret: t.admin.clientSecret }), { mode: 0o600 });
  const run = async (args: readonly string[], stdin = '') => {
    let stdout = '';
    let stderr = '';
    const io: Io = { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), env: {}, readStdin: async () => stdin };
    const code = await main([...args], io);
    return { code, stdout, stderr };
  };
  return {
    t,
    url,
    dir,
    run,
    cli: (args) => run([...args, '--url', url, '--admin', adminFile]),
    async file(name, text) {
      const path = join(dir.path, name);
      await writeFile(path, text);
      return path;
    },
    async audit(tenant) {
      const items: { action: string; actor: string; targetId: string }[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { items: { action: string; actor: string; targetId: string }[]; nextCursor: string | null } } =
          await t.manage('GET', `/tenants/${tenant}/audit?limit=200${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
        if (page.status === 404) return [];
        items.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      return items;
    },
    async close() {
      await t.close();
      await dir.cleanup();
    },
  };
}
