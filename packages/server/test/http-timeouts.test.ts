/**
 * Header, body and idle timeouts (issue 7): a request that declares a body and never
 * sends it, or headers that never end, cannot hold a connection for long, and /healthz
 * keeps answering while many such connections are open. Bounded: 127.0.0.1, 200
 * connections, a few seconds.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from './helpers/app.js';

let t: TestServer;
let port: number;

beforeAll(async () => {
  t = await createTestServer({ config: { http: { bodyLimit: 64 * 1024, shutdownGrace: 1000, headersTimeout: 500, requestTimeout: 1000, idleTimeout: 2000, keepAliveTimeout: 500 } } });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
});
afterAll(() => t.close());

/** Opens a connection, writes `data`, and resolves with what the server answered and when it closed. */
function slowRequest(data: string): { socket: Socket; closed: Promise<{ answer: string; afterMs: number }> } {
  const started = performance.now();
  const socket = connect(port, '127.0.0.1', () => socket.write(data));
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk.toString()));
  socket.on('error', () => {});
  const closed = new Promise<{ answer: string; afterMs: number }>((resolve) => socket.on('close', () => resolve({ answer, afterMs: performance.now() - started })));
  return { socket, closed };
}

const partialBody = 'POST /t/default/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=client';

describe('slow and incomplete requests', () => {
  it('a body shorter than its Content-Length gets 408 and the connection is closed', async () => {
    const { closed } = slowRequest(partialBody);
    const { answer, afterMs } = await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(afterMs).toBeLessThan(5_000);
  });

  it('headers that never end: the connection is closed', async () => {
    const { closed } = slowRequest('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1');
    const { answer, afterMs } = await closed;
    expect(answer === '' || /^HTTP\/1\.1 408/.test(answer)).toBe(true);
    expect(afterMs).toBeLessThan(5_000);
  });

  it('an idle connection that never sends anything is closed', async () => {
    const { closed } = slowRequest('');
    expect((await closed).afterMs).toBeLessThan(5_000);
  });

  it('/healthz keeps answering while 200 incomplete requests are open, and all of those are closed', async () => {
    const slow = Array.from({ length: 200 }, () => slowRequest(partialBody));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
    expect(health.status).toBe(200);
    const results = await Promise.all(slow.map((s) => s.closed));
    expect(results.every((r) => r.afterMs < 5_000)).toBe(true);
  });
});
