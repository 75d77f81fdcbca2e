// @vitest-environment happy-dom
/** Component tests of the console's views against a fake management API. */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Client, Page, UnusedGrant } from '../src/api.js';
import { forgetNames } from '../src/names.js';
import { ApiContext, ConfirmHost, DataList, MessageRegion } from '../src/ui.js';
import { ClientsView, clientInputOf, EMPTY_CLIENT } from '../src/views/clients.js';
import { curlSnippet, sdkSnippet } from '../src/views/snippets.js';
import { TenantsView } from '../src/views/tenants.js';
import { UsageChart } from '../src/views/usage-chart.js';
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
/** Lets Preact render what the last event changed (it batches updates). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
const message = () => root.querySelector('.message-region')?.textContent ?? '';

const client = (n: number): Client => ({
  clientId: `c${n}`, name: `client-${n}`, tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null,
  tlsClientAuthSubjectDn: null, accessTokenLifetime: null, disabled: false, issuer: 'http://x/t/default', tokenEndpoint: 'http://x/t/default/token',
  discoveryEndpoint: 'http://x/t/default/.well-known/openid-configuration', createdAt: n, updatedAt: n, secrets: [], customClaims: {},
});

describe('usage chart', () => {
  const series = { granularity: 'hour', from: 0, to: 7_200_000, series: [{ start: 0, issued: 5, refused: 1 }, { start: 3_600_000, issued: 3, refused: 0 }] };
  it('draws issued and refused tokens, summarised for screen readers', async () => {
    const { api, calls } = fakeApi({ 'GET /manage/v1/tenants/default/usage': () => ({ status: 200, body: series }) });
    mount(api, <UsageChart tenant="default" clientId="c1" now={() => 7_200_000} />);
    const svg = await waitFor(() => root.querySelector('svg[role="img"]'));
    expect(svg.getAttribute('aria-label')).toContain('8 tokens issued and 1 refused');
    expect(root.querySelectorAll('rect.bar-issued')).toHaveLength(2);
    expect(calls[0]?.path).toContain('clientId=c1');
    expect(calls[0]?.path).toContain('granularity=hour');
  });

  it('shows times in the viewer\'s zone, with UTC on hover', async () => {
    const { Time } = await import('../src/ui.js');
    render(<Time at={Date.UTC(2026, 11, 3, 14, 5)} />, root);
    const time = root.querySelector('time') as HTMLElement;
    const local = new Date(Date.UTC(2026, 11, 3, 14, 5));
    expect(time.textContent).toContain(`${String(local.getHours()).padStart(2, '0')}:${String(local.getMinutes()).padStart(2, '0')}`);
    expect(time.getAttribute('title')).toBe('2026-12-03 14:05 UTC');
    expect(time.getAttribute('datetime')).toBe('2026-12-03T14:05:00.000Z');
  });

  it('has axes: counts from 0 to the tallest bar, and the times at the start, middle and end', async () => {
    const { api } = fakeApi({ 'GET /manage/v1/tenants/default/usage': () => ({ status: 200, body: series }) });
    mount(api, <UsageChart tenant="default" now={() => 7_200_000} />);
    const y = await waitFor(() => root.querySelector('.chart-y'));
    expect([...y.querySelectorAll('span')].map((s) => s.textContent)).toEqual(['6', '3', '0']);
    const x = [...(root.querySelector('.chart-x')?.querySelectorAll('span') ?? [])].map((s) => s.textContent);
    expect(x).toHaveLength(3);
    expect(x[0]).toContain('1970-01-01');
    expect(root.querySelectorAll('line.chart-grid')).toHaveLength(2);
  });

  it('says "usage data not available" when the server has no usage endpoints (404)', async () => {
    const { api } = fakeApi({});
    mount(api, <UsageChart tenant="default" />);
    await waitFor(() => byText(root, 'p', 'Usage data not available'));
    expect(root.querySelector('svg')).toBeNull();
  });
});

describe('usage view: unused scopes, dormant clients, waste', () => {
  const narrow: UnusedGrant = { grantId: 'g1', clientId: 'c1', audience: 'https://orders', grantedScopes: ['read', 'write'], usedScopes: ['read'], unusedScopes: ['write'], lastUsedAt: 1000, suggestion: { action: 'narrow', scopes: ['read'] } };
  const routes = (applied: string[]) => ({
    'GET /manage/v1/tenants/default/clients/:id': clientLookup([client(1)]),
    'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: [], nextCursor: null } }),
    'GET /manage/v1/tenants/default/usage/unused': () => ({ status: 200, body: { days: 30, grants: [narrow] } }),
    'GET /manage/v1/tenants/default/usage/dormant': () => ({ status: 200, body: { days: 30, clients: [{ clientId: 'c1', name: 'client-1', lastUsedAt: null }], secrets: [] } }),
    'GET /manage/v1/tenants/default/usage/waste': () => ({ status: 200, body: { days: 30, clients: [{ clientId: 'c1', audience: 'https://orders', scope: 'read', tokens: 900, tokenLifetime: 3600, expectedMax: 30, ratio: 30 }] } }),
    'POST /manage/v1/tenants/default/usage/unused/g1/apply': () => {
      applied.push('g1');
      return { status: 200, body: { id: 'g1' } };
    },
  });

  it('lists each finding with names, and applies a suggestion only after confirmation', async () => {
    const applied: string[] = [];
    const { api } = fakeApi(routes(applied));
    mount(api, <UsageView tenant="default" />);
    const apply = await button('Narrow to read');
    expect(byText(root, 'li', /client-1.*unused.*write/)).not.toBeNull();
    await waitFor(() => byText(root, 'td', '30.0×'));
    await waitFor(() => byText(root, 'li', /Client client-1/));
    apply.click();
    const dialog = await waitFor(() => root.querySelector('[role="alertdialog"]'));
    expect(dialog.textContent).toContain('loses the unused write');
    byText(dialog, 'button', 'Cancel')?.click();
    await waitFor(() => root.querySelector('[role="alertdialog"]') === null);
    expect(applied).toEqual([]);
    apply.click();
    const again = await waitFor(() => root.querySelector('[role="alertdialog"]'));
    byText(again, 'button', 'Narrow grant')?.click();
    await waitFor(() => applied.length === 1);
    await waitFor(() => message().includes('Grant of client-1 narrowed'));
  });

  it('lists the busiest clients and APIs of the look-back window, by name', async () => {
    const { api, calls } = fakeApi({
      ...routes([]),
      'GET /manage/v1/tenants/default/usage/top': ({ url }) => ({
        status: 200,
        body: url.searchParams.get('by') === 'client'
          ? { by: 'client', from: 0, to: 1, rows: [{ clientId: 'c1', name: 'client-1', issued: 42, refused: 3, lastUsedAt: 1000 }, { clientId: 'gone', name: null, issued: 1, refused: 0, lastUsedAt: null }] }
          : { by: 'api', from: 0, to: 1, rows: [{ audience: 'https://orders', name: 'Orders', issued: 43, refused: 3, lastUsedAt: 1000 }] },
      }),
    });
    mount(api, <UsageView tenant="default" />);
    const busiest = await waitFor(() => byText(root, 'table', 'busiest first'));
    expect(busiest.textContent).toContain('client-1');
    expect(byText(root, 'tr', /client-1\s*423/)).not.toBeNull();
    expect(root.textContent).toContain('gone (deleted)');
    expect(byText(root, 'caption', 'APIs, busiest first')).not.toBeNull();
    expect(calls.find((c) => c.path.includes('/usage/top?by=client'))?.path).toMatch(/from=\d+&limit=10/);
  });

  it('each section says so when its endpoint is missing', async () => {
    const { api } = fakeApi({ 'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [], nextCursor: null } }), 'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: [], nextCursor: null } }) });
    mount(api, <UsageView tenant="default" />);
    await waitFor(() => root.querySelectorAll('p.muted').length >= 5 && [...root.querySelectorAll('p')].filter((p) => p.textContent?.includes('Usage data not available')).length === 5);
  });
});

describe('lists', () => {
  it('follow nextCursor, search and sort what is loaded', async () => {
    const pages: Record<string, Page<Client>> = { '': { items: [client(3), client(1)], nextCursor: 'p2' }, p2: { items: [client(2)], nextCursor: null } };
    const asked: (string | null)[] = [];
    render(
      <DataList<Client>
        label="Clients" deps={[]} empty="none"
        load={async (cursor) => { asked.push(cursor); return pages[cursor ?? ''] as Page<Client>; }}
        search={(c) => c.name} rowKey={(c) => c.clientId}
        columns={[{ label: 'Name', sort: (c) => c.name, render: (c) => c.name }]}
      />,
      root,
    );
    await waitFor(() => root.querySelectorAll('tbody tr').length === 2);
    expect([...root.querySelectorAll('tbody td')].map((td) => td.textContent)).toEqual(['client-1', 'client-3']);
    (await button('Load more')).click();
    await waitFor(() => root.querySelectorAll('tbody tr').length === 3);
    expect(asked).toEqual([null, 'p2']);
    expect(byText(root, 'button', 'Load more')).toBeNull();
    byText(root, 'th button', 'Name')?.click();
    await waitFor(() => root.querySelector('tbody td')?.textContent === 'client-3');
    expect(root.querySelector('th')?.getAttribute('aria-sort')).toBe('descending');
    type(root.querySelector('input[type="search"]') as HTMLInputElement, 'client-2');
    await waitFor(() => root.querySelectorAll('tbody tr').length === 1);
  });
});

describe('a search', () => {
  it('covers every page, not only the loaded one', async () => {
    const pages: Record<string, Page<Client>> = { '': { items: [client(1)], nextCursor: 'p2' }, p2: { items: [client(2)], nextCursor: 'p3' }, p3: { items: [client(3)], nextCursor: null } };
    render(
      <DataList<Client> label="Clients" deps={[]} empty="none" load={async (cursor) => pages[cursor ?? ''] as Page<Client>}
        search={(c) => c.name} rowKey={(c) => c.clientId} columns={[{ label: 'Name', render: (c) => c.name }]} />,
      root,
    );
    await waitFor(() => root.querySelectorAll('tbody tr').length === 1);
    type(root.querySelector('input[type="search"]') as HTMLInputElement, 'client-3');
    await waitFor(() => root.querySelector('tbody td')?.textContent === 'client-3');
    expect(byText(root, 'button', 'Load more')).toBeNull();
  });
});

describe('clients view', () => {
  it('shows a missing name next to the field, and creates one client however often the button is clicked', async () => {
    let created = 0;
    let release: () => void = () => {};
    const { api } = fakeApi({
      'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [], nextCursor: null } }),
      'POST /manage/v1/tenants/default/clients': async () => {
        created += 1;
        await new Promise<void>((resolve) => { release = resolve; });
        return { status: 201, body: { ...client(9), name: 'billing', clientSecret: 's3cret' } };
      },
    });
    mount(api, <ClientsView tenant="default" />);
    const submit = await button('Create client');
    submit.click();
    const error = await waitFor(() => root.querySelector('.field-error'));
    expect(error.textContent).toContain('a name is required');
    const name = root.querySelector('input[name="name"]') as HTMLInputElement;
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(name.getAttribute('aria-describedby')).toContain(error.id);
    type(name, 'billing');
    await settle();
    submit.click();
    submit.click();
    root.querySelector('form')?.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    await waitFor(() => created === 1);
    release();
    await waitFor(() => byText(root, 'p', 'shown only once'));
    expect(created).toBe(1);
    expect(root.textContent).toContain('s3cret');
  });

  it('puts a server-side rule violation next to its field', async () => {
    const { api } = fakeApi({
      'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [], nextCursor: null } }),
      'POST /manage/v1/tenants/default/clients': () => ({ status: 422, body: { error: 'validation_failed', message: 'tlsClientAuthSubjectDn must be a distinguished name such as CN=orders' } }),
    });
    mount(api, <ClientsView tenant="default" />);
    await button('Create client');
    type(root.querySelector('input[name="name"]') as HTMLInputElement, 'mtls');
    await settle();
    const method = root.querySelector('select[name="tokenEndpointAuthMethod"]') as HTMLSelectElement;
    method.value = 'tls_client_auth';
    method.dispatchEvent(new Event('change', { bubbles: true }));
    const dn = await waitFor(() => root.querySelector<HTMLInputElement>('input[name="tlsClientAuthSubjectDn"]'));
    type(dn, 'nonsense');
    await settle();
    (await button('Create client')).click();
    await waitFor(() => root.querySelector('input[name="tlsClientAuthSubjectDn"]')?.getAttribute('aria-invalid') === 'true');
    expect(root.querySelector('.field-error')?.textContent).toContain('distinguished name');
  });
});

describe('tenants view', () => {
  it('deletes a tenant only after its id is typed', async () => {
    const deleted: string[] = [];
    const tenant = { id: 'staging', name: 'Staging', signingAlg: 'ES256', accessTokenLifetime: null, issuer: 'http://x/t/staging', createdAt: 1 };
    const { api } = fakeApi({
      'GET /manage/v1/tenants': () => ({ status: 200, body: { items: [tenant], nextCursor: null } }),
      'DELETE /manage/v1/tenants/staging': () => {
        deleted.push('staging');
        return { status: 204 };
      },
    });
    mount(api, <TenantsView onChange={() => {}} />);
    (await button('Delete')).click();
    const dialog = await waitFor(() => root.querySelector('[role="alertdialog"]'));
    expect(dialog.textContent).toContain('Every client, API, grant');
    const confirm = byText(dialog, 'button', 'Delete tenant') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    type(dialog.querySelector('input') as HTMLInputElement, 'stagin');
    expect(confirm.disabled).toBe(true);
    type(dialog.querySelector('input') as HTMLInputElement, 'staging');
    await waitFor(() => !confirm.disabled);
    confirm.click();
    await waitFor(() => deleted.length === 1);
  });
});

describe('client forms and snippets', () => {
  it('build the body of every authentication method', () => {
    expect(clientInputOf({ ...EMPTY_CLIENT, name: 'a' })).toEqual({ input: { name: 'a', tokenEndpointAuthMethod: 'client_secret_basic', accessTokenLifetime: null, tokenQuotaPerMinute: null, dpopBoundAccessTokens: false, txnTokenService: false, customClaims: null } });
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: 'abc' };
    expect(clientInputOf({ ...EMPTY_CLIENT, name: 'a', method: 'private_key_jwt', jwks: JSON.stringify(jwk) })).toMatchObject({ input: { jwks: { keys: [jwk] } } });
    expect(clientInputOf({ ...EMPTY_CLIENT, name: 'a', method: 'self_signed_tls_client_auth', keySource: 'jwksUri', jwksUri: 'https://k' })).toMatchObject({ input: { jwksUri: 'https://k' } });
    expect(clientInputOf({ ...EMPTY_CLIENT, name: 'a', method: 'tls_client_auth', subjectDn: 'CN=a' })).toMatchObject({ input: { tlsClientAuthSubjectDn: 'CN=a' } });
    expect(clientInputOf({ ...EMPTY_CLIENT, name: 'a', method: 'tls_client_auth' })).toMatchObject({ field: 'tlsClientAuthSubjectDn' });
    expect(clientInputOf({ ...EMPTY_CLIENT, name: 'a', method: 'private_key_jwt', jwks: '{nope' })).toMatchObject({ field: 'jwks' });
    expect(clientInputOf({ ...EMPTY_CLIENT, name: ' ' })).toMatchObject({ field: 'name' });
  });

  it('snippets name the client, its audience and scopes, and the right SDK helper', () => {
    const target = { clientId: 'abc', method: 'client_secret_basic' as const, tokenEndpoint: 'http://x/t/d/token', issuer: 'http://x/t/d', audience: "https://o'rders", scopes: ['read', 'write'] };
    const curl = curlSnippet(target);
    expect(curl).toContain("-u 'abc':\"$CLIENT_SECRET\"");
    expect(curl).toContain("audience='https://o'\\''rders'");
    expect(curl).toContain("scope='read write'");
    expect(sdkSnippet(target)).toContain('clientSecretBasic(process.env.CLIENT_SECRET)');
    expect(sdkSnippet({ ...target, method: 'private_key_jwt' })).toContain('privateKeyJwt(');
    expect(curlSnippet({ ...target, method: 'tls_client_auth' })).toContain('--cert client.crt');
    expect(sdkSnippet({ ...target, method: 'self_signed_tls_client_auth' })).toContain('selfSignedTlsClientAuth(');
  });
});
