/**
 * One client's usage (docs/usage.md): `usage/top?by=api&clientId=` lists the APIs it got
 * tokens for, with its own counts and last use, and `usage/waste?clientId=` its token
 * waste only. Frozen clock; the embedded store, and PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from './helpers/postgres.js';

const START = Date.UTC(2026, 10, 22, 12, 0, 30);
type Row = { clientId?: string; audience?: string; name: string | null; issued: number; refused: number; lastUsedAt: number | null };

for (const kind of ['sqlite', 'postgres'] as const) describe.skipIf(kind === 'postgres' && testDatabaseUrl() === undefined)(`usage of one client (${kind})`, () => {
  let t: TestServer;
  let pg: TestDatabase | null = null;
  beforeEach(async () => {
    pg = kind === 'postgres' ? await createTestDatabase() : null;
    t = await createTestServer({ startAt: START, ...(pg !== null ? { databaseUrl: pg.url } : {}) });
  });
  afterEach(async () => {
    await t.close();
    await pg?.drop();
  });

  const orders = 'https://orders.example';
  const stock = 'https://stock.example';
  const token = async (client: { clientId: string; clientSecret: string }, resource: string) =>
    (await t.post('default', 'token', { grant_type: 'client_credentials', resource }, basic(client.clientId, client.clientSecret))).statusCode;

  async function setup() {
    const billing = await t.setupClient('default', { apiIdentifier: orders, scopes: ['read'], client: { name: 'Billing' } });
    const reports = await t.setupClient('default', { apiIdentifier: orders, scopes: ['read'], client: { name: 'Reports' } });
    expect((await t.manage('POST', '/tenants/default/apis', { identifier: stock, name: 'Stock', scopes: [{ value: 'read' }], accessTokenLifetime: 3600 })).status).toBe(201);
    expect((await t.manage('POST', '/tenants/default/grants', { clientId: billing.clientId, audience: stock, scopes: ['read'] })).status).toBe(201);
    // Billing: a token per call for stock (30 in a minute), 3 for orders; Reports: 40 for orders.
    for (let i = 0; i < 3; i++) expect(await token(billing, orders)).toBe(200);
    t.clock.advance(20_000);
    for (let i = 0; i < 30; i++) expect(await token(billing, stock)).toBe(200);
    for (let i = 0; i < 40; i++) expect(await token(reports, orders)).toBe(200);
    await t.app.tessera.usage.recorder!.flush();
    return { billing, reports };
  }

  it('lists the APIs one client got tokens for, with its own counts and last use', async () => {
    const { billing } = await setup();
    const mine = await t.manage<{ rows: Row[] }>('GET', `/tenants/default/usage/top?by=api&clientId=${billing.clientId}`);
    expect(mine.status).toBe(200);
    expect(mine.body.rows).toEqual([
      { audience: stock, name: 'Stock', issued: 30, refused: 0, lastUsedAt: START + 20_000 },
      { audience: orders, name: expect.any(String), issued: 3, refused: 0, lastUsedAt: START },
    ]);
    // Without clientId, the tenant's: orders counts Reports' 40 too.
    const all = await t.manage<{ rows: Row[] }>('GET', '/tenants/default/usage/top?by=api');
    expect(all.body.rows.find((r) => r.audience === orders)?.issued).toBe(43);
    const one = await t.manage<{ rows: Row[] }>('GET', `/tenants/default/usage/top?by=client&clientId=${billing.clientId}`);
    expect(one.body.rows).toEqual([{ clientId: billing.clientId, name: 'Billing', issued: 33, refused: 0, lastUsedAt: START + 20_000 }]);
  });

  it('reports one client\'s token waste only', async () => {
    const { billing, reports } = await setup();
    const tenantWide = await t.manage<{ clients: { clientId: string }[] }>('GET', '/tenants/default/usage/waste?days=1');
    expect(new Set(tenantWide.body.clients.map((c) => c.clientId))).toEqual(new Set([billing.clientId, reports.clientId]));
    const mine = await t.manage<{ clients: { clientId: string; audience: string; tokens: number; tokenLifetime: number; expectedMax: number }[] }>('GET', `/tenants/default/usage/waste?days=1&clientId=${billing.clientId}`);
    expect(mine.status).toBe(200);
    expect(mine.body.clients).toEqual([expect.objectContaining({ clientId: billing.clientId, audience: stock, tokens: 30, tokenLifetime: 3600 })]);
  });

  it('refuses a client id longer than any (400) and a caller without a token (401)', async () => {
    expect((await t.manage('GET', `/tenants/default/usage/top?by=api&clientId=${'x'.repeat(129)}`)).status).toBe(400);
    expect((await t.manage('GET', `/tenants/default/usage/waste?clientId=${'x'.repeat(129)}`)).status).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/manage/v1/tenants/default/usage/top?by=api&clientId=abc' })).statusCode).toBe(401);
  });

  it('refuses a client id no client can have (a NUL, which PostgreSQL text cannot hold; a space) with 400, never a 500', async () => {
    for (const odd of ['%00', 'a%00b', 'a%20b', '%0A']) {
      const top = await t.manage<{ error: string; message: string }>('GET', `/tenants/default/usage/top?by=api&clientId=${odd}`);
      expect(top.status, odd).toBe(400);
      expect(top.body.message).toMatch(/clientId/);
      expect((await t.manage('GET', `/tenants/default/usage/waste?clientId=${odd}`)).status, odd).toBe(400);
      expect((await t.manage('GET', `/tenants/default/usage?clientId=${odd}`)).status, odd).toBe(400);
    }
  });
});
