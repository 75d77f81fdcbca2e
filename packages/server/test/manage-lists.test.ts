/**
 * Lists that scale (docs/management-api.md, "Search, sort and paging"): the management
 * API's search, sort, cursors and the clients' last use and dormant filter, through
 * HTTP on an in-process app with a frozen clock, and the unused-grant report in pages.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';

const DAY = 86_400_000;
const START = Date.UTC(2026, 10, 22, 12, 0, 0);

type Page<T> = { items: T[]; nextCursor: string | null };
type ClientRow = { clientId: string; name: string; lastUsedAt: number | null };

describe('management lists: search, sort, paging, last use', () => {
  let t: TestServer;
  beforeEach(async () => {
    t = await createTestServer({ startAt: START });
  });
  afterEach(async () => {
    await t.close();
  });

  const flush = () => t.app.tessera.usage.recorder!.flush();
  const token = async (c: { clientId: string; clientSecret: string }) =>
    (await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret))).statusCode;
  async function walk<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page: { status: number; body: Page<T> } = await t.manage<Page<T>>('GET', `${path}${cursor !== null ? `${sep}cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.status).toBe(200);
      items.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    return items;
  }

  it('lists clients with their last use (the figure usage/top reports), sorted by it, and filters the dormant ones', async () => {
    const old = await t.setupClient('default', { client: { name: 'Old idle' } });
    const used = await t.setupClient('default', { client: { name: 'Busy' } });
    t.clock.advance(40 * DAY);
    const fresh = await t.setupClient('default', { client: { name: 'Fresh idle' } });
    expect(await token(used)).toBe(200);
    await flush();

    const all = await walk<ClientRow>('/tenants/default/clients?limit=1&sort=lastUsedAt&order=desc');
    const mine = all.filter((c) => [old.clientId, used.clientId, fresh.clientId].includes(c.clientId));
    expect(mine[0]).toMatchObject({ clientId: used.clientId, lastUsedAt: t.clock.now });
    expect(mine.slice(1).map((c) => c.lastUsedAt)).toEqual([null, null]);
    const top = await t.manage<{ rows: { clientId: string; lastUsedAt: number }[] }>('GET', '/tenants/default/usage/top?by=client');
    expect(top.body.rows.find((r) => r.clientId === used.clientId)?.lastUsedAt).toBe(mine[0]?.lastUsedAt);

    // Dormant for 30 days: older than that and no token in them; the fresh one is too young.
    const dormant = await walk<ClientRow>('/tenants/default/clients?dormantDays=30&limit=2');
    expect(dormant.map((c) => c.clientId)).toContain(old.clientId);
    expect(dormant.map((c) => c.clientId)).not.toContain(used.clientId);
    expect(dormant.map((c) => c.clientId)).not.toContain(fresh.clientId);

    // Search: case-insensitive substring of the name or id; a client just created is found.
    const found = await t.manage<Page<ClientRow>>('GET', '/tenants/default/clients?q=IDLE&sort=name');
    expect(found.body.items.map((c) => c.name)).toEqual(['Fresh idle', 'Old idle']);
    const byId = await t.manage<Page<ClientRow>>('GET', `/tenants/default/clients?q=${fresh.clientId.slice(2, 12)}`);
    expect(byId.body.items.map((c) => c.clientId)).toEqual([fresh.clientId]);
  });

  it('sorts APIs and grants server-side and pages through every row once under each sort', async () => {
    const setups = [];
    for (const name of ['charlie', 'Alpha', 'bravo']) setups.push(await t.setupClient('default', { apiIdentifier: `https://${name.toLowerCase()}.example`, client: { name } }));
    const apis = await walk<{ name: string; identifier: string }>('/tenants/default/apis?limit=1&sort=identifier&order=desc');
    const ours = apis.map((a) => a.identifier).filter((id) => id.endsWith('.example'));
    expect(ours).toEqual(['https://charlie.example', 'https://bravo.example', 'https://alpha.example']);
    const grants = await walk<{ audience: string; clientId: string }>('/tenants/default/grants?limit=2&sort=audience');
    const audiences = grants.map((g) => g.audience);
    expect(audiences).toEqual([...audiences].sort());
    const searched = await t.manage<Page<{ audience: string }>>('GET', '/tenants/default/grants?q=BRAVO');
    expect(searched.body.items.map((g) => g.audience)).toEqual(['https://bravo.example']);
    const filtered = await t.manage<Page<{ clientId: string }>>('GET', `/tenants/default/grants?clientId=${setups[0]!.clientId}&sort=clientId`);
    expect(filtered.body.items).toHaveLength(1);
  });

  it('answers 400 for an unknown sort, a bad order or dormantDays, and a cursor of another sort', async () => {
    for (const query of ['sort=secret', 'order=up', 'dormantDays=0', 'dormantDays=x', 'q=']) {
      const response = await t.manage('GET', `/tenants/default/clients?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.error).toBe('invalid_request');
    }
    expect((await t.manage('GET', '/tenants/default/apis?sort=clientId')).status).toBe(400);
    expect((await t.manage('GET', '/tenants/default/grants?sort=name')).status).toBe(400);
    expect((await t.manage('GET', '/tenants/default/audit?order=sideways')).status).toBe(400);
    await t.setupClient('default');
    await t.setupClient('default');
    const page = await t.manage<Page<unknown>>('GET', '/tenants/default/clients?limit=1&sort=name');
    expect(page.body.nextCursor).not.toBeNull();
    const mixed = await t.manage('GET', `/tenants/default/clients?limit=1&sort=clientId&cursor=${encodeURIComponent(page.body.nextCursor!)}`);
    expect(mixed.status).toBe(400);
    expect(mixed.body).toMatchObject({ error: 'invalid_request', message: 'invalid paging cursor' });
  });

  it('pages the unused-grant report: the pages together are the whole report, in order', async () => {
    for (let i = 0; i < 7; i++) await t.setupClient('default', { apiIdentifier: `https://api-${i}.example`, scopes: ['a', 'b'] });
    t.clock.advance(31 * DAY);
    const whole = await t.manage<{ grants: { grantId: string }[]; nextCursor: string | null }>('GET', '/tenants/default/usage/unused?days=30');
    // Without limit or cursor: the whole report, shaped as it always was.
    expect(whole.body).not.toHaveProperty('nextCursor');
    expect(whole.body.grants.length).toBeGreaterThanOrEqual(7);
    const paged: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response: { status: number; body: { grants: { grantId: string }[]; nextCursor: string | null } } = await t.manage('GET', `/tenants/default/usage/unused?days=30&limit=3${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(response.status).toBe(200);
      expect(response.body.grants.length).toBeLessThanOrEqual(3);
      paged.push(...response.body.grants.map((g) => g.grantId));
      cursor = response.body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    expect(paged).toEqual(whole.body.grants.map((g) => g.grantId));
    expect((await t.manage('GET', '/tenants/default/usage/unused?limit=0')).status).toBe(400);
  });

  it('documents the new parameters in the OpenAPI document', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/manage/v1/openapi.json' })).json();
    const names = (path: string) => (doc.paths[path].get.parameters as { name: string }[]).map((p) => p.name);
    expect(names('/tenants/{tenant}/clients')).toEqual(expect.arrayContaining(['q', 'sort', 'order', 'dormantDays', 'limit', 'cursor']));
    expect(names('/tenants/{tenant}/apis')).toEqual(expect.arrayContaining(['q', 'sort', 'order']));
    expect(names('/tenants/{tenant}/grants')).toEqual(expect.arrayContaining(['clientId', 'audience', 'q', 'sort', 'order']));
    expect(names('/tenants/{tenant}/audit')).toEqual(expect.arrayContaining(['order', 'action', 'since', 'until']));
    expect(names('/tenants/{tenant}/usage/unused')).toEqual(expect.arrayContaining(['days', 'limit', 'cursor']));
  });
});
