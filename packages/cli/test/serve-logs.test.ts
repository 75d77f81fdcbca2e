/**
 * The real `tessera serve` writes one format on standard output: pino JSON lines.
 * The start banner and the shutdown line are for people and go to standard error
 * (docs/configuration.md, "Start-up and output").
 */
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { startServer, stopAllServers } from './helpers/tessera-process.js';

describe('tessera serve output', { timeout: 60_000 }, () => {
  let dir: TempDir;
  afterAll(async () => {
    await stopAllServers();
    await dir?.cleanup();
  });

  it('standard output is JSON lines only, with the request id of each request; the banner and the SIGTERM line are on standard error', async () => {
    dir = await makeTempDir('tessera-logs-');
    const server = await startServer({ dataDir: dir.path, env: { TESSERA_LOG_LEVEL: 'info' }, timeoutMs: 30_000 });
    const response = await fetch(`${server.url}/readyz`, { headers: { 'x-request-id': 'probe-1' } });
    expect(response.headers.get('x-request-id')).toBe('probe-1');
    const exit = await server.stop('SIGTERM');
    expect(exit.code).toBe(0);
    const lines = server.stdout().trim().split('\n');
    const parsed = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
    });
    expect(parsed.find((l) => l['reqId'] === 'probe-1')).toMatchObject({ msg: 'request', path: '/readyz', status: 200 });
    expect(server.stderr()).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(server.stderr()).toContain('admin.json');
    expect(server.stderr()).toMatch(/SIGTERM/);
  });
});
