#!/usr/bin/env node
/**
 * The edge of a trust domain (docs/transaction-tokens.md): the one service outside
 * callers reach. It checks the caller's access token, exchanges it once for a
 * transaction token (it is registered with txnTokenService: true), and calls the
 * internal orders service with the transaction token in `Txn-Token`.
 *
 *   TESSERA_ISSUER=... CLIENT_ID=... CLIENT_SECRET=... EDGE_AUDIENCE=https://shop.example/api \
 *   ORDERS_URL=http://127.0.0.1:3101 PORT=3100 node examples/transaction-tokens/edge-service.mjs
 *
 * POST /checkout?item=widget&quantity=2 needs an access token for EDGE_AUDIENCE with scope
 * checkout; it answers with what the orders service answered.
 */
import { createServer } from 'node:http';
import { clientSecretBasic, createTokenClient } from '@tessera/client';
import { createVerifier, extractBearerToken, httpAuthenticator } from '@tessera/verifier';

const issuer = process.env.TESSERA_ISSUER ?? 'http://127.0.0.1:8080/t/default';
const audience = process.env.EDGE_AUDIENCE ?? 'https://shop.example/api';
const trustDomain = process.env.TRUST_DOMAIN ?? issuer;
const ordersUrl = process.env.ORDERS_URL ?? 'http://127.0.0.1:3101';
const { CLIENT_ID: clientId, CLIENT_SECRET: clientSecret } = process.env;
if (!clientId || !clientSecret) {
  console.error('CLIENT_ID and CLIENT_SECRET (the edge service\'s own client, with txnTokenService: true) are required');
  process.exit(1);
}

const authenticate = httpAuthenticator(createVerifier({ issuer, audience }));
const tokens = createTokenClient({ issuer, clientId, auth: clientSecretBasic(clientSecret) });

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://edge');
  if (req.method !== 'POST' || url.pathname !== '/checkout') {
    res.writeHead(404).end();
    return;
  }
  const caller = await authenticate(req, res, { scopes: 'checkout' });
  if (caller === null) return;
  // Once per external request: the transaction token carries who (sub), what (scope)
  // and the context (rctx, tctx) to every internal service, which check it locally.
  const txn = await tokens.getTransactionToken({
    subjectToken: extractBearerToken(req),
    trustDomain,
    scope: 'checkout',
    requestContext: { req_ip: req.socket.remoteAddress, authn: 'urn:ietf:rfc:6749' },
    requestDetails: { action: 'checkout', item: url.searchParams.get('item') ?? 'widget', quantity: Number(url.searchParams.get('quantity') ?? 1) },
  });
  const answer = await fetch(`${ordersUrl}/orders`, { method: 'POST', headers: { 'txn-token': txn.accessToken } });
  res.writeHead(answer.status, { 'content-type': 'application/json' });
  res.end(await answer.text());
});

server.listen(Number(process.env.PORT ?? 3100), '127.0.0.1', () => {
  console.log(`edge service listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
