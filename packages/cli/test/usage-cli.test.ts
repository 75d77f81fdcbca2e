/**
 * `tessera usage` and `tessera grants unused` against a real `tessera serve` that
 * flushes its usage counts every second (docs/usage.md). The reports' rules are
 * tested in-process with a frozen clock (packages/server/test/usage.test.ts); here,
 * the commands, their output and their errors.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { cliFor, type ServerProcess, startServer, stopAllServers } from './helpers/tessera-process.js';

const AUDIENCE = 'https://usage.example.com';

let dir: TempDir;
let server: ServerProcess;
let cli: ReturnType<typeof cliFor>;

beforeAll(async () => {
  dir = await makeTempDir('tessera-usage-cli-');
  server = await startServer({ dataDir: join(dir.path, 'data'), env: { TESSERA_USAGE_FLUSH_INTERVAL: '1' } });
  cli = cliFor(server);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await stopAllServers();
  await dir?.cleanup();
});

describe('tessera usage', { timeout: 60_000 }, () => {
  let clientId: string;

  beforeAll(async () => {
    await cli.json(['apis', 'create', '--identifier', AUDIENCE, '--scope', 'a', '--scope', 'b', '--scope', 'c']);
    const client = await cli.json(['clients', 'create', '--name', 'usage-test']);
    clientId = client.clientId;
    await cli.json(['grants', 'create', '--client', clientId, '--audience', AUDIENCE, '--scope', 'a', '--scope', 'b', '--scope', 'c']);
    const authorization = `Basic ${Buffer.from(`${clientId}:${client.clientSecret}`).toString('base64')}`;
    for (const scope of ['a', 'a', 'a', 'nope']) {
      await fetch(`${server.url}/t/default/token`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
      });
    }
    // One flush interval, with room for a loaded machine.
    await new Promise((resolve) => setTimeout(resolve, 2500));
  }, 90_000);

  it('clients list searches and sorts on the server and shows when each client last got a token', async () => {
    const other = await cli.json(['clients', 'create', '--name', 'usage-test idle']);
    const found = await cli.json(['clients', 'list', '--search', 'USAGE-TEST', '--sort', 'lastUsedAt', '--order', 'desc']);
    expect(found.items.map((c: { clientId: string }) => c.clientId)).toEqual([clientId, other.clientId]);
    expect(found.items[0].lastUsedAt).toEqual(expect.any(Number));
    expect(found.items[1].lastUsedAt).toBeNull();
    const table = await cli.ok(['clients', 'list', '--search', 'usage-test', '--sort', 'name', '--limit', '1']);
    expect(table).toMatch(/^CLIENT ID +NAME .*LAST USED +CREATED AT$/m);
    expect(table).toContain('usage-test');
    expect(table).not.toContain('usage-test idle');
    // Both are younger than a day: not dormant yet.
    expect((await cli.json(['clients', 'list', '--dormant-days', '1', '--search', 'usage-test'])).items).toEqual([]);
    const bad = await cli.run(['clients', 'list', '--sort', 'secret']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--sort must be one of createdAt, clientId, name, lastUsedAt');
  });

  it('prints tokens issued and refused over time for a client, as JSON or a table', async () => {
    const json = await cli.json(['usage', '--client', clientId, '--since', '1h']);
    expect(json.granularity).toBe('minute');
    const sum = (field: 'issued' | 'refused') => json.series.reduce((n: number, p: Record<string, number>) => n + (p[field] ?? 0), 0);
    expect(sum('issued')).toBe(3);
    expect(sum('refused')).toBe(1);

    const table = await cli.ok(['usage', '--audience', AUDIENCE, '--granularity', 'hour']);
    expect(table).toMatch(/^START +ISSUED +REFUSED$/m);
    // The refusal named no API, so it is not counted under one.
    expect(table).toMatch(/total: 3 issued, 0 refused, per hour/);
  });

  it('grants unused lists nothing for a grant younger than the window, and --apply applies nothing', async () => {
    expect(await cli.json(['grants', 'unused', '--days', '30'])).toEqual({ days: 30, grants: [] });
    expect(await cli.json(['grants', 'unused', '--apply'])).toEqual({ days: 30, grants: [], applied: [] });
    expect(await cli.ok(['grants', 'unused'])).toBe('(none)\n');
  });

  it('usage dormant and usage waste print their reports', async () => {
    expect(await cli.json(['usage', 'dormant', '--days', '7'])).toEqual({ days: 7, clients: [], secrets: [] });
    expect(await cli.json(['usage', 'waste', '--days', '1', '--threshold', '100'])).toEqual({ days: 1, threshold: 100, clients: [] });
    const waste = await cli.json(['usage', 'waste', '--days', '1', '--threshold', '1']);
    expect(waste.clients).toEqual([expect.objectContaining({ clientId, audience: AUDIENCE, scope: 'a', tokens: 3, expectedMax: 2, ratio: 1.5 })]);
  });

  it('refuses bad arguments with exit 2 and the usage text', async () => {
    const unknown = await cli.run(['usage', 'bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown report "bogus"');
    const misplaced = await cli.run(['usage', 'dormant', '--client', 'x']);
    expect(misplaced.code).toBe(2);
    const granularity = await cli.run(['usage', '--granularity', 'week']);
    expect(granularity.code).toBe(2);
    expect(granularity.stderr).toContain('--granularity must be one of minute, hour, day');
    const help = await cli.run(['usage', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('tessera usage waste');
  });
});
