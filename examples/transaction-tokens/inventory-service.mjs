#!/usr/bin/env node
/**
 * The last service of the call chain (docs/transaction-tokens.md): it checks the
 * transaction token it was given and answers with what it reserved, for whom, and as
 * part of which transaction.
 *
 *   TESSERA_ISSUER=... PORT=3102 node examples/transaction-tokens/inventory-service.mjs
 */
import { createServer } from 'node:http';
import { createTxnTokenVerifier, httpTxnTokenAuthenticator } from '@tessera/verifier';

const issuer = process.env.TESSERA_ISSUER ?? 'http://127.0.0.1:8080/t/default';
const trustDomain = process.env.TRUST_DOMAIN ?? issuer;
const authenticate = httpTxnTokenAuthenticator(createTxnTokenVerifier({ issuer, trustDomain }));

const server = createServer(async (req, res) => {
  if (req.method !== 'POST' || req.url !== '/reservations') {
    res.writeHead(404).end();
    return;
  }
  const txn = await authenticate(req, res, { scopes: 'checkout' });
  if (txn === null) return;
  res.writeHead(201, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ reserved: txn.tctx?.quantity ?? 1, item: txn.tctx?.item, txn: txn.txn, requestedBy: txn.req_wl }));
});

server.listen(Number(process.env.PORT ?? 3102), '127.0.0.1', () => {
  console.log(`inventory service listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
