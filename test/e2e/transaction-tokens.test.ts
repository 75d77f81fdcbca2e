/**
 * End to end, as docs/transaction-tokens.md runs it: the real `tessera serve`, and the
 * three services of examples/transaction-tokens/ as separate processes. An outside
 * caller's access token reaches the edge service, which exchanges it once for a
 * transaction token; the orders and inventory services check that token locally and
 * see the same `txn`. Every process started here is ended by its PID.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, start, stopAll } from './helpers/processes.js';

const EDGE_AUDIENCE = 'https://shop.example/api';
let dir: string;
let issuer: string;
let tokenEndpoint: string;
let caller: { clientId: string; clientSecret: string };
let edgeUrl: string;
let ordersUrl: string;

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-txn-e2e-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const tessera = await start(['packages/cli/bin/tessera.js', 'serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir], { TESSERA_LOG_LEVEL: 'warn' }, /listening on (\S+)/);
  issuer = `${tessera.match[1] ?? `http://127.0.0.1:${port}`}/t/default`;
  tokenEndpoint = `${issuer}/token`;
  const admin = JSON.parse(await readFile(join(dataDir, 'admin.json'), 'utf8')) as { tokenEndpoint: string; clientId: string; clientSecret: string; managementApi: string };
  const adminToken = ((await (await fetch(admin.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(admin.clientId, admin.clientSecret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: 'urn:tessera:management', scope: 'manage:write' }),
  })).json()) as { access_token: string }).access_token;
  const manage = async (path: string, body: unknown) => {
    const response = await fetch(`${admin.managementApi}${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await response.json()) as Record<string, string>;
    expect(response.status, JSON.stringify(json)).toBe(201);
    return json;
  };
  await manage('/tenants/default/apis', { identifier: EDGE_AUDIENCE, name: 'Shop', scopes: [{ value: 'checkout' }] });
  const callerClient = await manage('/tenants/default/clients', { name: 'outside caller' });
  caller = { clientId: callerClient['clientId'] as string, clientSecret: callerClient['clientSecret'] as string };
  await manage('/tenants/default/grants', { clientId: caller.clientId, audience: EDGE_AUDIENCE, scopes: ['checkout'] });
  const edge = await manage('/tenants/default/clients', { name: 'edge service', txnTokenService: true });

  const ready = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
  const inventory = await start(['examples/transaction-tokens/inventory-service.mjs'], { TESSERA_ISSUER: issuer, PORT: '0' }, ready);
  const orders = await start(['examples/transaction-tokens/orders-service.mjs'], { TESSERA_ISSUER: issuer, PORT: '0', INVENTORY_URL: inventory.match[1] ?? '' }, ready);
  const edgeService = await start(['examples/transaction-tokens/edge-service.mjs'], {
    TESSERA_ISSUER: issuer, PORT: '0', ORDERS_URL: orders.match[1] ?? '', EDGE_AUDIENCE, CLIENT_ID: edge['clientId'] ?? '', CLIENT_SECRET: edge['clientSecret'] ?? '',
  }, ready);
  edgeUrl = edgeService.match[1] ?? '';
  ordersUrl = orders.match[1] ?? '';
}, 60_000);

afterAll(async () => {
  await stopAll();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('transaction tokens along a call chain of three services', () => {
  it('the edge exchanges the caller\'s token once; orders and inventory see the same txn, subject and context', async () => {
    const token = ((await (await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(caller.clientId, caller.clientSecret) },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: EDGE_AUDIENCE }),
    })).json()) as { access_token: string }).access_token;
    const res = await fetch(`${edgeUrl}/checkout?item=widget&quantity=2`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { for: string; txn: string; item: string; quantity: number; reservation: { txn: string; reserved: number } };
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({ for: caller.clientId, item: 'widget', quantity: 2 });
    expect(body.reservation).toMatchObject({ txn: body.txn, reserved: 2 });
  });

  it('without an access token the edge answers 401, and an internal service refuses a call without a transaction token', async () => {
    expect((await fetch(`${edgeUrl}/checkout`, { method: 'POST' })).status).toBe(401);
    const direct = await fetch(`${ordersUrl}/orders`, { method: 'POST' });
    expect(direct.status).toBe(401);
    expect(((await direct.json()) as { error: string }).error).toBe('invalid_token');
  });
});
