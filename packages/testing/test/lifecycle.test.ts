/**
 * A suite may start an issuer per file or per test: fifty starts and stops in one
 * process must leave no handle (socket of either listener, timer, database) and no file behind.
 */
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { startTestIssuer } from '../src/index.js';

const tesseraFiles = async () => (await readdir(tmpdir())).filter((name) => name.startsWith('tessera-testing'));

/** Handles that outlive their work, by kind: one-shot timers and file requests in flight (the runner's own) are not counted. */
const TRANSIENT = new Set(['Timeout', 'Immediate', 'FSReqPromise', 'FSReqCallback']);
function liveHandles(): string[] {
  return process.getActiveResourcesInfo().filter((kind) => !TRANSIENT.has(kind));
}

describe('start and stop', () => {
  it('fifty issuers started and stopped in one process leak no handle and no file', async () => {
    const filesBefore = await tesseraFiles();
    const handlesBefore = liveHandles();
    for (let i = 0; i < 50; i++) {
      const issuer = await startTestIssuer({ listen: i % 2 === 0 });
      const client = await issuer.createClient({ audience: 'https://orders.example', scopes: ['orders:read'] });
      await client.getToken();
      // Every fifth listening issuer also serves a token over its mTLS listener.
      if (i % 10 === 0) await (await issuer.createClient({ audience: 'https://orders.example', method: 'tls_client_auth' })).getToken();
      await issuer.stop();
    }
    // Sockets closed by stop() may take a turn of the event loop to leave the list.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(liveHandles().sort()).toEqual(handlesBefore.sort());
    expect(await tesseraFiles()).toEqual(filesBefore);
  }, 180_000);

  it('a stopped issuer no longer answers, and stop() twice is harmless', async () => {
    const issuer = await startTestIssuer();
    await issuer.stop();
    await expect(fetch(issuer.jwksUri)).rejects.toThrow();
    await expect(issuer.stop()).resolves.toBeUndefined();
  });
});
