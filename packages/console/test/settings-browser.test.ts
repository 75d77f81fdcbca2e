/**
 * The federation editor, the API's introspection settings and a client's Usage tab in a
 * real browser (Debian's chromium through playwright-core, never a download), at
 * 1440x900 (light) and 390x844 (dark): what a person sees, axe-core clean, no sideways
 * scrolling on a phone, and what the server recorded (the federation and its audit).
 * Screenshots go to test-artifacts/console/. Skipped, visibly, without /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { available, axeViolations, launchChromium, SKIPPED, watchProblems } from './browser.js';
import { basic, createTestServer, type TestServer } from '../../server/test/helpers/app.js';

const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/console/', import.meta.url));

type Federation = { id: string; name: string; kind: string; rules: unknown[]; exchangeRules: { audience: string; clients: string[] }[]; claimMappings: Record<string, string>; replayProtection: { mode: string; maxAgeSeconds?: number } };
type AuditEntry = { actor: string; action: string; targetId: string; details: Record<string, unknown> };

async function visible(locator: Locator, timeout = 10_000): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout });
  expect(await locator.first().isVisible()).toBe(true);
}

async function accessible(page: Page, name: string): Promise<void> {
  const violations = await axeViolations(page);
  expect(violations, `axe on ${name}`).toEqual([]);
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
}

describe.skipIf(!available)(`federation editor, introspection and client usage in headless Chromium${SKIPPED}`, () => {
  let t: TestServer;
  let browser: Browser;
  let base: string;
  let billingId: string;
  let billingSecret: string;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    t = await createTestServer({ startAt: Date.now() });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    const billing = await t.setupClient('default', { apiIdentifier: 'https://orders.example', scopes: ['orders:read'], client: { name: 'billing' } });
    billingId = billing.clientId;
    billingSecret = billing.clientSecret;
    // Tokens valid for an hour: 30 in a minute is 15 times the 2 a caching client needs (docs/usage.md).
    expect((await t.manage('PATCH', `/tenants/default/apis/${billing.apiId}`, { accessTokenLifetime: 3600 })).status).toBe(200);
    for (const name of ['deploy', 'portal', 'gateway']) expect((await t.manage('POST', '/tenants/default/clients', { name })).status).toBe(201);
    expect((await t.manage('POST', '/tenants/default/apis', { identifier: 'https://ledger.example', name: 'Ledger', scopes: [{ value: 'ledger:read' }] })).status).toBe(201);
    expect((await t.manage('POST', '/tenants/default/grants', { clientId: billingId, audience: 'https://ledger.example', scopes: ['ledger:read'] })).status).toBe(201);
    // billing asks for a token per call: 30 within a minute, each valid for an hour.
    for (let i = 0; i < 30; i++) {
      const res = await t.post('default', 'token', { grant_type: 'client_credentials', resource: 'https://orders.example' }, basic(billing.clientId, billing.clientSecret));
      expect(res.statusCode).toBe(200);
    }
    await t.app.tessera.usage.recorder!.flush();
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  async function signedIn(size: { width: number; height: number }, dark: boolean, path: string): Promise<Page> {
    const context = await browser.newContext({ viewport: size, colorScheme: dark ? 'dark' : 'light', ...(size.width < 500 ? { isMobile: true, hasTouch: true } : {}) });
    const page = await context.newPage();
    watchProblems(page, problems);
    await page.goto(`${base}/console${path}`);
    await page.getByLabel('Password', { exact: true }).fill(t.console.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Password', { exact: true }).waitFor({ state: 'hidden' });
    return page;
  }
  const noSidewaysScroll = async (page: Page, width: number) => expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
  const federationNamed = async (name: string) => ((await t.manage('GET', '/tenants/default/federations')).body.items as Federation[]).find((f) => f.name === name);

  for (const [label, size, dark] of [['desktop', { width: 1440, height: 900 }, false], ['phone', { width: 390, height: 844 }, true]] as const) {
    it(`${label} (${size.width}x${size.height}): creates and edits federations of both kinds; the server and its audit agree`, async () => {
      const page = await signedIn(size, dark, '/t/default/federations');
      const ci = `ci-${label}`;
      const editor = page.getByRole('form', { name: 'New federation' });
      await visible(editor);

      // A workload federation with claim conditions, a mapping and replay protection.
      await editor.getByLabel('Name', { exact: true }).fill(ci);
      await editor.getByLabel('Issuer', { exact: true }).fill('https://token.actions.githubusercontent.com');
      await editor.getByRole('textbox', { name: 'JWK Set URL' }).fill('https://token.actions.githubusercontent.com/.well-known/jwks');
      await editor.getByLabel('Subject 1').fill('repo:acme/billing:*');
      await editor.getByLabel('Client 1').selectOption({ label: 'billing' });
      await editor.getByRole('button', { name: 'Add claim condition to rule 1' }).click();
      await editor.getByLabel('Claim 1', { exact: true }).fill('ref');
      await editor.getByLabel('Value 1', { exact: true }).fill('refs/heads/main');
      await editor.getByRole('button', { name: 'Add rule' }).click();
      await editor.getByLabel('Subject 2').fill('repo:acme/deploy:*');
      await editor.getByLabel('Client 2').selectOption({ label: 'deploy' });
      await editor.getByRole('button', { name: 'Add claim mapping' }).click();
      await editor.getByLabel('Claim in issued tokens 1').fill('repository');
      await editor.getByLabel('External claim 1').fill('repository');
      await editor.getByLabel('Replay protection').selectOption('max-age');
      await editor.getByLabel('Maximum age (seconds)').fill('ten minutes');
      await editor.getByRole('button', { name: 'Create federation' }).click();
      await visible(editor.locator('.field-error', { hasText: 'whole number of seconds from 1 to 86400; "ten minutes" is not' }));
      expect(await federationNamed(ci)).toBeUndefined();
      await editor.getByLabel('Maximum age (seconds)').fill('300');
      await editor.getByRole('button', { name: 'Create federation' }).click();
      await visible(page.locator('.message', { hasText: `Federation ${ci} created` }));
      const created = await federationNamed(ci);
      expect(created).toMatchObject({ kind: 'workload', claimMappings: { repository: 'repository' }, replayProtection: { mode: 'max-age', maxAgeSeconds: 300 } });
      expect(created?.rules).toEqual([
        { subject: 'repo:acme/billing:*', claims: { ref: 'refs/heads/main' }, clientId: billingId },
        { subject: 'repo:acme/deploy:*', clientId: expect.any(String) },
      ]);

      // A token-exchange federation: keys by discovery, an exchange rule with its clients.
      const staff = `staff-${label}`;
      await editor.getByLabel('Name', { exact: true }).fill(staff);
      await editor.getByLabel('Issuer', { exact: true }).fill('https://login.example.com');
      await editor.getByLabel(/Token exchange: users/).check();
      await editor.getByLabel(/Discovery \(the issuer/).check();
      await editor.getByLabel('Audience 1').fill('portal-app');
      const clients = editor.getByRole('group', { name: 'Clients of exchange rule 1' });
      await clients.getByLabel('Add a client').selectOption({ label: 'portal' });
      await clients.getByLabel('Add a client').selectOption({ label: 'gateway' });
      await editor.getByRole('button', { name: 'Create federation' }).click();
      await visible(page.locator('.message', { hasText: `Federation ${staff} created` }));
      const row = page.locator('tr').filter({ hasText: staff });
      await visible(row);
      expect(await row.textContent()).toMatch(/Token exchange \(RFC 8693\).*portal-app.*portal, gateway/);
      expect((await federationNamed(staff))?.exchangeRules).toEqual([{ audience: 'portal-app', clients: [expect.any(String), expect.any(String)] }]);
      await noSidewaysScroll(page, size.width);
      await accessible(page, `${label}-federation-editor`);

      // Editing: removing a rule names what is lost; the server keeps the same id.
      await page.getByRole('button', { name: `Edit federation ${ci}` }).click();
      const edit = page.getByRole('form', { name: `Edit ${ci}` });
      await visible(edit);
      await edit.getByRole('button', { name: 'Remove rule 2' }).click();
      await edit.getByRole('button', { name: 'Save federation' }).click();
      const confirm = page.getByRole('alertdialog');
      await visible(confirm);
      expect(await confirm.textContent()).toContain('those workloads can no longer act as deploy');
      await noSidewaysScroll(page, size.width);
      await accessible(page, `${label}-federation-confirm`);
      await confirm.getByRole('button', { name: 'Save and lose this access' }).click();
      await visible(page.locator('.message', { hasText: `Federation ${ci} saved` }));
      const saved = await federationNamed(ci);
      expect(saved?.id).toBe(created?.id);
      expect(saved?.rules).toHaveLength(1);

      const audit = (await t.manage('GET', `/tenants/default/audit?targetId=${created?.id}`)).body.items as AuditEntry[];
      expect(audit.map((e) => e.action).sort()).toEqual(['federation.create', 'federation.update']);
      expect(audit.every((e) => e.actor === `console:${t.console.user}`)).toBe(true);
      expect(audit.find((e) => e.action === 'federation.update')?.details).toMatchObject({ rules: 1, replayProtection: 'max-age' });
      await page.context().close();
    }, 120_000);

    it(`${label} (${size.width}x${size.height}): a client's Usage tab tells a client fetching a token per call to cache them`, async () => {
      const page = await signedIn(size, dark, `/t/default/clients/${billingId}/usage`);
      await visible(page.getByRole('heading', { name: 'billing fetches far more tokens than it needs: cache them' }));
      const notice = page.locator('.notice');
      expect(await notice.textContent()).toMatch(/30 tokens in the last 24 hours.*needs at most 2: 15× more than needed/s);
      expect(await notice.textContent()).toContain('@tessera/client');
      await visible(page.getByRole('img', { name: /30 tokens issued and 0 refused/ }));
      const orders = page.locator('tr').filter({ hasText: '15× (cache tokens)' });
      await visible(orders);
      expect(await orders.textContent()).toMatch(/orders/i);
      await visible(page.locator('tr').filter({ hasText: 'Ledger' }).filter({ hasText: 'granted, not used' }));
      await noSidewaysScroll(page, size.width);
      await accessible(page, `${label}-client-usage`);

      // The introspection settings on the API page, where the tokens are checked.
      await page.goto(`${base}/console/t/default/apis`);
      await page.getByRole('link', { name: 'Ledger' }).click();
      const section = page.locator('section[aria-labelledby="introspection"]');
      await visible(section);
      await section.getByLabel('Add a client').selectOption({ label: 'gateway' });
      await section.getByRole('button', { name: 'Save token format and introspectors' }).click();
      await visible(page.locator('.message', { hasText: 'Ledger: token format and introspectors saved' }));
      await noSidewaysScroll(page, size.width);
      await accessible(page, `${label}-api-introspection`);
      const ledger = ((await t.manage('GET', '/tenants/default/apis?limit=200')).body.items as { identifier: string; introspectors: string[] }[]).find((a) => a.identifier === 'https://ledger.example');
      expect(ledger?.introspectors).toHaveLength(1);
      // Taken away again (the next size adds it back), confirmed by name.
      await section.getByRole('button', { name: 'Remove gateway from introspectors' }).click();
      await section.getByRole('button', { name: 'Save token format and introspectors' }).click();
      const confirm = page.getByRole('alertdialog');
      expect(await confirm.textContent()).toContain('gateway can no longer introspect Ledger');
      await confirm.getByRole('button', { name: 'Save and lose this access' }).click();
      await visible(page.locator('.message', { hasText: 'Ledger: token format and introspectors saved' }));
      await page.context().close();
    }, 120_000);
  }

  it("desktop: a grant's custom claims are set on the client page, audited as grant.update and carried by the next token", async () => {
    const page = await signedIn({ width: 1440, height: 900 }, false, `/t/default/clients/${billingId}`);
    const grants = page.locator('section[aria-labelledby="grants"]');
    await grants.getByRole('button', { name: 'Edit custom claims of billing on Ledger' }).click();
    const field = grants.getByLabel('Custom claims of billing on Ledger (JSON)');
    // A registered name is refused at the field, before anything is sent.
    await field.fill('{"sub": "someone-else"}');
    await grants.getByRole('button', { name: 'Save claims' }).click();
    await visible(grants.locator('.field-error', { hasText: '"sub" is a registered claim that Tessera sets itself' }));
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    await accessible(page, 'desktop-grant-claims-error');
    await field.fill('{"tier": "gold", "region": "eu"}');
    await grants.getByRole('button', { name: 'Save claims' }).click();
    await visible(page.locator('.message', { hasText: 'billing on Ledger: custom claims saved' }));
    await visible(grants.getByRole('definition').filter({ hasText: '"gold"' }));
    await accessible(page, 'desktop-grant-claims');

    const ledgerGrants = (await t.manage('GET', `/tenants/default/grants?clientId=${billingId}&audience=${encodeURIComponent('https://ledger.example')}`)).body.items as { id: string; scopes: string[]; customClaims: Record<string, unknown> }[];
    expect(ledgerGrants).toHaveLength(1);
    expect(ledgerGrants[0]?.customClaims).toEqual({ tier: 'gold', region: 'eu' });
    expect(ledgerGrants[0]?.scopes).toEqual(['ledger:read']);
    const updates = (await t.manage('GET', '/tenants/default/audit?action=grant.update')).body.items as AuditEntry[];
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ actor: `console:${t.console.user}`, targetId: ledgerGrants[0]?.id, details: { customClaims: ['tier', 'region'] } });
    expect(updates[0]?.details).not.toHaveProperty('scopes');

    // The console's audit page lists it too.
    await page.goto(`${base}/console/t/default/audit?action=grant.update`);
    const audit = page.locator('section[aria-labelledby="audit-entries"]');
    await visible(audit.getByRole('cell', { name: 'grant.update' }));
    expect(await audit.locator('tbody tr').first().textContent()).toContain('"customClaims":["tier","region"]');

    const res = await t.post('default', 'token', { grant_type: 'client_credentials', resource: 'https://ledger.example' }, basic(billingId, billingSecret));
    expect(res.statusCode).toBe(200);
    const payload = JSON.parse(Buffer.from((res.json() as { access_token: string }).access_token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(payload).toMatchObject({ tier: 'gold', region: 'eu' });
    await page.context().close();
  }, 120_000);

  it('saw no page errors', () => {
    expect(problems).toEqual([]);
  });
});
