/**
 * Names instead of bare ids. Clients are looked up on demand: the ids a page shows are
 * fetched one by one (GET /clients/{id}), deduplicated, a few at a time, and cached per
 * tenant; a tenant with a million clients costs a page its own rows, not a listing of
 * them all. APIs (few per tenant) are listed once per tenant. `forgetNames` drops a
 * tenant's cache after a change; pages keep showing the names they have until the
 * fresh ones arrive, so nothing flashes back to ids.
 */
import { useEffect, useState } from 'preact/hooks';
import { allPages, ApiError, type Api, type Client, type ManagementClient } from './api.js';

export interface Names { clients: ReadonlyMap<string, Client>; apis: Map<string, Api>; apisByIdentifier: Map<string, Api> }
interface ApiNames { apis: Map<string, Api>; apisByIdentifier: Map<string, Api> }
interface TenantNames {
  /** Filled in place as lookups answer: every `Names` of this tenant sees them. */
  clients: Map<string, Client>;
  /** Ids the server does not know (404): shown as the id, not asked again until forgotten. */
  missing: Set<string>;
  pending: Map<string, Promise<void>>;
  apis: Promise<ApiNames> | null;
}

/** Client lookups in flight at once, over all tenants and pages. */
export const MAX_LOOKUPS = 4;
const tenants = new Map<string, TenantNames>();
let generation = 0;
const listeners = new Set<() => void>();

/** Every client of a tenant, for menus (`useClientChoices`). */
const choices = new Map<string, Promise<Client[]>>();

export function forgetNames(tenant?: string): void {
  if (tenant === undefined) {
    tenants.clear();
    choices.clear();
  } else {
    tenants.delete(tenant);
    choices.delete(tenant);
  }
  generation += 1;
  for (const listener of listeners) listener();
}

function entryOf(tenant: string): TenantNames {
  let entry = tenants.get(tenant);
  if (entry === undefined) {
    entry = { clients: new Map(), missing: new Set(), pending: new Map(), apis: null };
    tenants.set(tenant, entry);
  }
  return entry;
}

let running = 0;
const waiting: (() => void)[] = [];
async function limited<T>(task: () => Promise<T>): Promise<T> {
  if (running >= MAX_LOOKUPS) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  try {
    return await task();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

/**
 * Looks up the clients not yet known (each once, however many pages ask). A client that
 * does not exist is remembered as missing; any other failure is not cached, so the
 * next page asks again.
 */
export function resolveClients(api: ManagementClient, tenant: string, clientIds: Iterable<string>): Promise<void> {
  const entry = entryOf(tenant);
  const waits: Promise<void>[] = [];
  for (const id of new Set(clientIds)) {
    if (id === '' || entry.clients.has(id) || entry.missing.has(id)) continue;
    let lookup = entry.pending.get(id);
    if (lookup === undefined) {
      lookup = limited(() => api.getClient(tenant, id)).then(
        (client) => void entry.clients.set(id, client),
        (error: unknown) => void (error instanceof ApiError && error.status === 404 && entry.missing.add(id)),
      ).finally(() => entry.pending.delete(id));
      entry.pending.set(id, lookup);
    }
    waits.push(lookup);
  }
  return Promise.all(waits).then(() => undefined);
}

function apisOf(api: ManagementClient, tenant: string): Promise<ApiNames> {
  const entry = entryOf(tenant);
  if (entry.apis === null) {
    const loading = allPages((c) => api.listApis(tenant, c, 200)).then((apis) => ({
      apis: new Map(apis.map((a) => [a.id, a])),
      apisByIdentifier: new Map(apis.map((a) => [a.identifier, a])),
    }));
    loading.catch(() => {
      if (entry.apis === loading) entry.apis = null;
    });
    entry.apis = loading;
  }
  return entry.apis;
}

/** The names of the APIs of a tenant and of the clients given (those the page shows). */
export async function loadNames(api: ManagementClient, tenant: string, clientIds: Iterable<string> = []): Promise<Names> {
  const entry = entryOf(tenant);
  const [apis] = await Promise.all([apisOf(api, tenant), resolveClients(api, tenant, clientIds)]);
  return { clients: entry.clients, ...apis };
}

/**
 * Names for a page: the tenant's APIs and the clients `clientIds` (the ids it shows; a
 * new set of ids is looked up as it appears). Null until the first answer.
 */
export function useNames(api: ManagementClient, tenant: string, clientIds: readonly string[] = []): Names | null {
  const [names, setNames] = useState<Names | null>(null);
  const [gen, setGen] = useState(generation);
  const key = [...new Set(clientIds)].sort().join('\n');
  useEffect(() => {
    const listener = () => setGen(generation);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  useEffect(() => {
    let live = true;
    const ids = key === '' ? [] : key.split('\n');
    loadNames(api, tenant, ids).then(
      (n) => live && setNames(n),
      () => live && setNames({ clients: entryOf(tenant).clients, apis: new Map(), apisByIdentifier: new Map() }),
    );
    return () => {
      live = false;
    };
  }, [api, tenant, key, gen]);
  return names;
}

export function clientName(names: Names | null, clientId: string): string {
  return names?.clients.get(clientId)?.name ?? clientId;
}

/**
 * Every client of a tenant, for a menu to choose one from (a federation's rules, an
 * API's introspectors): listed only where such a menu is open for editing, cached per
 * tenant and forgotten with the names. Showing names never needs it.
 */
export function useClientChoices(api: ManagementClient, tenant: string, enabled: boolean): { clientId: string; name: string }[] {
  const [list, setList] = useState<{ clientId: string; name: string }[]>([]);
  const [gen, setGen] = useState(generation);
  useEffect(() => {
    const listener = () => setGen(generation);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  useEffect(() => {
    if (!enabled) return;
    let live = true;
    let loading = choices.get(tenant);
    if (loading === undefined) {
      const started = allPages((c) => api.listClients(tenant, c, 200));
      started.catch(() => {
        if (choices.get(tenant) === started) choices.delete(tenant);
      });
      choices.set(tenant, started);
      loading = started;
    }
    loading.then(
      (clients) => live && setList(clients.map((c) => ({ clientId: c.clientId, name: c.name })).sort((a, b) => a.name.localeCompare(b.name))),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [api, tenant, enabled, gen]);
  return list;
}
