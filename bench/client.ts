/**
 * @tessera/client: what a calling service pays per `getToken` once the token is cached,
 * and what a cold start of 1,000 concurrent callers costs the issuer (it must see one
 * request). The issuer is an in-process stub on 127.0.0.1, so figures measure the SDK and
 * loopback HTTP, not a real authorization server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  clientCredentialsGrantRequest,
  clientSecretBasic,
  createTokenClient,
  processTokenResponse,
} from '@tessera/client';
import { opsPerSecond, ratio } from './util.js';

interface StubIssuer {
  issuer: string;
  tokenEndpoint: string;
  tokenRequests: () => number;
  close: () => Promise<void>;
}

async function startStubIssuer(): Promise<StubIssuer> {
  let tokenRequests = 0;
  let issuer = '';
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/t/bench/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, token_endpoint: `${issuer}/token` }));
      return;
    }
    req.resume();
    req.on('end', () => {
      tokenRequests++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ access_token: `token-${tokenRequests}`, token_type: 'Bearer', expires_in: 3600 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/t/bench`;
  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    tokenRequests: () => tokenRequests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export async function run(): Promise<void> {
  const stub = await startStubIssuer();
  try {
    const options = { issuer: stub.issuer, clientId: 'bench', auth: clientSecretBasic('secret') };
    const request = { audience: 'https://api.example', scope: 'orders:read orders:write' };

    // Warm cache: every call after the first is served in-process.
    const warm = createTokenClient(options);
    await warm.getToken(request);
    const before = stub.tokenRequests();
    const warmOps = await opsPerSecond(() => warm.getToken(request));
    const warmRequests = stub.tokenRequests() - before;

    // Reference: one token endpoint round trip per call (what a client without a cache pays).
    const context = { ...options, tokenEndpoint: stub.tokenEndpoint };
    const uncachedOps = await opsPerSecond(
      async () => processTokenResponse(await clientCredentialsGrantRequest(context, request)),
      1000,
    );

    // Cold burst: 1,000 concurrent first calls on a fresh client (discovery included).
    const cold = createTokenClient(options);
    const coldBefore = stub.tokenRequests();
    const start = performance.now();
    const tokens = await Promise.all(Array.from({ length: 1000 }, () => cold.getToken(request)));
    const coldMs = performance.now() - start;
    const coldRequests = stub.tokenRequests() - coldBefore;

    console.table([
      { measurement: 'getToken, warm cache', value: `${Math.round(warmOps).toLocaleString('en-US')} calls/s`, 'token requests': warmRequests },
      { measurement: 'token request without cache (reference)', value: `${Math.round(uncachedOps).toLocaleString('en-US')} calls/s`, 'token requests': '1 per call' },
      { measurement: '1,000 concurrent cold getToken', value: `${coldMs.toFixed(1)} ms wall`, 'token requests': coldRequests },
    ]);
    console.log(`warm cache vs. no cache: ${ratio(warmOps, uncachedOps)}`);
    console.log(`cold burst: ${tokens.length} callers, ${coldRequests} token request(s) seen by the issuer ${coldRequests === 1 ? '(single flight OK)' : '(EXPECTED 1)'}`);
    if (coldRequests !== 1) process.exitCode = 1;
  } finally {
    await stub.close();
  }
}
