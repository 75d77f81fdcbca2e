// @vitest-environment happy-dom
/**
 * Regression tests: every action does what its confirmation says, and nothing is lost
 * by surprise (a suggestion applied over another window, a grant re-created, a secret
 * dropped silently, a wrong value read as "the default" or cut short, a day left out).
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Api, Client, Grant, UnusedGrant } from '../src/api.js';
import { forgetNames } from '../src/names.js';
import { ApiContext, ConfirmHost, MessageRegion } from '../src/ui.js';
import { fieldMessage, parseScopes } from '../src/validation.js';
import { ApisView, MachineClients } from '../src/views/apis.js';
import { filterOf } from '../src/views/audit.js';
import { ClientPage } from '../src/views/client-page.js';
import { TenantSettingsView, TenantsView } from '../src/views/tenants.js';
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
const button = (name: string | RegExp, within: ParentNode = root) => waitFor(() => byText(within, 'button', name));
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
const dialog = () => waitFor(() => root.querySelector<HTMLElement>('[role="alertdialog"]'));
const empty = { status: 200, body: { items: [], nextCursor: null } };

const client = (n: number, extra: Partial<Client> = {}): Client => ({
  clientId: `c${n}`, name: `client-${n}`, tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null,
  tlsClientAuthSubjectDn: null, accessTokenLifetime: null, disabled: false, issuer: 'http://x/t/default', tokenEndpoint: 'http://x/t/default/token',
  discoveryEndpoint: 'http://x/t/default/.well-known/openid-configuration', createdAt: n, updatedAt: n, secrets: [], customClaims: {}, ...extra,
});
const orders: Api = { id: 'a1', tenantId: 'default', identifier: 'https://orders', name: 'Orders', scopes: [{ value: 'read' }, { value: 'write' }], accessTokenLifetime: null, tokenFormat: 'jwt', introspectors: [], createdAt: 1, updatedAt: 1 };

describe('apply a usage suggestion', () => {
  it('sends the look-back window the page shows (90 days), not the server default', async () => {
    const finding: UnusedGrant = { grantId: 'g1', clientId: 'c1', audience: 'https://orders', grantedScopes: ['read', 'write'], usedScopes: ['read'], unusedScopes: ['write'], lastUsedAt: 1, suggestion: { action: 'narrow', scopes: ['read'] } };
    const { api, calls } = fakeApi({
      'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [client(1)], nextCursor: null } }),
      'GET /manage/v1/tenants/default/apis': () => empty,
      'GET /manage/v1/tenants/default/usage/unused': ({ url }) => ({ status: 200, body: { days: Number(url.searchParams.get('days')), grants: [finding] } }),
      'GET /manage/v1/tenants/default/usage/dormant': ({ url }) => ({ status: 200, body: { days: Number(url.searchParams.get('days')), clients: [], secrets: [] } }),
      'GET /manage/v1/tenants/default/usage/waste': ({ url }) => ({ status: 200, body: { days: Number(url.searchParams.get('days')), threshold: 10, clients: [] } }),
      'POST /manage/v1/tenants/default/usage/unused/g1/apply': () => ({ status: 200, body: { id: 'g1' } }),
    });
    mount(api, <UsageView tenant="default" />);
    await button('Narrow to read');
    const select = [...root.querySelectorAll<HTMLSelectElement>('select')].find((el) => el.closest('label')?.textContent?.includes('Look back')) as HTMLSelectElement;
    select.value = '90';
    select.dispatchEvent(new Event('change', { bubbles: true }));
    await waitFor(() => calls.some((c) => c.path.includes('/usage/unused?days=90')));
    await settle();
    (await button('Narrow to read')).click();
    byText(await dialog(), 'button', 'Narrow grant')?.click();
    await waitFor(() => calls.some((c) => c.method === 'POST'));
    expect(calls.find((c) => c.method === 'POST')).toMatchObject({ path: '/manage/v1/tenants/default/usage/unused/g1/apply', body: { days: 90 } });
  });
});

describe("an API's machine-to-machine tab", () => {
  it('changes a grant in place with PATCH (same grant, never delete and create), and asks before taking a scope away', async () => {
    let grant: Grant = { id: 'g1', tenantId: 'default', clientId: 'c1', apiId: 'a1', audience: 'https://orders', scopes: ['read'], customClaims: {}, createdAt: 1 };
    const { api, calls } = fakeApi({
      'GET /manage/v1/tenants/default/clients/:id': clientLookup([client(1)]),
      'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: [orders], nextCursor: null } }),
      'GET /manage/v1/tenants/default/grants': () => ({ status: 200, body: { items: [grant], nextCursor: null } }),
      'PATCH /manage/v1/tenants/default/grants/g1': ({ body }) => {
        grant = { ...grant, ...(body as object) };
        return { status: 200, body: grant };
      },
    });
    mount(api, <MachineClients tenant="default" target={orders} reload={() => {}} />);
    const write = await waitFor(() => [...root.querySelectorAll<HTMLInputElement>('fieldset input[type="checkbox"]')][1]);
    const flip = (box: HTMLInputElement) => {
      box.checked = !box.checked;
      box.dispatchEvent(new Event('change', { bubbles: true }));
    };
    flip(write);
    await settle();
    await waitFor(() => calls.some((c) => c.method === 'PATCH'));
    expect(calls.filter((c) => c.method !== 'GET')).toEqual([{ method: 'PATCH', path: '/manage/v1/tenants/default/grants/g1', body: { scopes: ['read', 'write'] } }]);
    await settle();

    const read = root.querySelectorAll<HTMLInputElement>('fieldset input[type="checkbox"]')[0]!;
    flip(read);
    const confirm = await dialog();
    expect(confirm.textContent).toContain('client-1 can no longer get tokens with read');
    byText(confirm, 'button', 'Remove scope')?.click();
    await waitFor(() => calls.filter((c) => c.method === 'PATCH').length === 2);
    // From the grant as it is now (read and write), not as it was when the page opened.
    expect(calls.filter((c) => c.method === 'PATCH')[1]?.body).toEqual({ scopes: ['write'] });
    expect(calls.some((c) => c.method === 'DELETE' || c.method === 'POST')).toBe(false);
  });
});

describe("a client's authentication method", () => {
  const routes = (initial: Client, saved: unknown[]) => {
    let current = initial;
    return {
    'GET /manage/v1/tenants/default/clients/c1': () => ({ status: 200, body: current }),
    'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [current], nextCursor: null } }),
    'GET /manage/v1/tenants/default/apis': () => empty,
    'GET /manage/v1/tenants/default/grants': () => empty,
    'GET /manage/v1/tenants/default/federations': () => empty,
    'PATCH /manage/v1/tenants/default/clients/c1': ({ body }: { body: unknown }) => {
      saved.push(body);
      current = { ...current, ...(body as Partial<Client>) };
      return { status: 200, body: current };
    },
    'POST /manage/v1/tenants/default/clients/c1/secrets': () => {
      current = { ...current, secrets: [{ id: 'sec_new', createdAt: 2 }] };
      return { status: 201, body: { id: 'sec_new', clientSecret: 'fresh-secret', createdAt: 2 } };
    },
    };
  };
  const chooseMethod = async (method: string, jwks?: string) => {
    (await button('Edit')).click();
    const select = await waitFor(() => root.querySelector<HTMLSelectElement>('select[name="tokenEndpointAuthMethod"]'));
    select.value = method;
    select.dispatchEvent(new Event('change', { bubbles: true }));
    await settle();
    if (jwks !== undefined) type(await waitFor(() => root.querySelector<HTMLTextAreaElement>('textarea[name="jwks"]')), jwks);
    await settle();
    (await button('Save')).click();
  };

  it('warns, naming the secrets, before a switch to private_key_jwt deletes them; Cancel saves nothing', async () => {
    const saved: unknown[] = [];
    const { api } = fakeApi(routes(client(1, { secrets: [{ id: 'sec_a', createdAt: 1 }] }), saved));
    mount(api, <ClientPage tenant="default" clientId="c1" />);
    await chooseMethod('private_key_jwt', '{"kty":"EC","crv":"P-256","x":"x","y":"y"}');
    const warning = await dialog();
    expect(warning.textContent).toContain('sec_a');
    expect(warning.textContent).toContain('can no longer get tokens');
    byText(warning, 'button', 'Cancel')?.click();
    await settle();
    expect(saved).toEqual([]);
    (await button('Save')).click();
    byText(await dialog(), 'button', 'Delete secrets and save')?.click();
    await waitFor(() => saved.length === 1);
    expect(saved[0]).toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt' });
  });

  it('gives a client switched back to a secret method a new secret, shown once, instead of leaving it unable to authenticate', async () => {
    const saved: unknown[] = [];
    const { api, calls } = fakeApi(routes(client(1, { tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] } }), saved));
    mount(api, <ClientPage tenant="default" clientId="c1" />);
    await chooseMethod('client_secret_basic');
    await waitFor(() => calls.some((c) => c.method === 'POST' && c.path.endsWith('/secrets')));
    await waitFor(() => root.textContent?.includes('fresh-secret'));
    expect(saved[0]).toMatchObject({ tokenEndpointAuthMethod: 'client_secret_basic' });
  });
});

describe("a client's other settings", () => {
  it('edits the quota, custom claims and DPoP binding; claims that are not a JSON object are refused at their field', async () => {
    const saved: unknown[] = [];
    let current = client(1, { secrets: [{ id: 'sec_a', createdAt: 1 }] });
    const { api } = fakeApi({
      'GET /manage/v1/tenants/default/clients/c1': () => ({ status: 200, body: current }),
      'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [current], nextCursor: null } }),
      'GET /manage/v1/tenants/default/apis': () => empty,
      'GET /manage/v1/tenants/default/grants': () => empty,
      'GET /manage/v1/tenants/default/federations': () => empty,
      'PATCH /manage/v1/tenants/default/clients/c1': ({ body }) => {
        saved.push(body);
        current = { ...current, ...(body as Partial<Client>) };
        return { status: 200, body: current };
      },
    });
    mount(api, <ClientPage tenant="default" clientId="c1" />);
    (await button('Edit')).click();
    const claims = await waitFor(() => root.querySelector<HTMLTextAreaElement>('textarea[name="customClaims"]'));
    type(claims, '["not", "an object"]');
    await settle();
    (await button('Save')).click();
    await waitFor(() => root.querySelector('.field-error')?.textContent?.includes('JSON object'));
    expect(saved).toEqual([]);
    type(claims, '{"team": "billing"}');
    await settle();
    type(root.querySelector('input[name="tokenQuotaPerMinute"]') as HTMLInputElement, '120');
    await settle();
    const dpop = root.querySelector('input[name="dpopBoundAccessTokens"]') as HTMLInputElement;
    dpop.checked = true;
    dpop.dispatchEvent(new Event('change', { bubbles: true }));
    await settle();
    (await button('Save')).click();
    await waitFor(() => saved.length === 1);
    expect(saved[0]).toMatchObject({ customClaims: { team: 'billing' }, tokenQuotaPerMinute: 120, dpopBoundAccessTokens: true, txnTokenService: false });
  });
});

describe('forms validate as the server does, in words, at the field', () => {
  it('refuses a lifetime of "ten minutes" instead of sending it as the default', async () => {
    const { api, calls } = fakeApi({ 'GET /manage/v1/tenants': () => empty });
    mount(api, <TenantsView onChange={() => {}} />);
    await button('Create tenant');
    type(root.querySelector('input[name="id"]') as HTMLInputElement, 'payments');
    await settle();
    type(root.querySelector('input[name="accessTokenLifetime"]') as HTMLInputElement, 'ten minutes');
    await settle();
    (await button('Create tenant')).click();
    const error = await waitFor(() => root.querySelector('.field-error'));
    expect(error.textContent).toContain('whole number of seconds from 60 to 86400');
    expect(error.textContent).toContain('"ten minutes" is not');
    expect(root.querySelector('input[name="accessTokenLifetime"]')?.getAttribute('aria-invalid')).toBe('true');
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
  });

  it("says the server's union error (a lifetime of 30) in words, not as the validator's anyOf", () => {
    const raw = 'body/accessTokenLifetime must be >= 60, body/accessTokenLifetime must be null, body/accessTokenLifetime must match a schema in anyOf';
    expect(fieldMessage('accessTokenLifetime', raw)).toBe('must be a whole number of seconds from 60 to 86400, or empty for the default');
    expect(fieldMessage('name', 'body/name must NOT have more than 100 characters')).toBe('must NOT have more than 100 characters');
  });

  it('refuses the scope line "BAD SCOPE with caps" instead of cutting it to BAD', async () => {
    expect(() => parseScopes('BAD SCOPE with caps')).toThrow(/no spaces/);
    expect(parseScopes('orders:read - Read orders\nBAD_SCOPE')).toEqual([{ value: 'orders:read', description: 'Read orders' }, { value: 'BAD_SCOPE' }]);
    expect(() => parseScopes('a\na')).toThrow(/twice/);
    const { api, calls } = fakeApi({ 'GET /manage/v1/tenants/default/apis': () => empty });
    mount(api, <ApisView tenant="default" />);
    await button('Create API');
    type(root.querySelector('input[name="identifier"]') as HTMLInputElement, 'https://caps');
    await settle();
    type(root.querySelector('textarea[name="scopes"]') as HTMLTextAreaElement, 'BAD SCOPE with caps');
    await settle();
    (await button('Create API')).click();
    const error = await waitFor(() => root.querySelector('.field-error'));
    expect(error.textContent).toContain('BAD SCOPE with caps');
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
  });
});

describe('tenant settings', () => {
  const tenant = { id: 'payments', name: 'Payments', signingAlg: 'ES256' as const, accessTokenLifetime: null, tokenQuotaPerMinute: null, trustDomain: 'http://x/t/payments', issuer: 'http://x/t/payments', createdAt: 1 };
  it('edits the quota and the trust domain; an issuer-default trust domain stays the default; a wrong quota is refused at its field', async () => {
    const patched: unknown[] = [];
    const { api } = fakeApi({ 'PATCH /manage/v1/tenants/payments': ({ body }) => (patched.push(body), { status: 200, body: tenant }) });
    mount(api, <TenantSettingsView tenant={tenant} onChange={() => {}} />);
    const trust = await waitFor(() => root.querySelector<HTMLInputElement>('input[name="trustDomain"]'));
    expect(trust.value).toBe('');
    type(root.querySelector('input[name="tokenQuotaPerMinute"]') as HTMLInputElement, 'lots');
    await settle();
    (await button('Save')).click();
    await waitFor(() => root.querySelector('.field-error')?.textContent?.includes('token requests per minute'));
    expect(patched).toEqual([]);
    type(root.querySelector('input[name="tokenQuotaPerMinute"]') as HTMLInputElement, '600');
    await settle();
    type(root.querySelector('input[name="trustDomain"]') as HTMLInputElement, 'trust.payments.example');
    await settle();
    (await button('Save')).click();
    await waitFor(() => patched.length === 1);
    expect(patched[0]).toEqual({ name: 'Payments', signingAlg: 'ES256', accessTokenLifetime: null, tokenQuotaPerMinute: 600, trustDomain: 'trust.payments.example' });
  });
});

describe('audit dates', () => {
  it('"until" a day includes that whole day (the server\'s until is exclusive); "since" starts at its midnight, in the viewer\'s zone', () => {
    const filter = filterOf(new URLSearchParams('since=2026-12-01&until=2026-12-03'));
    expect(filter.since).toBe(new Date(2026, 11, 1).getTime());
    expect(filter.until).toBe(new Date(2026, 11, 4).getTime());
    expect(filterOf(new URLSearchParams('until=not-a-date')).until).toBeUndefined();
  });
});
