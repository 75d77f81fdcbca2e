/**
 * `tessera serve --state-url redis://...` as a real process: the state store in a
 * redis-server this test starts on a free port (and stops by its PID); /readyz checks
 * it, says why while it is down, and is ready again once it is back.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPort, haveRedisServer, startRedisServer, stopRedisServer } from '../../server/test/helpers/redis.js';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { type ServerProcess, startServer, stopAllServers, waitFor } from './helpers/tessera-process.js';

describe.skipIf(!haveRedisServer)('tessera serve --state-url', () => {
  let dir: TempDir;
  let redis: ChildProcess;
  let port: number;
  let server: ServerProcess;

  beforeAll(async () => {
    dir = await makeTempDir('tessera-state-url-');
    port = await freeLoopbackPort();
    redis = await startRedisServer(port);
    server = await startServer({ dataDir: join(dir.path, 'data'), args: ['--state-url', `redis://127.0.0.1:${port}`], timeoutMs: 60_000 });
  }, 90_000);

  afterAll(async () => {
    await stopAllServers();
    if (redis !== undefined) await stopRedisServer(redis);
    await dir?.cleanup();
  });

  const readiness = async () => {
    const response = await fetch(`${server.url}/readyz`);
    return { status: response.status, body: (await response.json()) as { reason?: string; checks: Record<string, { ok: boolean; reason?: string }> } };
  };

  it('checks the state store in /readyz, names Redis while it is down, and recovers by itself', async () => {
    const ready = await readiness();
    expect(ready.status).toBe(200);
    expect(ready.body.checks['state']).toEqual({ ok: true });

    await stopRedisServer(redis);
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body.checks['state']?.reason).toMatch(/redis at 127\.0\.0\.1:\d+/);

    redis = await startRedisServer(port);
    await waitFor(async () => ((await readiness()).status === 200 ? true : undefined), 15_000);
  }, 40_000);
});

if (!haveRedisServer) describe.skip('tessera serve --state-url (skipped: no redis-server on PATH)', () => {});
