import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { clientSecretPost, createAuthorizedFetch, createTokenClient } from '../src/index.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';

let issuer: TestIssuer | undefined;
let api: Server | undefined;
afterEach(async () => {
  await issuer?.close();
  await new Promise<void>((resolve) => (api ? api.close(() => resolve()) : resolve()));
  issuer = undefined;
  api = undefined;
});

interface SeenRequest {
  authorization: string | undefined;
  body: string;
  custom: string | undefined;
}

/** An API that rejects the tokens in `revoked` with 401 invalid_token. */
async function startApi(revoked: Set<string>, challenge = 'Bearer error="invalid_token", error_description="revoked"') {
  const seen: SeenRequest[] = [];
  api = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ authorization: req.headers.authorization, body, custom: req.headers['x-custom'] as string | undefined });
      const token = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
      if (revoked.has(token)) {
        res.writeHead(401, { 'www-authenticate': challenge });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, token }));
    });
  });
  await new Promise<void>((resolve) => api?.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(api.address() as AddressInfo).port}/orders`, seen };
}

async function setup() {
  issuer = await startTestIssuer({ clients: [{ clientId: 'svc', method: 'client_secret_post', secret: 's' }] });
  return createTokenClient({ issuer: issuer.issuer, clientId: 'svc', auth: clientSecretPost('s') });
}

describe('fetch wrapper', () => {
  it('attaches the cached bearer token and keeps the caller headers', async () => {
    const client = await setup();
    const { url, seen } = await startApi(new Set());

    const first = await client.fetch(url, { headers: { 'x-custom': '1' } }, { audience: 'orders-api', scope: 'orders:read' });
    const second = await client.fetch(url, undefined, { audience: 'orders-api', scope: 'orders:read' });

    expect(first.status).toBe(200);
    expect(await second.json()).toEqual({ ok: true, token: 'at-1' });
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer at-1', 'Bearer at-1']);
    expect(seen[0]?.custom).toBe('1');
    expect(issuer?.tokenRequests).toHaveLength(1);
    expect(issuer?.tokenRequests[0]?.params.get('audience')).toBe('orders-api');
  });

  it('on 401 invalid_token drops the token, refreshes once and retries once', async () => {
    const client = await setup();
    const { url, seen } = await startApi(new Set(['at-1']));
    const apiFetch = createAuthorizedFetch(client, { audience: 'orders-api' });

    const response = await apiFetch(url, { method: 'POST', body: JSON.stringify({ n: 1 }) });

    expect(response.status).toBe(200);
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer at-1', 'Bearer at-2']);
    expect(seen[1]?.body).toBe('{"n":1}');
    expect(issuer?.tokenRequests).toHaveLength(2);
  });

  it('retries only once: a second 401 is returned to the caller', async () => {
    const client = await setup();
    const { url, seen } = await startApi(new Set(['at-1', 'at-2']));

    const response = await client.fetch(url, undefined, { audience: 'orders-api' });

    expect(response.status).toBe(401);
    expect(seen).toHaveLength(2);
  });

  it('does not retry a 401 without invalid_token (e.g. no error code)', async () => {
    const client = await setup();
    const { url, seen } = await startApi(new Set(['at-1']), 'Bearer realm="api"');

    const response = await client.fetch(url, undefined, { audience: 'orders-api' });

    expect(response.status).toBe(401);
    expect(seen).toHaveLength(1);
    expect(issuer?.tokenRequests).toHaveLength(1);
  });

  it('does not retry when the body is a stream that cannot be replayed', async () => {
    const client = await setup();
    const { url, seen } = await startApi(new Set(['at-1']));
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });

    const response = await client.fetch(url, { method: 'POST', body: stream, duplex: 'half' } as RequestInit, {
      audience: 'orders-api',
    });

    expect(response.status).toBe(401);
    expect(seen).toHaveLength(1);
  });

  it('concurrent 401s share one refresh', async () => {
    const client = await setup();
    const { url } = await startApi(new Set(['at-1']));
    await client.getToken({ audience: 'orders-api' });

    const responses = await Promise.all(
      Array.from({ length: 20 }, () => client.fetch(url, undefined, { audience: 'orders-api' })),
    );

    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(issuer?.tokenRequests).toHaveLength(2);
  });
});
