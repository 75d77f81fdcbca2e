// @vitest-environment happy-dom
/** What a viewer sees (nothing that changes anything), and the console users page. */
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Client } from '../src/api.js';
import { forgetNames } from '../src/names.js';
import { ApiContext, ConfirmHost, MessageRegion, type Permissions, PermissionsContext } from '../src/ui.js';
import { ClientPage } from '../src/views/client-page.js';
import { ClientsView } from '../src/views/clients.js';
import { ConsoleUsersView } from '../src/views/console-users.js';
import { KeysView } from '../src/views/keys.js';
import { byText, fakeApi, type, waitFor } from './fake-server.js';

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
function mount(api: ReturnType<typeof fakeApi>['api'], view: preact.ComponentChildren, permissions: Permissions) {
  render(<ApiContext.Provider value={api}><PermissionsContext.Provider value={permissions}>{view}</PermissionsContext.Provider><MessageRegion /><ConfirmHost /></ApiContext.Provider>, root);
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
const buttons = () => [...root.querySelectorAll('button')].map((b) => b.textContent ?? '');
const empty = { status: 200, body: { items: [], nextCursor: null } };
const client: Client = {
  clientId: 'c1', name: 'billing', tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null,
  tlsClientAuthSubjectDn: null, accessTokenLifetime: null, disabled: false, customClaims: {}, issuer: 'http://x/t/default', tokenEndpoint: 'http://x/t/default/token',
  discoveryEndpoint: 'http://x/t/default/.well-known/openid-configuration', createdAt: 1, updatedAt: 1, secrets: [{ id: 'sec_1', createdAt: 1 }],
};
const routes = {
  'GET /manage/v1/tenants/default/clients/c1': () => ({ status: 200, body: client }),
  'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: [client], nextCursor: null } }),
  'GET /manage/v1/tenants/default/apis': () => empty,
  'GET /manage/v1/tenants/default/grants': () => empty,
  'GET /manage/v1/tenants/default/federations': () => empty,
  'GET /manage/v1/tenants/default/keys': () => ({ status: 200, body: { items: [], nextCursor: null } }),
};

describe('a viewer', () => {
  it("sees a client's page without any control that changes it; an admin sees them", async () => {
    const { api } = fakeApi(routes);
    mount(api, <ClientPage tenant="default" clientId="c1" />, viewer);
    await waitFor(() => byText(root, 'h1', 'billing'));
    await settle();
    for (const name of ['Edit', 'Disable', 'Delete client', 'New secret', 'Delete', 'Grant access']) expect(buttons(), name).not.toContain(name);
    render(null, root);
    mount(api, <ClientPage tenant="default" clientId="c1" />, admin);
    await waitFor(() => byText(root, 'button', 'Edit'));
    expect(buttons()).toEqual(expect.arrayContaining(['Edit', 'Disable', 'Delete client', 'New secret', 'Grant access']));
  });

  it('gets no form to create a client and no key rotation', async () => {
    const { api } = fakeApi(routes);
    mount(api, <><ClientsView tenant="default" /><KeysView tenant="default" /></>, viewer);
    await waitFor(() => byText(root, 'a', 'billing'));
    expect(root.querySelector('form')).toBeNull();
    expect(buttons()).not.toContain('Create client');
    expect(buttons()).not.toContain('Rotate');
  });
});

describe('console users page', () => {
  it('creates a user for some tenants and shows its password once; deleting needs the name typed', async () => {
    const posted: unknown[] = [];
    const deleted: string[] = [];
    const users = [{ username: 'admin', role: 'admin', createdAt: 1, updatedAt: null }];
    const { api } = fakeApi({
      'GET /manage/v1/console-users': () => ({ status: 200, body: { items: users, nextCursor: null } }),
      'POST /manage/v1/console-users': ({ body }) => {
        posted.push(body);
        const user = { ...(body as { username: string; role: string; tenants?: string[] }), createdAt: 2, updatedAt: null };
        users.push(user);
        return { status: 201, body: { ...user, password: 'one-time-pass' } };
      },
      'DELETE /manage/v1/console-users/vera': () => {
        deleted.push('vera');
        return { status: 204 };
      },
    });
    mount(api, <ConsoleUsersView self="admin" />, admin);
    await waitFor(() => byText(root, 'span', 'admin'));
    type(root.querySelector('input[name="username"]') as HTMLInputElement, 'vera');
    await settle();
    type(root.querySelector('input[name="tenants"]') as HTMLInputElement, 'payments, shipping');
    await settle();
    byText(root, 'button', 'Create user')?.click();
    await waitFor(() => root.textContent?.includes('one-time-pass'));
    expect(posted).toEqual([{ username: 'vera', role: 'viewer', tenants: ['payments', 'shipping'] }]);
    expect(root.textContent).toContain('shown only once');
    byText(root, 'button', 'Done')?.click();
    await waitFor(() => !root.textContent?.includes('one-time-pass'));

    (await waitFor(() => root.querySelector<HTMLButtonElement>('button[aria-label="Delete console user vera"]'))).click();
    const dialog = await waitFor(() => root.querySelector<HTMLElement>('[role="alertdialog"]'));
    const confirm = byText(dialog, 'button', 'Delete user') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    type(dialog.querySelector('input') as HTMLInputElement, 'vera');
    await settle();
    confirm.click();
    await waitFor(() => deleted.length === 1);
  });
});
