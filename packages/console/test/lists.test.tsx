// @vitest-environment happy-dom
/**
 * Lists that scale: the server searches, sorts and pages (docs/management-api.md), the
 * console asks it to and shows one page; usage findings narrowed in bulk, in place.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Client, UnusedGrant } from '../src/api.js';
import { forgetNames } from '../src/names.js';
import { SEARCH_DELAY_MS } from '../src/server-list.js';
import { ApiContext, ConfirmHost, MessageRegion } from '../src/ui.js';
import { ClientsView } from '../src/views/clients.js';
import { UsageView } from '../src/views/usage.js';
import { byText, fakeApi, type, waitFor, clientLookup } from './fake-server.js';

let root: HTMLElement;
beforeEach(() => {
  root = document.createElement('div');
  document.body.append(root);
  forgetNames();
});
afterEach(() => {
  render(null, root);
  root.remove();
});

function mount(api: ReturnType<typeof fakeApi>['api'], view: preact.ComponentChildren) {
  render(<ApiContext.Provider value={api}>{view}<MessageRegion /><ConfirmHost /></ApiContext.Provider>, root);
}
const button = (name: string | RegExp) => waitFor(() => byText(root, 'button', name));
const client = (n: number, lastUsedAt: number | null = null): Client & { lastUsedAt: number | null } => ({
  clientId: `c${n}`, name: `client-${n}`, tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null,
  tlsClientAuthSubjectDn: null, accessTokenLifetime: null, disabled: false, issuer: 'http://x/t/default', tokenEndpoint: 'http://x/t/default/token',
  discoveryEndpoint: 'http://x/t/default/.well-known/openid-configuration', createdAt: n, updatedAt: n, secrets: [], customClaims: {}, lastUsedAt,
});

describe('the client list', () => {
  it('asks the server to search (after typing pauses), sort by a header and page with its cursors; shows last use', async () => {
    const { api, calls } = fakeApi({
      'GET /manage/v1/tenants/default/clients': ({ url }) => {
        const cursor = url.searchParams.get('cursor');
        return { status: 200, body: cursor === null ? { items: [client(1, Date.UTC(2026, 0, 2)), client(2)], nextCursor: 'page-2' } : { items: [client(3)], nextCursor: null } };
      },
    });
    mount(api, <ClientsView tenant="default" />);
    await waitFor(() => byText(root, 'a', 'client-1'));
    expect(calls.at(-1)?.path).toBe('/manage/v1/tenants/default/clients?sort=createdAt&order=desc&limit=50');
    expect(byText(root, 'td', /2026-01-0[12]/)).not.toBeNull();
    expect(byText(root, 'td', 'never')).not.toBeNull();

    (await button('Next page')).click();
    await waitFor(() => byText(root, 'a', 'client-3'));
    expect(calls.at(-1)?.path).toContain('cursor=page-2');
    (await button('Previous page')).click();
    await waitFor(() => byText(root, 'a', 'client-1'));

    (await button('Last used')).click();
    await waitFor(() => calls.at(-1)?.path.includes('sort=lastUsedAt&order=desc'));
    await waitFor(() => root.querySelector('th[aria-sort="descending"]')?.textContent?.includes('Last used'));
    (await button('Last used')).click();
    await waitFor(() => calls.at(-1)?.path.includes('sort=lastUsedAt&order=asc'));

    const before = calls.length;
    type(root.querySelector('input[type="search"]') as HTMLInputElement, 'bil');
    type(root.querySelector('input[type="search"]') as HTMLInputElement, 'billing');
    await new Promise((resolve) => setTimeout(resolve, SEARCH_DELAY_MS + 100));
    const searches = calls.slice(before).filter((c) => c.path.includes('q='));
    expect(searches.map((c) => new URL(c.path, 'http://x').searchParams.get('q'))).toEqual(['billing']);
    // A new search starts again at the first page: no cursor of the old sort goes along.
    expect(searches[0]?.path).not.toContain('cursor=');

    const dormant = root.querySelector('select[name="dormant"]') as HTMLSelectElement;
    dormant.value = '30';
    dormant.dispatchEvent(new Event('change', { bubbles: true }));
    await waitFor(() => calls.at(-1)?.path.includes('dormantDays=30'));
  });
  it('says Loading, not the next page\'s range over the old rows, until the next page arrives', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const { api } = fakeApi({
      'GET /manage/v1/tenants/default/clients': async ({ url }) => {
        if (url.searchParams.get('cursor') === null) return { status: 200, body: { items: [client(1), client(2)], nextCursor: 'page-2' } };
        await held;
        return { status: 200, body: { items: [client(3)], nextCursor: null } };
      },
    });
    mount(api, <ClientsView tenant="default" />);
    const status = () => root.querySelector('.toolbar [aria-live]')?.textContent;
    await waitFor(() => status() === '1–2 shown, more on the next pages');
    // Every text the status takes, frame by frame: none may put page 2's range over page 1's rows.
    const seen: string[] = [];
    const watcher = new MutationObserver(() => seen.push(status() ?? ''));
    watcher.observe(root, { subtree: true, childList: true, characterData: true });
    (await button('Next page')).click();
    await waitFor(() => status() === 'Loading…');
    expect(root.querySelector('table')?.getAttribute('aria-busy')).toBe('true');
    release();
    await waitFor(() => status() === '51–51 shown');
    watcher.disconnect();
    expect(byText(root, 'a', 'client-3')).not.toBeNull();
    expect(new Set(seen)).toEqual(new Set(['Loading…', '51–51 shown']));
  });
});

describe('usage: narrow all shown', () => {
  const finding = (n: number, action: 'narrow' | 'revoke' = 'narrow'): UnusedGrant => ({
    grantId: `g${n}`, clientId: `c${n}`, audience: 'https://orders', grantedScopes: ['read', 'write', 'admin'], usedScopes: action === 'narrow' ? ['read'] : [], unusedScopes: action === 'narrow' ? ['write', 'admin'] : ['read', 'write', 'admin'], lastUsedAt: action === 'narrow' ? 1 : null,
    suggestion: action === 'narrow' ? { action: 'narrow', scopes: ['read'] } : { action: 'revoke' },
  });

  it('lists every grant it changes with the scopes lost, then PATCHes each in place and reports each row', async () => {
    const patched: { path: string; body: unknown }[] = [];
    const { api, calls } = fakeApi({
      'GET /manage/v1/tenants/default/clients/:id': clientLookup([client(1), client(2), client(3)]),
      'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: [], nextCursor: null } }),
      'GET /manage/v1/tenants/default/usage/unused': ({ url }) => ({ status: 200, body: { days: 30, grants: url.searchParams.get('cursor') === null ? [finding(1), finding(2), finding(3, 'revoke')] : [], nextCursor: url.searchParams.get('cursor') === null ? 'more' : null } }),
      'GET /manage/v1/tenants/default/usage/dormant': () => ({ status: 200, body: { days: 30, clients: [], secrets: [] } }),
      'GET /manage/v1/tenants/default/usage/waste': () => ({ status: 200, body: { days: 30, threshold: 10, clients: [] } }),
      'PATCH /manage/v1/tenants/default/grants/g1': ({ url, body }) => {
        patched.push({ path: url.pathname, body });
        return { status: 200, body: { id: 'g1' } };
      },
      'PATCH /manage/v1/tenants/default/grants/g2': () => ({ status: 409, body: { error: 'conflict', message: 'the last grant of manage:write cannot lose it' } }),
    });
    mount(api, <UsageView tenant="default" />);
    await waitFor(() => calls.some((c) => c.path.includes('/usage/unused?days=30&limit=20')));
    (await button('Narrow all shown (2)')).click();
    const dialog = await waitFor(() => root.querySelector<HTMLElement>('[role="alertdialog"]'));
    expect(dialog.textContent).toContain('Narrow 2 grants?');
    expect(dialog.textContent).toMatch(/client-1 on https:\/\/orders: loses write ?admin, keeps read/);
    expect(dialog.textContent).toMatch(/client-2 on https:\/\/orders: loses write ?admin, keeps read/);
    expect(dialog.textContent).not.toContain('client-3');
    byText(dialog, 'button', 'Narrow 2 grants')?.click();
    const results = await waitFor(() => root.querySelector<HTMLElement>('.results'));
    expect(results.textContent).toContain('Narrowed 1 of 2 grants');
    expect(results.textContent).toMatch(/client-1 on https:\/\/orders:\s*narrowed to read/);
    expect(results.textContent).toContain('client-2 on https://orders: not changed: the last grant of manage:write cannot lose it');
    expect(patched).toEqual([{ path: '/manage/v1/tenants/default/grants/g1', body: { scopes: ['read'] } }]);
    expect(calls.filter((c) => c.method === 'DELETE' || c.method === 'POST')).toEqual([]);

    (await button('Next page')).click();
    await waitFor(() => calls.some((c) => c.path.includes('cursor=more')));
  });
});
