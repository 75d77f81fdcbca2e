/**
 * The console in a real browser: Debian's chromium driven by playwright-core (never a
 * browser download), at desktop (1440x900, light) and phone (390x844, dark) sizes.
 * Assertions are about what a person sees: elements visible on screen, messages
 * inside the viewport. Every page gets an axe-core scan (WCAG 2.1 A/AA); screenshots
 * go to test-artifacts/console/. Skipped, visibly, where /usr/bin/chromium is missing.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, axeViolations, launchChromium, SKIPPED, watchProblems } from './browser.js';
import { createTestServer, type TestServer } from '../../server/test/helpers/app.js';

const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/console/', import.meta.url));

async function visible(locator: Locator, timeout = 10_000): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout });
  expect(await locator.first().isVisible()).toBe(true);
}

async function hidden(locator: Locator, timeout = 10_000): Promise<void> {
  await locator.first().waitFor({ state: 'hidden', timeout });
  expect(await locator.first().isVisible()).toBe(false);
}

/** The message region's text, and that it is on screen (not scrolled away). */
async function message(page: Page, text: string | RegExp): Promise<void> {
  const region = page.locator('.message-region .message');
  await visible(region.filter({ hasText: text }));
  const box = await region.boundingBox();
  const viewport = page.viewportSize();
  expect(box).not.toBeNull();
  expect(box!.y).toBeGreaterThanOrEqual(0);
  expect(box!.y + box!.height).toBeLessThanOrEqual(viewport!.height);
}

/** axe-core, evaluated through the DevTools protocol (the page's CSP stays strict). */
async function accessible(page: Page, name: string): Promise<void> {
  const violations = await axeViolations(page);
  expect(violations, `axe on ${name}`).toEqual([]);
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: false });
}

describe.skipIf(!available)(`console in headless Chromium${SKIPPED}`, () => {
  let t: TestServer;
  let browser: Browser;
  let base: string;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    t = await createTestServer({ startAt: Date.now() });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    // More clients than one page holds: the console must follow nextCursor.
    for (let batch = 0; batch < 6; batch++) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => batch * 10 + k + 1).map((i) =>
        t.manage('POST', '/tenants/default/clients', { name: `bulk-${String(i).padStart(3, '0')}`, tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: `CN=bulk-${i}` })));
    }
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  async function open(context: BrowserContext, path: string): Promise<Page> {
    const page = await context.newPage();
    watchProblems(page, problems);
    await page.goto(`${base}/console${path}`);
    return page;
  }

  async function signIn(page: Page): Promise<void> {
    await page.getByLabel('Password', { exact: true }).fill(t.console.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await hidden(page.getByLabel('Password', { exact: true }));
  }

  it('desktop: sign-in, deep links, clients, secrets, grants, APIs, keys, audit, usage, lock-out guard, sign-out', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
    const page = await open(context, '/t/default/apis');

    // Before sign-in: only the sign-in card, no navigation.
    await visible(page.getByRole('heading', { name: 'Tessera console' }));
    expect(await page.getByRole('navigation', { name: 'Console' }).count()).toBe(0);
    await accessible(page, 'desktop-signin');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.locator('.field-error', { hasText: 'wrong user or password' }));
    await signIn(page);

    // The deep link survives sign-in.
    await visible(page.getByRole('heading', { name: 'APIs', level: 1 }));
    expect(new URL(page.url()).pathname).toBe('/console/t/default/apis');
    await visible(page.getByRole('navigation', { name: 'Console' }));

    // An API with scopes.
    await page.getByLabel('Identifier (audience)').fill('https://orders.example');
    await page.getByLabel('Name', { exact: true }).fill('Orders');
    await page.getByLabel('Scopes').fill('orders:read - Read orders\norders:write - Change orders');
    await page.getByRole('button', { name: 'Create API' }).click();
    await message(page, 'API Orders created');
    await visible(page.getByRole('link', { name: 'Orders' }));
    await accessible(page, 'desktop-apis');

    // A client: an inline error next to the field, then one client however often one clicks.
    await page.getByRole('link', { name: 'Clients' }).click();
    await visible(page.getByRole('heading', { name: 'Clients', level: 1 }));
    await page.getByRole('button', { name: 'Create client' }).click();
    await visible(page.locator('.field-error', { hasText: 'a name is required' }));
    await page.getByLabel('Name', { exact: true }).fill('billing');
    await page.getByRole('button', { name: 'Create client' }).dblclick();
    await visible(page.getByText('Copy the secret now: it is shown only once.'));
    const clients = (await t.manage('GET', '/tenants/default/clients?limit=200')).body.items as { name: string }[];
    let all = clients;
    let next = (await t.manage('GET', '/tenants/default/clients?limit=200')).body.nextCursor as string | null;
    while (next !== null) {
      const page2 = await t.manage('GET', `/tenants/default/clients?limit=200&cursor=${encodeURIComponent(next)}`);
      all = [...all, ...page2.body.items];
      next = page2.body.nextCursor;
    }
    expect(all.filter((c) => c.name === 'billing')).toHaveLength(1);
    // The server searches the whole list (50 a page), not just the page shown.
    await page.getByPlaceholder('Search clients').fill('billing');
    await visible(page.getByRole('cell', { name: 'billing' }));
    await accessible(page, 'desktop-clients');

    // The client page: deep link, reload, Back.
    await page.getByRole('link', { name: 'billing' }).click();
    await visible(page.getByRole('heading', { name: /billing/, level: 1 }));
    const clientUrl = page.url();
    await page.reload();
    await visible(page.getByRole('heading', { name: /billing/, level: 1 }));
    expect(page.url()).toBe(clientUrl);
    await page.goBack();
    await visible(page.getByRole('heading', { name: 'Clients', level: 1 }));
    await page.goForward();
    await visible(page.getByRole('heading', { name: /billing/, level: 1 }));

    // Grant scopes, see the snippets.
    await page.getByLabel('API', { exact: true }).selectOption({ label: 'Orders (https://orders.example)' });
    await page.getByRole('checkbox', { name: /orders:read/ }).check();
    await page.getByRole('button', { name: 'Grant access' }).click();
    await message(page, 'Access granted');
    await visible(page.getByRole('button', { name: 'Revoke access to Orders' }));
    await visible(page.locator('pre code', { hasText: "audience='https://orders.example'" }));
    await visible(page.locator('pre code', { hasText: 'createTokenClient' }));
    // The usage chart, on the client's Usage tab, reads the server's usage series (docs/usage.md): a real chart, not a placeholder.
    const clientTabs = page.getByRole('navigation', { name: 'Client sections' });
    await clientTabs.getByRole('link', { name: 'Usage' }).click();
    await visible(page.getByRole('img', { name: /tokens issued and \d+ refused/ }));
    await clientTabs.getByRole('link', { name: 'Overview' }).click();

    // A second secret, then a deletion that is cancelled: nothing is lost.
    await page.getByRole('button', { name: 'New secret' }).click();
    await message(page, 'New secret created');
    const deleteButtons = page.getByRole('button', { name: /^Delete secret sec_/ });
    // The page reloads the client after the message: wait for the second secret's row.
    await expect.poll(() => deleteButtons.count(), { timeout: 10_000 }).toBe(2);
    await deleteButtons.first().click();
    const dialog = page.getByRole('alertdialog');
    await visible(dialog);
    await visible(dialog.getByText('is refused from now on'));
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await hidden(dialog);
    expect(await deleteButtons.count()).toBe(2);
    await deleteButtons.first().click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete secret' }).click();
    await message(page, /Secret sec_\w+ deleted/);
    await accessible(page, 'desktop-client-page');

    // Revoking asks first and names what is lost.
    await page.getByRole('button', { name: 'Revoke access to Orders' }).click();
    await visible(page.getByRole('alertdialog').getByText('loses the scopes'));
    await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke grant' }).click();
    await message(page, 'Grant revoked');

    // The API's machine-to-machine tab: the last client can be granted.
    await page.getByRole('link', { name: 'APIs' }).click();
    await page.getByRole('link', { name: 'Orders' }).click();
    await page.getByRole('link', { name: 'Machine-to-machine clients' }).click();
    await page.getByPlaceholder('Find a client by name or ID').fill('bulk-060');
    const give = page.getByRole('listitem').filter({ hasText: 'bulk-060' }).getByRole('button', { name: 'Give access' });
    await visible(give);
    await give.click();
    await message(page, 'bulk-060 may now get tokens for Orders');
    await page.getByRole('checkbox', { name: 'orders:write' }).click();
    await message(page, 'bulk-060: granted orders:write');
    const granted = (await t.manage('GET', `/tenants/default/grants?audience=${encodeURIComponent('https://orders.example')}`)).body.items;
    expect(granted.map((g: { scopes: string[] }) => g.scopes)).toEqual([['orders:write']]);
    await accessible(page, 'desktop-api-m2m');

    // Keys: Rotate is an action, not a form submission; emergency needs typing the tenant.
    await page.getByRole('link', { name: 'Keys' }).click();
    await visible(page.getByRole('heading', { name: 'Signing keys' }));
    const before = (await t.manage('GET', '/tenants/default/keys')).body.items.length;
    await page.getByRole('button', { name: 'Rotate', exact: true }).click();
    await message(page, 'Keys rotated');
    expect((await t.manage('GET', '/tenants/default/keys')).body.items.length).toBeGreaterThan(before);
    await visible(page.locator('.badge-next'));
    await visible(page.locator('.badge-retired'));
    await page.getByRole('button', { name: 'Emergency rotation' }).click();
    const confirm = page.getByRole('alertdialog').getByRole('button', { name: 'Rotate in an emergency' });
    expect(await confirm.isDisabled()).toBe(true);
    // Keyboard: focus starts in the dialog, Tab stays there, Escape closes it and
    // gives focus back to the button that opened it.
    // (The dialog moves focus once it has mounted: wait for it rather than race it.)
    await expect.poll(() => page.evaluate(() => document.activeElement?.id), { timeout: 5_000 }).toBe('confirm-typed');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.closest('[role="alertdialog"]') !== null)).toBe(true);
    await page.keyboard.press('Escape');
    await hidden(page.getByRole('alertdialog'));
    // Focus comes back once the dialog has unmounted: wait for it rather than race it.
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent), { timeout: 5_000 }).toBe('Emergency rotation');
    await accessible(page, 'desktop-keys');

    // Federations with rules.
    await page.getByRole('link', { name: 'Federations' }).click();
    await page.getByLabel('Name', { exact: true }).fill('ci');
    await page.getByLabel('Issuer', { exact: true }).fill('https://token.actions.githubusercontent.com');
    await page.getByRole('textbox', { name: 'JWK Set URL' }).fill('https://token.actions.githubusercontent.com/.well-known/jwks');
    await page.getByLabel('Subject 1').fill('repo:acme/billing:*');
    await page.getByLabel('Client 1').selectOption({ label: 'billing' });
    await page.getByRole('button', { name: 'Create federation' }).click();
    await message(page, 'Federation ci created');
    await visible(page.getByRole('cell', { name: /repo:acme\/billing:\* → billing/ }));
    await accessible(page, 'desktop-federations');

    // Audit, filtered, as a link.
    await page.goto(`${base}/console/t/default/audit?action=client.create`);
    await visible(page.getByRole('heading', { name: 'Audit log' }));
    await visible(page.getByRole('cell', { name: 'client.create' }));
    expect(await page.getByRole('cell', { name: 'api.create' }).count()).toBe(0);
    await visible(page.getByRole('cell', { name: `console:${t.console.user}` }));
    await accessible(page, 'desktop-audit');

    // Usage: the tenant's series and reports (docs/usage.md); a fresh tenant wastes nothing.
    await page.getByRole('link', { name: 'Usage' }).click();
    await visible(page.getByRole('img', { name: /tokens issued and \d+ refused/ }));
    await visible(page.getByText('No client wastes tokens.'));
    await accessible(page, 'desktop-usage');

    // The console cannot lock itself out: the server refuses, the page says why.
    // Switching tenant keeps the section.
    await page.getByRole('combobox', { name: 'Tenant' }).selectOption('admin');
    await visible(page.getByRole('heading', { name: 'Usage', level: 1 }));
    expect(new URL(page.url()).pathname).toBe('/console/t/admin/usage');
    await page.getByRole('link', { name: 'Clients' }).click();
    await visible(page.getByRole('heading', { name: 'Clients', level: 1 }));
    await page.getByPlaceholder('Search clients').fill('Tessera console');
    await page.getByRole('link', { name: 'Tessera console' }).click();
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Disable client' }).click();
    await message(page, "the console's own client cannot be disabled");

    // Tenants: create, then delete with a typed confirmation.
    await page.getByRole('link', { name: 'All tenants' }).click();
    await page.getByLabel('Identifier').fill('staging');
    await page.getByLabel('Signing algorithm').selectOption('EdDSA');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await message(page, 'Tenant staging created');
    await accessible(page, 'desktop-tenants');
    await page.getByRole('button', { name: 'Delete tenant staging' }).click();
    const typed = page.getByRole('alertdialog');
    expect(await typed.getByRole('button', { name: 'Delete tenant' }).isDisabled()).toBe(true);
    await typed.getByLabel(/Type staging to confirm/).fill('staging');
    await typed.getByRole('button', { name: 'Delete tenant' }).click();
    await message(page, 'Tenant staging deleted');
    expect((await t.manage('GET', '/tenants/staging')).status).toBe(404);

    // Sign-out revokes the token.
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('tessera.console.session') ?? '{}').token as string);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await visible(page.getByLabel('Password'));
    const after = await t.app.inject({ method: 'GET', url: '/manage/v1/tenants', headers: { authorization: `Bearer ${token}` } });
    expect(after.statusCode).toBe(401);
    await context.close();
    expect(problems).toEqual([]);
  }, 180_000);

  it('desktop: a viewer sees no control that changes anything and the server refuses it; an admin manages console users', async () => {
    const created = await t.manage('POST', '/console-users', { username: 'vera', role: 'viewer' });
    expect(created.status).toBe(201);
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
    const page = await open(context, '/t/default/clients');
    await page.getByLabel('User').fill('vera');
    await page.getByLabel('Password').fill(created.body.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('heading', { name: 'Clients', level: 1 }));
    await visible(page.getByText('You are signed in as a viewer'));
    await page.getByPlaceholder('Search clients').fill('bulk-001');
    await visible(page.getByRole('link', { name: 'bulk-001' }));
    expect(await page.getByRole('button', { name: 'Create client' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Console users' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Keys' }).click();
    await visible(page.getByRole('heading', { name: 'Signing keys' }));
    expect(await page.getByRole('button', { name: 'Rotate', exact: true }).count()).toBe(0);
    await accessible(page, 'desktop-viewer-keys');
    // What the console hides, the server refuses.
    const status = await page.evaluate(async () => {
      const token = JSON.parse(sessionStorage.getItem('tessera.console.session') ?? '{}').token as string;
      const response = await fetch('/manage/v1/tenants/default/keys/rotate', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      return response.status;
    });
    expect(status).toBe(403);
    await context.close();

    const adminContext = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
    const admin = await open(adminContext, '/console-users');
    await signIn(admin);
    await visible(admin.getByRole('heading', { name: 'Console users', level: 1 }));
    await admin.getByLabel('User name', { exact: true }).fill('ops');
    await admin.getByLabel('Role', { exact: true }).selectOption('admin');
    await admin.getByLabel('Tenants', { exact: true }).fill('default');
    await admin.getByRole('button', { name: 'Create user' }).click();
    await visible(admin.getByText('shown only once'));
    await message(admin, 'Console user ops created');
    await accessible(admin, 'desktop-console-users');
    const users = (await t.manage('GET', '/console-users')).body.items as { username: string; role: string; tenants?: string[] }[];
    expect(users.find((u) => u.username === 'ops')).toMatchObject({ role: 'admin', tenants: ['default'] });
    const audit = await t.manage('GET', '/tenants/admin/audit?action=console_user.create&targetId=ops');
    expect(audit.body.items[0].actor).toBe(`console:${t.console.user}`);
    await adminContext.close();
    expect(problems).toEqual([]);
  }, 120_000);

  it('phone (390x844, dark): no sideways scrolling, a menu, readable pages', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    const page = await open(context, '/');
    await signIn(page);
    await visible(page.getByRole('heading', { name: 'Clients', level: 1 }));
    const nav = page.getByRole('navigation', { name: 'Console' });
    expect(await nav.isVisible()).toBe(false);
    const widths = async () => page.evaluate(() => document.documentElement.scrollWidth);
    expect(await widths()).toBeLessThanOrEqual(390);
    await accessible(page, 'phone-clients');
    await page.getByRole('button', { name: 'Menu' }).click();
    await visible(nav);
    await nav.getByRole('link', { name: 'APIs' }).click();
    await hidden(nav);
    await visible(page.getByRole('heading', { name: 'APIs', level: 1 }));
    expect(await widths()).toBeLessThanOrEqual(390);
    await accessible(page, 'phone-apis');
    await page.goto(`${base}/console/t/default/clients`);
    await page.getByPlaceholder('Search clients').fill('billing');
    await page.getByRole('link', { name: 'billing' }).click();
    await visible(page.getByRole('heading', { name: /billing/, level: 1 }));
    expect(await widths()).toBeLessThanOrEqual(390);
    await accessible(page, 'phone-client-page');
    await page.getByRole('button', { name: 'Menu' }).click();
    await nav.getByRole('link', { name: 'Keys' }).click();
    await page.getByRole('button', { name: 'Rotate', exact: true }).click();
    await message(page, 'Keys rotated');
    expect(await widths()).toBeLessThanOrEqual(390);
    await accessible(page, 'phone-keys');
    await context.close();
    expect(problems).toEqual([]);
  }, 120_000);
});
