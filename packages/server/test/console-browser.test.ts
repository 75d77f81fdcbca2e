/**
 * The console in a real browser: Debian's chromium driven by playwright-core (never a
 * browser download). Skipped, visibly, where /usr/bin/chromium is not installed.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from './helpers/app.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);

describe.skipIf(!available)(`console in headless Chromium${available ? '' : ' (skipped: /usr/bin/chromium is not installed; apt-get install chromium)'}`, () => {
  let t: TestServer;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    t = await createTestServer({ startAt: Date.now() });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('signs in, creates an API, a client (secret shown once) and a grant, then reads the audit log', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/console/`);
    await page.fill('input[name=password]', 'wrong');
    await page.click('#login button[type=submit]');
    await expect.poll(() => page.textContent('#flash')).toContain('wrong user or password');

    await page.fill('input[name=password]', t.console.password);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#nav:not([hidden])');

    await page.click('button[data-view=apis]');
    await page.fill('#view input[name=identifier]', 'https://orders.example');
    await page.fill('#view input[name=scopes]', 'orders:read orders:write');
    await page.click('#view form button[type=submit]');
    await expect.poll(() => page.textContent('#view')).toContain('https://orders.example');

    await page.click('button[data-view=clients]');
    await page.fill('#view input[name=name]', 'billing <script>alert(1)</script>');
    await page.click('#view form button[type=submit]');
    const secret = await page.waitForSelector('[data-secret]');
    expect(await secret.textContent()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await page.textContent('#view')).toContain('billing <script>alert(1)</script>');

    await page.click('button[data-view=grants]');
    await page.fill('#view input[name=scopes]', 'orders:read');
    await page.click('#view form button[type=submit]');
    await expect.poll(() => page.textContent('#view')).toContain('orders:read');

    await page.click('button[data-view=audit]');
    await expect.poll(() => page.textContent('#view')).toContain('grant.create');
    expect(await page.textContent('#view')).toContain('console:admin');
    expect(errors).toEqual([]);
  }, 60_000);
});
