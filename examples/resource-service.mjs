#!/usr/bin/env node
/**
 * A resource service protected by @tessera/verifier, in plain Node.js (no TypeScript
 * loader, no framework): the "Web API" that service callers get tokens for.
 *
 *   TESSERA_ISSUER=http://127.0.0.1:8080/t/default API_AUDIENCE=https://orders.example/api \
 *     node examples/resource-service.mjs
 *
 * GET /orders needs a token for API_AUDIENCE with scope orders:read and answers with the
 * caller's subject. Anything else is 404. Errors follow RFC 6750 (401/403/400 with
 * WWW-Authenticate); 503 while the issuer cannot be reached and no keys are cached.
 */
import { createServer } from 'node:http';
import { createVerifier, httpAuthenticator } from '@tessera/verifier';

const issuer = process.env.TESSERA_ISSUER ?? 'http://127.0.0.1:8080/t/default';
const audience = process.env.API_AUDIENCE;
const port = Number(process.env.PORT ?? 3000);
if (!audience) {
  console.error('API_AUDIENCE is required: the identifier of this API as registered in Tessera');
  process.exit(1);
}

const verifier = createVerifier({ issuer, audience });
const authenticate = httpAuthenticator(verifier, {
  onError: (error, req) => {
    // The client sees a generic description; the reason is for our logs.
    if (error?.code !== 'ERR_TOKEN_MISSING') console.warn(`${req.method} ${req.url}: ${error?.code ?? 'error'}: ${error?.message}`);
  },
});

const orders = [
  { id: 'ord-1001', item: 'widget', quantity: 3 },
  { id: 'ord-1002', item: 'gadget', quantity: 1 },
];

function sendJson(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

const server = createServer(async (req, res) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && pathname === '/orders') {
    const claims = await authenticate(req, res, { scopes: ['orders:read'] });
    if (claims === null) return; // the 401/403/400/503 answer is already written
    sendJson(res, 200, { sub: claims.sub, client_id: claims.client_id, scope: claims.scope, orders });
    return;
  }
  sendJson(res, 404, { error: 'not_found' });
});

server.listen(port, '127.0.0.1', () => {
  const { port: actual } = server.address();
  console.log(`resource service listening on http://127.0.0.1:${actual} (issuer ${issuer}, audience ${audience})`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => server.close(() => process.exit(0)));
}
