/**
 * Logs (docs/observability.md): pino JSON lines only, a request id on every request
 * line and in the X-Request-Id response header (a sane incoming one is kept), and an
 * access log at info that can be sampled.
 */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function withLog(config: Parameters<typeof createTestServer>[0] extends infer O ? O extends { config?: infer C } ? C : never : never) {
  const lines: Record<string, unknown>[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  t = await createTestServer({ config: { logLevel: 'info', ...config }, logStream: stream });
  return { server: t, lines };
}

describe('request ids', () => {
  it('every response carries X-Request-Id, and the access-log line of the request carries the same id', async () => {
    const { server, lines } = await withLog({});
    const response = await server.app.inject({ method: 'GET', url: '/healthz' });
    const id = response.headers['x-request-id'] as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const line = lines.find((l) => l['reqId'] === id);
    expect(line).toMatchObject({ level: 30, msg: 'request', method: 'GET', path: '/healthz', status: 200 });
    expect(typeof line?.['ms']).toBe('number');
  });

  it('keeps a sane incoming X-Request-Id and replaces one that is not', async () => {
    const { server } = await withLog({});
    const kept = await server.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'lb-7f3a.42' } });
    expect(kept.headers['x-request-id']).toBe('lb-7f3a.42');
    for (const bad of ['x'.repeat(200), 'has space', 'new\\nline"quote']) {
      const replaced = await server.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': bad } });
      expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('error responses carry the request id too', async () => {
    const { server, lines } = await withLog({});
    const c = await server.setupClient('default');
    const refused = await server.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, 'wrong'));
    expect(refused.statusCode).toBe(401);
    const id = refused.headers['x-request-id'];
    expect(lines.find((l) => l['reqId'] === id && l['msg'] === 'request')).toMatchObject({ status: 401, path: '/t/default/token' });
  });
});

describe('access log', () => {
  it('is sampled: at 0 no request line, at 1 one per request', async () => {
    const off = await withLog({ accessLog: { sampleRate: 0 } });
    for (let i = 0; i < 20; i += 1) await off.server.app.inject({ method: 'GET', url: '/healthz' });
    expect(off.lines.filter((l) => l['msg'] === 'request')).toHaveLength(0);
    await off.server.close();
    t = undefined;
    const on = await withLog({ accessLog: { sampleRate: 1 } });
    for (let i = 0; i < 20; i += 1) await on.server.app.inject({ method: 'GET', url: '/healthz' });
    expect(on.lines.filter((l) => l['msg'] === 'request' && l['path'] === '/healthz')).toHaveLength(20);
  });

  it('a fraction logs about that fraction of requests', async () => {
    const { server, lines } = await withLog({ accessLog: { sampleRate: 0.25 } });
    for (let i = 0; i < 400; i += 1) await server.app.inject({ method: 'GET', url: '/healthz' });
    const logged = lines.filter((l) => l['msg'] === 'request').length;
    expect(logged).toBeGreaterThan(40);
    expect(logged).toBeLessThan(170);
  });
});
