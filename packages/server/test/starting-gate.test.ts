/**
 * `tessera serve` listens before its first-start bootstrap: until then the server
 * itself answers every request 503 with Retry-After (RFC 9110 §15.6.4, §10.2.3), and
 * after markStarted() requests reach the routes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { resolveConfig } from '../src/config/config.js';
import { MasterKey } from '../src/crypto/master-key.js';
import { createStore } from '../src/store/index.js';
import { makeTempDir } from './helpers/temp-dir.js';

const TEST_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
let cleanup: (() => Promise<void>) | null = null;

afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

describe('starting up', () => {
  it('answers 503 with Retry-After before markStarted(), then serves', async () => {
    const dir = await makeTempDir();
    const store = await createStore({ dataDir: dir.path });
    const app = await buildApp({ config: resolveConfig({ dataDir: dir.path, logLevel: 'silent' }), store, masterKey: MasterKey.fromBase64(TEST_MASTER_KEY), startingUp: true });
    cleanup = async () => {
      await app.close();
      await store.close();
      await dir.cleanup();
    };
    await app.listen({ port: 0, host: '127.0.0.1' });
    // The gated server keeps the timeouts Fastify would set on its own (slow clients cannot hold it).
    const { http } = app.tessera.config;
    expect(app.server.requestTimeout).toBe(http.requestTimeout);
    expect(app.server.headersTimeout).toBe(Math.min(http.headersTimeout, http.requestTimeout));
    expect(app.server.keepAliveTimeout).toBe(http.keepAliveTimeout);
    expect(app.server.timeout).toBe(http.idleTimeout);
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;

    for (const path of ['/healthz', '/t/default/token']) {
      const response = await fetch(`${url}${path}`, { method: path === '/healthz' ? 'GET' : 'POST' });
      expect(response.status, path).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toMatchObject({ error: 'temporarily_unavailable' });
    }

    app.tessera.markStarted();
    const healthz = await fetch(`${url}/healthz`);
    expect(healthz.status).toBe(200);
    expect(healthz.headers.get('x-request-id')).not.toBeNull();
  });
});
