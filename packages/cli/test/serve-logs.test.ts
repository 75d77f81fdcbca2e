/**
 * The real `tessera serve` writes one format only: pino JSON lines, start-up and
 * shutdown lines included (docs/observability.md).
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

  it('is JSON lines only, from the start banner to the SIGTERM line, with the request id of each request', async () => {
    dir = await makeTempDir('tessera-logs-');
    const server = await startServer({ dataDir: dir.path, env: { TESSERA_LOG_LEVEL: 'info' }, timeoutMs: 30_000 });
    const response = await fetch(`${server.url}/readyz`, { headers: { 'x-request-id': 'probe-1' } });
    expect(response.headers.get('x-request-id')).toBe('probe-1');
    const exit = await server.stop('SIGTERM');
    expect(exit.code).toBe(0);
    const lines = server.output().trim().split('\n');
    const parsed = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
    });
    expect(parsed.some((l) => /listening on http:\/\/127\.0\.0\.1:\d+/.test(String(l['msg'])))).toBe(true);
    expect(parsed.some((l) => String(l['msg']).includes(server.adminFile))).toBe(true);
    expect(parsed.find((l) => l['reqId'] === 'probe-1')).toMatchObject({ msg: 'request', path: '/readyz', status: 200 });
    expect(parsed.some((l) => /SIGTERM/.test(String(l['msg'])))).toBe(true);
  });
});
