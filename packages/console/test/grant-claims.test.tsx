// @vitest-environment happy-dom
/**
 * A grant's custom claims, edited where grants are shown (PATCH, same grant), and client
 * names looked up on demand for the ids a page shows instead of a listing of every client.
 */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Api, Client, Grant } from '../src/api.js';
import { forgetNames, MAX_LOOKUPS, resolveClients } from '../src/names.js';
import { ApiContext, ConfirmHost, MessageRegion, type Permissions, PermissionsContext } from '../src/ui.js';
import { customClaimsOf } from '../src/validation.js';
import { MachineClients } from '../src/views/apis.js';
import { ClientPage } from '../src/views/client-page.js';
import { byText, clientLookup, fakeApi, type, waitFor } from './fake-server.js';

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

const viewer: Permissions = { canWrite: false, allTenants: true };
const admin: Permissions = { canWrite: true, allTenants: true };
function mount(api: ReturnType<typeof fakeApi>['api'], view: preact.ComponentChildren, permissions: Permissions = admin) {
  render(<ApiContext.Provider value={api}><PermissionsContext.Provider value={permissions}>{view}</PermissionsContext.Provider><MessageRegion /><ConfirmHost /></ApiContext.Provider>, root);
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
const empty = { status: 200, body: { items: [], nextCursor: null } };
const client = (n: number): Client => ({
  clientId: `c${n}`, name: `client-${n}`, tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null,
  tlsClientAuthSubjectDn: null, accessTokenLifetime: null, disabled: false, issuer: 'http://x/t/default', tokenEndpoint: 'http://x/t/default/token',
  discoveryEndpoint: 'http://x/t/default/.well-known/openid-configuration', createdAt: n, updatedAt: n, secrets: [], customClaims: {},
});
const orders: Api = { id: 'a1', tenantId: 'default', identifier: 'https://orders', name: 'Orders', scopes: [{ value: 'read' }], accessTokenLifetime: null, tokenFormat: 'jwt', introspectors: [], createdAt: 1, updatedAt: 1 };
const grantOf = (n: number, customClaims: Record<string, unknown> = {}): Grant => ({ id: `g${n}`, tenantId: 'default', clientId: `c${n}`, apiId: 'a1', audience: 'https://orders', scopes: ['read'], customClaims, createdAt: n });
const claimsField = () => waitFor(() => root.querySelector<HTMLTextAreaElement>('textarea[name="customClaims"]'));
const errorOf = (field: HTMLElement) => root.querySelector(`#${field.getAttribute('aria-describedby')?.split(' ').find((id) => id.endsWith('-error')) ?? 'none'}`)?.textContent ?? null;

describe('client names on demand', () => {
  it('a page with 3 client ids makes 3 lookups, not a listing of all clients; a missing client shows its id', async () => {
    const { api, calls } = fakeApi({
      'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [client(1), client(2), client(3)], nextCursor: null } }),
      'GET /manage/v1/tenants/default/clients/:id': clientLookup([client(1), client(2)]),
      'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: [orders], nextCursor: null } }),
      'GET /manage/v1/tenants/default/grants': () => ({ status: 200, body: { items: [grantOf(1), grantOf(2), grantOf(3)], nextCursor: null } }),
    });
    mount(api, <MachineClients tenant="default" target={orders} reload={() => {}} />);
    await waitFor(() => byText(root, 'a', 'client-2'));
    expect(byText(root, 'a', 'client-1')).not.toBeNull();
    // c3 is gone (404): the row shows its id, and the row is there.
    expect(byText(root, 'a', /^c3$/)).not.toBeNull();
    const lookups = () => calls.filter((c) => c.method === 'GET' && /\/clients\/[^/?]+$/.test(c.path)).map((c) => c.path);
    expect(lookups().sort()).toEqual(['/manage/v1/tenants/default/clients/c1', '/manage/v1/tenants/default/clients/c2', '/manage/v1/tenants/default/clients/c3']);
    expect(calls.some((c) => /\/clients(\?|$)/.test(c.path))).toBe(false);

    // Shown again: answered from the cache; forgotten (after a change): looked up again.
    render(null, root);
    mount(api, <MachineClients tenant="default" target={orders} reload={() => {}} />);
    await waitFor(() => byText(root, 'a', 'client-1'));
    await settle();
    expect(lookups()).toHaveLength(3);
    forgetNames('default');
    await waitFor(() => lookups().length === 6);
    expect(byText(root, 'a', 'client-1')).not.toBeNull();
  });

  it('asks once per id however many ask at once, and at most a few at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const clients = Array.from({ length: 10 }, (_, i) => client(i + 1));
    const lookup = clientLookup(clients);
    const { api, calls } = fakeApi({
      'GET /manage/v1/tenants/default/clients/:id': async (request) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight -= 1;
        return lookup(request);
      },
    });
    const ids = clients.map((c) => c.clientId);
    await Promise.all([resolveClients(api, 'default', ids), resolveClients(api, 'default', [...ids, 'c1', 'c2'])]);
    expect(calls).toHaveLength(10);
    expect(most).toBeLessThanOrEqual(MAX_LOOKUPS);
    expect(most).toBeGreaterThan(1);
  });
});

describe('the custom claims rule the server applies', () => {
  it('refuses a registered name, a bad name, too many claims and too many bytes; empty is none', () => {
    expect(customClaimsOf('')).toBeNull();
    expect(customClaimsOf('{"tier": "gold", "https://example.com/roles": ["a"]}')).toEqual({ tier: 'gold', 'https://example.com/roles': ['a'] });
    expect(() => customClaimsOf('{"sub": "x"}')).toThrow(/"sub" is a registered claim/);
    expect(() => customClaimsOf('{"1st": 1}')).toThrow(/not starting with a digit/);
    expect(() => customClaimsOf('[1]')).toThrow(/JSON object/);
    expect(() => customClaimsOf('{"a": ')).toThrow(/JSON object/);
    expect(() => customClaimsOf(JSON.stringify(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`c${i}`, i]))))).toThrow(/at most 20 claims/);
    expect(() => customClaimsOf(JSON.stringify({ big: 'x'.repeat(4100) }))).toThrow(/at most 4096 bytes/);
  });
});

describe("a grant's custom claims on the API's machine-to-machine tab", () => {
  it('are saved in place with PATCH (same grant); a mistake is named at the field and not sent; the server refusal is shown there too', async () => {
    let grant = grantOf(1, { tier: 'silver' });
    let refuse: string | null = null;
    const { api, calls } = fakeApi({
      'GET /manage/v1/tenants/default/clients/:id': clientLookup([client(1)]),
      'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: [orders], nextCursor: null } }),
      'GET /manage/v1/tenants/default/grants': () => ({ status: 200, body: { items: [grant], nextCursor: null } }),
      'PATCH /manage/v1/tenants/default/grants/g1': ({ body }) => {
        if (refuse !== null) return { status: 422, body: { error: 'validation_failed', message: refuse } };
        grant = { ...grant, ...(body as object) };
        return { status: 200, body: grant };
      },
    });
    mount(api, <MachineClients tenant="default" target={orders} reload={() => {}} />);
    const shown = await waitFor(() => root.querySelector('dl[aria-label="Custom claims of client-1 on Orders"]'));
    expect(shown.textContent).toContain('tier');
    expect(shown.textContent).toContain('"silver"');
    (await waitFor(() => root.querySelector<HTMLButtonElement>('button[aria-label="Edit custom claims of client-1 on Orders"]'))).click();
    const field = await claimsField();
    expect(JSON.parse(field.value)).toEqual({ tier: 'silver' });

    type(field, '{"sub": "someone"}');
    await settle();
    (await waitFor(() => byText(root, 'button', 'Save claims'))).click();
    await waitFor(() => field.getAttribute('aria-invalid') === 'true');
    expect(errorOf(field)).toMatch(/"sub" is a registered claim that Tessera sets itself/);
    expect(calls.some((c) => c.method === 'PATCH')).toBe(false);

    refuse = 'custom claim "tier" is not allowed here';
    type(field, '{"tier": "gold"}');
    await settle();
    byText(root, 'button', 'Save claims')?.click();
    await waitFor(() => errorOf(field)?.includes('custom claim "tier" is not allowed here'));

    refuse = null;
    byText(root, 'button', 'Save claims')?.click();
    await waitFor(() => root.querySelector('dl[aria-label="Custom claims of client-1 on Orders"]')?.textContent?.includes('"gold"'));
    expect(calls.filter((c) => c.method === 'PATCH').map((c) => [c.path, c.body])).toEqual([
      ['/manage/v1/tenants/default/grants/g1', { customClaims: { tier: 'gold' } }],
      ['/manage/v1/tenants/default/grants/g1', { customClaims: { tier: 'gold' } }],
    ]);
    expect(calls.some((c) => c.method === 'DELETE' || c.method === 'POST')).toBe(false);
  });
});

describe("a grant's custom claims on the client page", () => {
  const routes = (grants: Grant[], patched: unknown[]) => ({
    'GET /manage/v1/tenants/default/clients/c1': () => ({ status: 200, body: client(1) }),
    'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: [orders], nextCursor: null } }),
    'GET /manage/v1/tenants/default/grants': () => ({ status: 200, body: { items: grants, nextCursor: null } }),
    'GET /manage/v1/tenants/default/federations': () => empty,
    'PATCH /manage/v1/tenants/default/grants/g1': ({ body }: { body: unknown }) => {
      patched.push(body);
      grants[0] = { ...grants[0]!, ...(body as object) };
      return { status: 200, body: grants[0] };
    },
  });

  it('a viewer sees them and cannot change them', async () => {
    const { api } = fakeApi(routes([grantOf(1, { tier: 'gold' })], []));
    mount(api, <ClientPage tenant="default" clientId="c1" />, viewer);
    const shown = await waitFor(() => root.querySelector('dl[aria-label="Custom claims of client-1 on Orders"]'));
    expect(shown.textContent).toContain('"gold"');
    await settle();
    expect(byText(root, 'button', 'Edit custom claims')).toBeNull();
    expect(root.querySelector('textarea[name="customClaims"]')).toBeNull();
  });

  it('an admin sets them (empty clears them), saved with PATCH on the same grant', async () => {
    const patched: unknown[] = [];
    const { api } = fakeApi(routes([grantOf(1)], patched));
    mount(api, <ClientPage tenant="default" clientId="c1" />);
    await waitFor(() => byText(root, 'span', 'no custom claims'));
    (await waitFor(() => root.querySelector<HTMLButtonElement>('button[aria-label="Edit custom claims of client-1 on Orders"]'))).click();
    type(await claimsField(), '{"tier": "gold", "region": "eu"}');
    await settle();
    byText(root, 'button', 'Save claims')?.click();
    await waitFor(() => root.querySelector('dl[aria-label="Custom claims of client-1 on Orders"]')?.textContent?.includes('region'));
    (await waitFor(() => root.querySelector<HTMLButtonElement>('button[aria-label="Edit custom claims of client-1 on Orders"]'))).click();
    type(await claimsField(), '');
    await settle();
    byText(root, 'button', 'Save claims')?.click();
    await waitFor(() => byText(root, 'span', 'no custom claims'));
    expect(patched).toEqual([{ customClaims: { tier: 'gold', region: 'eu' } }, { customClaims: {} }]);
  });
});
