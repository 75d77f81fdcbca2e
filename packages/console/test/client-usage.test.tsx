// @vitest-environment happy-dom
/** The client page's Usage tab: that client's APIs, counts and last use, and a token-waste notice only where it wastes. */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Api, Client, Grant, Waste } from '../src/api.js';
import { forgetNames } from '../src/names.js';
import { ApiContext, ConfirmHost, MessageRegion } from '../src/ui.js';
import { ClientPage } from '../src/views/client-page.js';
import { wasteByApi } from '../src/views/client-usage.js';
import { byText, fakeApi, waitFor } from './fake-server.js';

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

const NOW = Date.UTC(2026, 11, 4, 12);
const billing: Client = {
  clientId: 'c-billing', name: 'billing', tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null, tlsClientAuthSubjectDn: null,
  accessTokenLifetime: 3600, disabled: false, issuer: 'http://x/t/default', tokenEndpoint: 'http://x/t/default/token',
  discoveryEndpoint: 'http://x/t/default/.well-known/openid-configuration', createdAt: 1, updatedAt: 1, secrets: [], customClaims: {},
};
const api = (id: string, identifier: string, name: string): Api => ({ id, tenantId: 'default', identifier, name, scopes: [{ value: 'read' }], accessTokenLifetime: null, tokenFormat: 'jwt', introspectors: [], createdAt: 1, updatedAt: 1 });
const apis = [api('a1', 'https://orders', 'Orders'), api('a2', 'https://stock', 'Stock'), api('a3', 'https://ledger', 'Ledger')];
const grant = (id: string, audience: string): Grant => ({ id, tenantId: 'default', clientId: 'c-billing', apiId: id, audience, scopes: ['read'], customClaims: {}, createdAt: 1 });
const wasteful: Waste = {
  days: 7, threshold: 10,
  clients: [
    { clientId: 'c-billing', audience: 'https://stock', scope: 'read', tokens: 4800, tokenLifetime: 3600, expectedMax: 30, ratio: 160 },
    { clientId: 'c-billing', audience: 'https://stock', scope: 'read write', tokens: 200, tokenLifetime: 3600, expectedMax: 20, ratio: 10 },
  ],
};

function setup(waste: Waste) {
  return fakeApi({
    'GET /manage/v1/tenants/default/clients/c-billing': () => ({ status: 200, body: billing }),
    'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [billing], nextCursor: null } }),
    'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: apis, nextCursor: null } }),
    'GET /manage/v1/tenants/default/grants': () => ({ status: 200, body: { items: [grant('g1', 'https://orders'), grant('g2', 'https://stock'), grant('g3', 'https://ledger')], nextCursor: null } }),
    'GET /manage/v1/tenants/default/federations': () => ({ status: 200, body: { items: [], nextCursor: null } }),
    'GET /manage/v1/tenants/default/usage': ({ url }) => ({ status: 200, body: { granularity: 'hour', from: Number(url.searchParams.get('from')), to: Number(url.searchParams.get('to')), series: [{ start: NOW - 3_600_000, issued: 5000, refused: 3 }] } }),
    'GET /manage/v1/tenants/default/usage/top': ({ url }) => ({
      status: 200,
      body: url.searchParams.get('by') === 'api'
        ? { by: 'api', from: 0, to: NOW, rows: [{ audience: 'https://stock', name: 'Stock', issued: 5000, refused: 0, lastUsedAt: NOW - 60_000 }, { audience: 'https://orders', name: 'Orders', issued: 12, refused: 3, lastUsedAt: NOW - 7_200_000 }] }
        : { by: 'client', from: 0, to: NOW, rows: [{ clientId: 'c-billing', name: 'billing', issued: 5012, refused: 3, lastUsedAt: NOW - 60_000 }] },
    }),
    'GET /manage/v1/tenants/default/usage/waste': () => ({ status: 200, body: waste }),
  });
}
function mount(fake: ReturnType<typeof fakeApi>) {
  render(<ApiContext.Provider value={fake.api}><ClientPage tenant="default" clientId="c-billing" tab="usage" /><MessageRegion /><ConfirmHost /></ApiContext.Provider>, root);
}

describe('the client usage tab', () => {
  it('asks the server for this client only, and lists its APIs with its counts, last use and unused grants', async () => {
    const fake = setup({ days: 7, threshold: 10, clients: [] });
    mount(fake);
    const table = await waitFor(() => root.querySelector('table'));
    await waitFor(() => byText(table, 'tr', 'Ledger'));
    const rows = [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.replace(/\s+/g, ' ').trim()));
    expect(rows.map((r) => r.slice(0, 3))).toEqual([['Stock', '5,000', '0'], ['Orders', '12', '3'], ['Ledger', '0', '0']]);
    expect(rows[2]?.[4]).toBe('granted, not used');
    expect(byText(root, 'p', 'Last token')?.textContent).toContain('5,012 issued, 3 refused in the last 7 days');
    const usageCalls = fake.calls.filter((c) => c.path.includes('/usage'));
    expect(usageCalls.filter((c) => c.path.includes('/usage/top')).every((c) => c.path.includes('clientId=c-billing'))).toBe(true);
    expect(usageCalls.find((c) => c.path.includes('/usage/waste'))?.path).toContain('days=1&clientId=c-billing');
    expect(usageCalls.find((c) => c.path.startsWith('/manage/v1/tenants/default/usage?'))?.path).toContain('clientId=c-billing');
    expect(root.querySelector('.notice')).toBeNull();
    expect(root.querySelector('nav[aria-label="Client sections"] a[aria-current="page"]')?.textContent).toBe('Usage');
  });

  it('tells a client that fetches a token per call to cache them, per API, with the @tessera/client hint', async () => {
    mount(setup(wasteful));
    const notice = await waitFor(() => root.querySelector<HTMLElement>('.notice'));
    expect(notice.querySelector('h2')?.textContent).toBe('billing fetches far more tokens than it needs: cache them');
    const text = notice.textContent?.replace(/\s+/g, ' ') ?? '';
    expect(text).toContain('Stock: 5,000 tokens in the last 24 hours');
    expect(text).toContain('needs at most 50: 100× more than needed');
    expect(text).toContain('never needs more than 1 an hour');
    expect(text).toContain('@tessera/client');
    expect(text).toContain('createTokenClient');
    const stock = await waitFor(() => byText(root, 'tr', 'Stock'));
    expect(stock.textContent).toContain('100× (cache tokens)');
    expect(byText(root, 'tr', 'Orders')?.textContent).toContain('fine');
  });

  it('adds the findings of an API\'s scope sets up', () => {
    expect(wasteByApi(wasteful)).toEqual([{ audience: 'https://stock', tokens: 5000, expectedMax: 50, tokenLifetime: 3600, ratio: 100 }]);
  });
});
