/**
 * The busiest clients and APIs (docs/usage.md, `usage/top`), with a frozen clock, on
 * the embedded store and (with TESSERA_TEST_DATABASE_URL) on PostgreSQL.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from './helpers/postgres.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const START = Date.UTC(2026, 10, 22, 12, 0, 30);

type Row = { clientId?: string; audience?: string; name: string | null; issued: number; refused: number; lastUsedAt: number | null };
type Top = { by: string; from: number; to: number; rows: Row[] };

for (const kind of ['sqlite', 'postgres'] as const) describe.skipIf(kind === 'postgres' && testDatabaseUrl() === undefined)(`usage/top: the busiest clients and APIs (${kind})`, () => {
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

  const flush = () => t.app.tessera.usage.recorder!.flush();
  const token = async (client: { clientId: string; clientSecret: string }, form: Record<string, string> = {}) =>
    (await t.post('default', 'token', { grant_type: 'client_credentials', ...form }, basic(client.clientId, client.clientSecret))).statusCode;

  it('ranks clients and APIs busiest first, with names, refusals and last use', async () => {
    const orders = 'https://orders.example';
    const a = await t.setupClient('default', { apiIdentifier: orders, scopes: ['read'], client: { name: 'Billing' } });
    const b = await t.setupClient('default', { apiIdentifier: orders, scopes: ['read'], client: { name: 'Reports' } });
    const c = await t.setupClient('default', { apiIdentifier: 'https://stock.example', scopes: ['read'], client: { name: 'Stock' } });
    for (let i = 0; i < 3; i++) expect(await token(a)).toBe(200);
    expect(await token(b)).toBe(200);
    expect(await token(b, { scope: 'write' })).toBe(400);
    expect(await token(b, { scope: 'write' })).toBe(400);
    t.clock.advance(60_000);
    for (let i = 0; i < 2; i++) expect(await token(c)).toBe(200);
    await flush();

    const byClient = await t.manage<Top>('GET', '/tenants/default/usage/top?by=client');
    expect(byClient.status).toBe(200);
    expect(byClient.body.by).toBe('client');
    expect(byClient.body.to).toBeGreaterThan(t.clock.now);
    expect(byClient.body.from).toBeLessThanOrEqual(t.clock.now - 30 * DAY);
    expect(byClient.body.rows).toEqual([
      { clientId: a.clientId, name: 'Billing', issued: 3, refused: 0, lastUsedAt: START },
      { clientId: c.clientId, name: 'Stock', issued: 2, refused: 0, lastUsedAt: START + 60_000 },
      { clientId: b.clientId, name: 'Reports', issued: 1, refused: 2, lastUsedAt: START },
    ]);

    const byApi = await t.manage<Top>('GET', '/tenants/default/usage/top?by=api');
    expect(byApi.status).toBe(200);
    // The refusals named no API of theirs (a scope not granted): they count for the client only.
    expect(byApi.body.rows.map((r) => [r.audience, r.issued, r.refused])).toEqual([
      [orders, 4, 0],
      ['https://stock.example', 2, 0],
    ]);
    expect(byApi.body.rows[0]).toMatchObject({ name: expect.any(String), lastUsedAt: START });
    expect(byApi.body.rows[0]?.clientId).toBeUndefined();

    expect((await t.manage<Top>('GET', '/tenants/default/usage/top?by=client&limit=1')).body.rows).toHaveLength(1);
    // Only the second minute: client c alone.
    const lastMinute = await t.manage<Top>('GET', `/tenants/default/usage/top?by=client&from=${START + 30_000}`);
    expect(lastMinute.body.from).toBe(START + 30_000);
    expect(lastMinute.body.rows.map((r) => r.clientId)).toEqual([c.clientId]);

    // A deleted client keeps its counts, without a name.
    expect((await t.manage('DELETE', `/tenants/default/clients/${a.clientId}`)).status).toBe(204);
    expect((await t.manage<Top>('GET', '/tenants/default/usage/top')).body.rows[0]).toMatchObject({ clientId: a.clientId, name: null, issued: 3 });
  });

  it('counts a range older than the minutes kept from the rolled-up hours, and rounds its ends to them', async () => {
    const a = await t.setupClient('default', { scopes: ['read'] });
    for (let i = 0; i < 5; i++) expect(await token(a)).toBe(200);
    await flush();
    t.clock.advance(HOUR);
    await t.app.tessera.usage.maintenance.run();
    t.clock.advance(3 * DAY);
    // Minutes older than two days are gone now: the hours answer for them.
    await t.app.tessera.usage.maintenance.run();
    expect(await token(a)).toBe(200);
    await flush();

    const all = await t.manage<Top>('GET', '/tenants/default/usage/top');
    expect(all.body.rows[0]).toMatchObject({ clientId: a.clientId, issued: 6 });
    const old = await t.manage<Top>('GET', `/tenants/default/usage/top?from=${START - 10 * 60_000}&to=${START + 10 * 60_000}`);
    expect(old.body.from).toBe(Date.UTC(2026, 10, 22, 11));
    expect(old.body.to).toBe(Date.UTC(2026, 10, 22, 13));
    expect(old.body.rows[0]).toMatchObject({ clientId: a.clientId, issued: 5 });
    const recent = await t.manage<Top>('GET', `/tenants/default/usage/top?from=${START + DAY}`);
    expect(recent.body.rows[0]).toMatchObject({ issued: 1 });
  });

  it('refuses what it cannot answer: an unknown report, an empty range, another tenant', async () => {
    expect((await t.manage('GET', '/tenants/default/usage/top?by=scope')).status).toBe(400);
    expect((await t.manage('GET', '/tenants/default/usage/top?limit=0')).status).toBe(400);
    const empty = await t.manage('GET', `/tenants/default/usage/top?from=${START}&to=${START}`);
    expect(empty.status).toBe(422);
    expect(empty.body.message).toContain('from must be before to');
    expect((await t.manage('GET', '/tenants/nope/usage/top')).status).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/manage/v1/tenants/default/usage/top' })).statusCode).toBe(401);
    const quiet = await t.manage<Top>('GET', '/tenants/default/usage/top?by=api');
    expect(quiet.body).toMatchObject({ by: 'api', rows: [] });
  });
});
