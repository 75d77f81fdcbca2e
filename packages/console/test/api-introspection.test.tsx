// @vitest-environment happy-dom
/** An API's token format and introspectors on its page: saved in place, losses confirmed by name, refusals at the field. */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Api, Client } from '../src/api.js';
import { forgetNames } from '../src/names.js';
import { ApiContext, ConfirmHost, MessageRegion, PermissionsContext } from '../src/ui.js';
import { ApiPage } from '../src/views/apis.js';
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

const client = (id: string, name: string): Client => ({
  clientId: id, name, tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null, tlsClientAuthSubjectDn: null,
  accessTokenLifetime: null, disabled: false, issuer: 'http://x/t/default', tokenEndpoint: 'http://x/t/default/token',
  discoveryEndpoint: 'http://x/t/default/.well-known/openid-configuration', createdAt: 1, updatedAt: 1, secrets: [], customClaims: {},
});
const orders: Api = { id: 'a1', tenantId: 'default', identifier: 'https://orders', name: 'Orders', scopes: [{ value: 'read' }], accessTokenLifetime: null, tokenFormat: 'jwt', introspectors: ['c-gateway'], createdAt: 1, updatedAt: 1 };

function setup(patch: (body: unknown) => { status: number; body?: unknown } = (body) => ({ status: 200, body: { ...orders, ...(body as object) } }), canWrite = true) {
  const fake = fakeApi({
    'GET /manage/v1/tenants/default/apis/a1': () => ({ status: 200, body: orders }),
    'GET /manage/v1/tenants/default/grants': () => ({ status: 200, body: { items: [], nextCursor: null } }),
    'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [client('c-gateway', 'gateway'), client('c-audit', 'audit-service')], nextCursor: null } }),
    'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: [orders], nextCursor: null } }),
    'PATCH /manage/v1/tenants/default/apis/a1': ({ body }) => patch(body),
  });
  render(
    <ApiContext.Provider value={fake.api}>
      <PermissionsContext.Provider value={{ canWrite, allTenants: true }}>
        <ApiPage tenant="default" apiId="a1" tab="settings" /><MessageRegion /><ConfirmHost />
      </PermissionsContext.Provider>
    </ApiContext.Provider>,
    root,
  );
  return fake;
}
const section = () => waitFor(() => root.querySelector<HTMLElement>('section[aria-labelledby="introspection"]'));
const button = (name: string | RegExp, within: ParentNode = root) => waitFor(() => byText(within, 'button', name));
const named = (label: string) => waitFor(() => root.querySelector<HTMLButtonElement>(`button[aria-label="${label}"]`));
const addSelect = async () => waitFor(() => byText(root, 'label', 'Add a client')?.querySelector('select') ?? null);
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
async function choose(select: HTMLSelectElement, value: string) {
  await waitFor(() => select.querySelector(`option[value="${value}"]`));
  select.value = value;
  select.dispatchEvent(new Event('change', { bubbles: true }));
  await settle();
}

describe('token format and introspectors on the API page', () => {
  it('adds an introspector and switches to opaque tokens, confirming what JWT verifiers lose; one PATCH with both', async () => {
    const { calls } = setup();
    await section();
    await choose(await addSelect(), 'c-audit');
    const format = root.querySelector<HTMLSelectElement>('select[name="introspectionTokenFormat"]')!;
    await choose(format, 'opaque');
    (await button('Save token format and introspectors')).click();
    const confirm = await waitFor(() => root.querySelector<HTMLElement>('[role="alertdialog"]'));
    expect(confirm.textContent).toContain('verify JWTs offline');
    (await button('Save and lose this access', confirm)).click();
    await waitFor(() => calls.find((c) => c.method === 'PATCH'));
    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ tokenFormat: 'opaque', introspectors: ['c-gateway', 'c-audit'] });
    expect(root.querySelector('select[name="tokenFormat"]')).toBeNull();
  });

  it('names the resource server that loses introspection; Cancel keeps it', async () => {
    const { calls } = setup();
    await section();
    (await named('Remove gateway from introspectors')).click();
    await settle();
    (await button('Save token format and introspectors')).click();
    const confirm = await waitFor(() => root.querySelector<HTMLElement>('[role="alertdialog"]'));
    expect(confirm.textContent).toContain('gateway can no longer introspect Orders\'s tokens');
    (await button('Cancel', confirm)).click();
    await settle();
    expect(calls.some((c) => c.method === 'PATCH')).toBe(false);
  });

  it('shows the server\'s refusal at the introspectors, in words', async () => {
    setup(() => ({ status: 422, body: { error: 'validation_failed', message: 'introspector "c-audit" is not a client of this tenant' } }));
    await section();
    await choose(await addSelect(), 'c-audit');
    (await button('Save token format and introspectors')).click();
    const error = await waitFor(() => byText(root, '.picker .field-error', 'is not a client of this tenant'));
    expect(error.textContent).toContain('c-audit');
  });

  it('shows a viewer the settings without a control that changes them', async () => {
    setup(undefined, false);
    const s = await section();
    await waitFor(() => byText(s, 'li', 'gateway'));
    expect(byText(s, 'button', 'Remove')).toBeNull();
    expect(byText(s, 'button', 'Save')).toBeNull();
    expect(s.querySelector<HTMLSelectElement>('select')?.disabled).toBe(true);
  });
});
