/** What the server holds for some tenants, read through the management API. */
import type { ApiResource, ClientResource, FederationResource, GrantResource, TenantResource } from '@tessera/server';
import { seg } from '../command.js';
import { ApiError, type ManagementApi } from '../management-api.js';

export interface TenantState {
  tenant: TenantResource;
  apis: ApiResource[];
  clients: ClientResource[];
  grants: GrantResource[];
  federations: FederationResource[];
}

/** The state of each tenant named; null for a tenant the server does not have. */
export async function readRegistry(api: ManagementApi, tenantIds: readonly string[]): Promise<Map<string, TenantState | null>> {
  const states = new Map<string, TenantState | null>();
  for (const id of tenantIds) states.set(id, await readTenant(api, id));
  return states;
}

export async function readTenant(api: ManagementApi, id: string): Promise<TenantState | null> {
  const base = `/tenants/${seg(id)}`;
  let tenant: TenantResource;
  try {
    tenant = await api.get<TenantResource>(base);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
  // The API shows a default it computes (the trust domain is the issuer unless set) as a
  // value; read back as "not set", it is no difference from a file that leaves it out and
  // is not exported as this server's URL.
  if (tenant.trustDomain === tenant.issuer) {
    const { trustDomain: _computed, ...set } = tenant;
    tenant = set;
  }
  const [apis, clients, grants, federations] = await Promise.all([
    api.listAll<ApiResource>(`${base}/apis`),
    api.listAll<ClientResource>(`${base}/clients`),
    api.listAll<GrantResource>(`${base}/grants`),
    api.get<{ items: FederationResource[] }>(`${base}/federations`),
  ]);
  return { tenant, apis: apis.items, clients: clients.items, grants: grants.items, federations: federations.items };
}

/** Every tenant of the server but the admin tenant, which belongs to the server itself. */
export async function listTenantIds(api: ManagementApi): Promise<string[]> {
  const page = await api.get<{ items: TenantResource[] }>('/tenants');
  return page.items.map((t) => t.id).filter((id) => id !== 'admin').sort();
}
