/**
 * Lists that scale, in a real browser: Debian's chromium driven by playwright-core
 * (never a browser download) against an in-process server seeded through the store
 * with 300 clients, 400 grants and their usage. At 1440x900 and 390x844 it visits
 * every console page, runs axe-core on each (WCAG 2.1 A/AA), checks that no page
 * scrolls sideways at 390 px and saves a screenshot of each page at both sizes to
 * test-results/console-screenshots/. At 1440x900 it drives the server-side search,
 * sort, paging, the dormant filter and "narrow all shown", asserting what a person
 * sees and what the server recorded in the audit (grant.update, never grant.delete).
 * Skipped, visibly, where /usr/bin/chromium is missing.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, axeViolations, launchChromium, SKIPPED, watchProblems } from './browser.js';
import { createTestServer, type TestServer } from '../../server/test/helpers/app.js';
import type { Api, Client, Grant } from '../../server/src/store/types.js';
import type { LastUse, UsageCount } from '../../server/src/store/usage-store.js';

const SCREENSHOTS = fileURLToPath(new URL('../../../test-results/console-screenshots/', import.meta.url));

const DAY = 86_400_000;
const MINUTE = 60_000;
const CLIENTS = 300;
/** Clients 0..199 hold a grant on each of the two APIs: 400 grants. */
const GRANTED = 200;
/** Clients 0..149 got tokens in the last hours (for Orders, only orders:read); the rest never. */
const USED = 150;
const ORDERS = 'https://orders.example';
const STOCK = 'https://stock.example';
const pad = (i: number) => String(i).padStart(3, '0');

async function visible(locator: Locator, timeout = 10_000): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout });
  expect(await locator.first().isVisible()).toBe(true);
}

/** The registry and its usage, written through the store: seconds, not minutes of HTTP. */
async function seed(t: TestServer): Promise<void> {
  const now = t.clock.now;
  const tenantId = 'default';
  const old = now - 60 * DAY;
  for (let i = 0; i < CLIENTS; i++) {
    const client: Client = {
      tenantId, clientId: `svc-${pad(i)}`, name: `Service ${pad(i)}`, tokenEndpointAuthMethod: 'tls_client_auth', jwks: null, jwksUri: null,
      tlsClientAuthSubjectDn: `CN=svc-${pad(i)},O=Example`, accessTokenLifetime: null, disabled: false, customClaims: {}, createdAt: old + i * 1000, updatedAt: old + i * 1000,
    };
    await t.store.createClient(client, []);
  }
  const apis: Api[] = [
    { id: 'api-orders', tenantId, identifier: ORDERS, name: 'Orders', scopes: [{ value: 'orders:read', description: 'Read orders' }, { value: 'orders:write' }, { value: 'orders:admin' }], accessTokenLifetime: null, tokenFormat: 'jwt', introspectors: [], createdAt: old, updatedAt: old },
    { id: 'api-stock', tenantId, identifier: STOCK, name: 'Stock', scopes: [{ value: 'stock:read' }], accessTokenLifetime: null, tokenFormat: 'jwt', introspectors: [], createdAt: old, updatedAt: old },
  ];
  for (const api of apis) await t.store.createApi(api);
  const lastUses: LastUse[] = [];
  const counts: UsageCount[] = [];
  const minute = now - (now % MINUTE);
  for (let i = 0; i < GRANTED; i++) {
    const clientId = `svc-${pad(i)}`;
    const orders: Grant = { id: `grant-orders-${pad(i)}`, tenantId, clientId, apiId: 'api-orders', audience: ORDERS, scopes: ['orders:read', 'orders:write', 'orders:admin'], customClaims: {}, createdAt: old + 10_000_000 + i };
    const stock: Grant = { id: `grant-stock-${pad(i)}`, tenantId, clientId, apiId: 'api-stock', audience: STOCK, scopes: ['stock:read'], customClaims: {}, createdAt: old + 20_000_000 + i };
    await t.store.createGrant(orders);
    await t.store.createGrant(stock);
    if (i < USED) {
      const at = now - i * MINUTE;
      lastUses.push({ tenantId, kind: 'client', subject: clientId, at }, { tenantId, kind: 'grant', subject: `${clientId}\n${ORDERS}`, at }, { tenantId, kind: 'scope', subject: `${clientId}\n${ORDERS}\norders:read`, at });
      counts.push({ tenantId, bucketStart: minute - (i % 60) * MINUTE, clientId, audience: ORDERS, scope: 'orders:read', outcome: 'issued', count: 1 + (i % 7) });
      if (i < 100) {
        lastUses.push({ tenantId, kind: 'grant', subject: `${clientId}\n${STOCK}`, at }, { tenantId, kind: 'scope', subject: `${clientId}\n${STOCK}\nstock:read`, at });
        counts.push({ tenantId, bucketStart: minute - (i % 60) * MINUTE, clientId, audience: STOCK, scope: 'stock:read', outcome: 'issued', count: 2 });
      }
    }
  }
  await t.store.usage().record(counts, lastUses);
}

describe.skipIf(!available)(`console lists at scale in headless Chromium${SKIPPED}`, () => {
  let t: TestServer;
  let browser: Browser;
  let base: string;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    t = await createTestServer({ startAt: Date.now() });
    await seed(t);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  async function signedIn(context: BrowserContext, path: string): Promise<Page> {
    const page = await context.newPage();
    watchProblems(page, problems);
    await page.goto(`${base}/console${path}`);
    await page.getByLabel('Password', { exact: true }).fill(t.console.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Password', { exact: true }).waitFor({ state: 'hidden' });
    return page;
  }

  /** Settled, axe-clean, no sideways scrolling at its width, and photographed. */
  async function check(page: Page, size: string, name: string): Promise<void> {
    const violations = await axeViolations(page);
    expect(violations, `axe on ${size} ${name}`).toEqual([]);
    const scroll = await page.evaluate(() => {
      const el = document.scrollingElement ?? document.documentElement;
      return { scrollWidth: el.scrollWidth, clientWidth: el.clientWidth };
    });
    expect(scroll.scrollWidth, `${size} ${name} scrolls sideways`).toBeLessThanOrEqual(scroll.clientWidth);
    await page.screenshot({ path: `${SCREENSHOTS}${size}-${name}.png`, fullPage: true });
  }

  /** Every page of the console, in the order a person would meet them. */
  async function visitEveryPage(page: Page, size: string): Promise<void> {
    const pages: [string, string, Locator][] = [
      ['tenants', '/tenants', page.getByRole('heading', { name: 'Tenants', level: 1 })],
      ['clients', '/t/default/clients', page.getByRole('link', { name: 'Service 299' })],
      ['client-page', '/t/default/clients/svc-000', page.getByRole('heading', { name: /Service 000/, level: 1 })],
      ['apis', '/t/default/apis', page.getByRole('link', { name: 'Orders' })],
      ['api-settings', '/t/default/apis/api-orders', page.getByRole('heading', { name: 'Settings' })],
      ['api-m2m', '/t/default/apis/api-orders/clients', page.getByRole('cell', { name: /svc-000/ })],
      ['api-usage', '/t/default/apis/api-orders/usage', page.getByRole('img', { name: /tokens issued/ })],
      ['federations', '/t/default/federations', page.getByRole('heading', { name: 'Federations', level: 1 })],
      ['keys', '/t/default/keys', page.getByRole('heading', { name: 'Signing keys' })],
      ['usage', '/t/default/usage', page.getByRole('button', { name: /Narrow all shown/ })],
      ['audit', '/t/default/audit', page.getByRole('heading', { name: 'Audit log' })],
      ['console-users', '/console-users', page.getByRole('heading', { name: 'Console users', level: 1 })],
    ];
    for (const [name, path, ready] of pages) {
      await page.goto(`${base}/console${path}`);
      await visible(ready);
      await check(page, size, name);
    }
  }

  it('1440x900: every page clean; search, sort, paging, dormant filter and narrow-all on 300 clients and 400 grants, as the audit records', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
    const page = await signedIn(context, '/t/default/clients');
    await visitEveryPage(page, 'desktop');

    // Clients: newest first, 50 a page; the server searches all 300.
    await page.goto(`${base}/console/t/default/clients`);
    const list = page.locator('section[aria-labelledby="all-clients"]');
    const rows = list.locator('tbody tr');
    const firstName = () => rows.first().locator('td').first().innerText();
    await visible(list.getByRole('link', { name: 'Service 299' }));
    expect(await rows.count()).toBe(50);
    await visible(list.getByText('1–50 shown, more on the next pages'));
    await list.getByPlaceholder('Search clients').fill('service 12');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(10);
    expect(await list.getByRole('link', { name: 'Service 123' }).isVisible()).toBe(true);
    await list.getByPlaceholder('Search clients').fill('');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(50);

    // Sort by name on the server: ascending, then descending, then page 2 of that order.
    await list.getByRole('button', { name: 'Name' }).click();
    await expect.poll(firstName, { timeout: 10_000 }).toBe('Service 000');
    expect(await list.locator('th[aria-sort="ascending"]').innerText()).toContain('Name');
    await list.getByRole('button', { name: 'Name' }).click();
    await expect.poll(firstName, { timeout: 10_000 }).toBe('Service 299');
    expect(await list.locator('th[aria-sort="descending"]').innerText()).toContain('Name');
    await list.getByRole('button', { name: 'Next page' }).click();
    await expect.poll(firstName, { timeout: 10_000 }).toBe('Service 249');
    await visible(list.getByText('51–100 shown'));
    await list.getByRole('button', { name: 'Previous page' }).click();
    await expect.poll(firstName, { timeout: 10_000 }).toBe('Service 299');

    // Last used: the most recent first, from the usage store, as usage/top reports it.
    await list.getByRole('button', { name: 'Last used' }).click();
    await expect.poll(firstName, { timeout: 10_000 }).toBe('Service 000');
    const top = await t.manage('GET', '/tenants/default/usage/top?by=client&limit=1000');
    const svc000 = (top.body.rows as { clientId: string; lastUsedAt: number }[]).find((r) => r.clientId === 'svc-000')!;
    expect(await rows.first().locator('td[data-label="Last used"] time').getAttribute('datetime')).toBe(new Date(svc000.lastUsedAt).toISOString());

    // Dormant for 30 days: only the 150 never used; the used ones are gone from the list.
    await list.getByRole('combobox', { name: /Show/ }).selectOption({ label: 'dormant: no token in 30 days' });
    await expect.poll(firstName, { timeout: 10_000 }).toBe('Service 150');
    expect(await list.getByText('never').count()).toBe(50);
    expect(await list.getByRole('link', { name: 'Service 000' }).count()).toBe(0);
    const dormant = await t.manage('GET', '/tenants/default/clients?dormantDays=30&limit=200');
    expect(dormant.body.items).toHaveLength(150);
    await list.getByRole('combobox', { name: /Show/ }).selectOption({ label: 'all clients' });

    // A client just created is on the first page (newest first) and found by a search.
    await page.getByLabel('Name', { exact: true }).fill('Zeta just created');
    await page.getByRole('button', { name: 'Create client' }).click();
    await visible(page.getByText('Copy the secret now: it is shown only once.'));
    // Newest first is where a column of times starts.
    await list.getByRole('button', { name: 'Created' }).click();
    await expect.poll(firstName, { timeout: 10_000 }).toBe('Zeta just created');
    expect(await list.locator('th[aria-sort="descending"]').innerText()).toContain('Created');
    await list.getByPlaceholder('Search clients').fill('zeta');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);

    // APIs: sorted by the server.
    await page.goto(`${base}/console/t/default/apis`);
    const apiList = page.locator('section[aria-labelledby="all-apis"]');
    await apiList.getByRole('button', { name: 'Name' }).click();
    await expect.poll(() => apiList.locator('tbody tr').first().locator('td').first().innerText(), { timeout: 10_000 }).toBe('Orders');
    await apiList.getByRole('button', { name: 'Name' }).click();
    await expect.poll(() => apiList.locator('tbody tr').first().locator('td').first().innerText(), { timeout: 10_000 }).toBe('Stock');

    // The Machine-to-machine tab: the API's 200 grants, 50 a page.
    await page.goto(`${base}/console/t/default/apis/api-orders/clients`);
    const m2m = page.locator('section[aria-labelledby="m2m"]');
    await visible(m2m.getByText('1–50 shown, more on the next pages'));
    await m2m.getByRole('button', { name: 'Next page' }).click();
    await visible(m2m.getByText('51–100 shown'));
    await visible(m2m.getByRole('cell', { name: /svc-050/ }));
    await page.getByPlaceholder('Find a client by name or ID').fill('Service 250');
    await visible(page.getByRole('listitem').filter({ hasText: 'Service 250' }).getByRole('button', { name: 'Give access' }));
    await page.getByPlaceholder('Find a client by name or ID').fill('Service 010');
    await visible(page.getByRole('listitem').filter({ hasText: 'Service 010' }).getByText('has access'));

    // Usage: 300 findings, 20 a page; narrow all shown, after one confirmation listing each.
    await page.goto(`${base}/console/t/default/usage`);
    const unused = page.locator('section[aria-labelledby="unused"]');
    await visible(unused.getByRole('button', { name: 'Narrow all shown (20)' }));
    expect(await unused.locator('> ul.rows > li').count()).toBe(20);
    await unused.getByRole('button', { name: 'Narrow all shown (20)' }).click();
    const dialog = page.getByRole('alertdialog');
    await visible(dialog.getByText('Narrow 20 grants?'));
    const listed = dialog.locator('li');
    expect(await listed.count()).toBe(20);
    for (let i = 0; i < 20; i++) {
      expect((await listed.nth(i).innerText()).replace(/\s+/g, ' ')).toMatch(new RegExp(`^Service ${pad(i)} on Orders: loses orders:write orders:admin ?, keeps orders:read$`));
    }
    // However long the list, the confirmation stays on screen.
    const confirmBox = await dialog.getByRole('button', { name: 'Narrow 20 grants' }).boundingBox();
    expect(confirmBox!.y + confirmBox!.height).toBeLessThanOrEqual(900);
    await dialog.getByRole('button', { name: 'Narrow 20 grants' }).click();
    await visible(unused.getByText('Narrowed 20 of 20 grants.'));
    expect(await unused.locator('.results li', { hasText: 'narrowed to orders:read' }).count()).toBe(20);
    // What the server recorded: 20 changes in place by the console user, nothing deleted.
    const updates = await t.manage('GET', '/tenants/default/audit?action=grant.update&limit=200');
    expect(updates.body.items).toHaveLength(20);
    expect(new Set(updates.body.items.map((e: { actor: string }) => e.actor))).toEqual(new Set([`console:${t.console.user}`]));
    expect((await t.manage('GET', '/tenants/default/audit?action=grant.delete')).body.items).toEqual([]);
    expect((await t.manage('GET', '/tenants/default/audit?action=grant.create')).body.items).toEqual([]);
    for (const i of [0, 19]) {
      const grant = await t.manage('GET', `/tenants/default/grants/grant-orders-${pad(i)}`);
      expect(grant.body.scopes).toEqual(['orders:read']);
    }
    // The narrowed grants are no longer findings; the next page follows the cursor.
    await visible(unused.getByRole('listitem').filter({ hasText: 'Service 020' }));
    await unused.getByRole('button', { name: 'Next page' }).click();
    await visible(unused.getByText('Page 2'));
    // The page's rows appear with their clients' names, looked up as the page loads.
    await expect.poll(() => unused.locator('> ul.rows > li').count(), { timeout: 10_000 }).toBe(20);

    // The audit, sorted oldest first on the server.
    await page.goto(`${base}/console/t/default/audit?action=grant.update`);
    const audit = page.locator('section[aria-labelledby="audit-entries"]');
    await visible(audit.getByRole('cell', { name: 'grant.update' }));
    expect(await audit.locator('tbody tr').count()).toBe(20);
    await audit.getByRole('button', { name: 'When' }).click();
    expect(await audit.locator('th[aria-sort="ascending"]').innerText()).toContain('When');
    await context.close();
    expect(problems).toEqual([]);
  }, 240_000);

  it('390x844: every page clean, none scrolls sideways', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    const page = await signedIn(context, '/t/default/clients');
    await visitEveryPage(page, 'phone');
    await context.close();
    expect(problems).toEqual([]);
  }, 180_000);
});
