#!/usr/bin/env node
/**
 * An internal service of the trust domain (docs/transaction-tokens.md): it trusts no
 * access token, only the transaction token in `Txn-Token`, checks it locally with
 * @tessera/verifier, and passes it on unchanged to the inventory service.
 *
 *   TESSERA_ISSUER=... INVENTORY_URL=http://127.0.0.1:3102 PORT=3101 node examples/transaction-tokens/orders-service.mjs
 */
import { createServer } from 'node:http';
import { createTxnTokenVerifier, httpTxnTokenAuthenticator } from '@tessera/verifier';

const issuer = process.env.TESSERA_ISSUER ?? 'http://127.0.0.1:8080/t/default';
const trustDomain = process.env.TRUST_DOMAIN ?? issuer;
const inventoryUrl = process.env.INVENTORY_URL ?? 'http://127.0.0.1:3102';
const authenticate = httpTxnTokenAuthenticator(createTxnTokenVerifier({ issuer, trustDomain }));

const server = createServer(async (req, res) => {
  if (req.method !== 'POST' || req.url !== '/orders') {
    res.writeHead(404).end();
    return;
  }
  const txn = await authenticate(req, res, { scopes: 'checkout' });
  if (txn === null) return;
  const reservation = await fetch(`${inventoryUrl}/reservations`, { method: 'POST', headers: { 'txn-token': req.headers['txn-token'] } });
  const reserved = await reservation.json();
  res.writeHead(reservation.ok ? 201 : reservation.status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ order: `ord-${txn.txn.slice(0, 8)}`, for: txn.sub, txn: txn.txn, ...txn.tctx, reservation: reserved }));
});

server.listen(Number(process.env.PORT ?? 3101), '127.0.0.1', () => {
  console.log(`orders service listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
