/** Names instead of bare ids: every client and API of a tenant, loaded once per tenant and refreshed on change. */
import { useEffect, useState } from 'preact/hooks';
import { allPages, type Api, type Client, type ManagementClient } from './api.js';

export interface Names { clients: Map<string, Client>; apis: Map<string, Api>; apisByIdentifier: Map<string, Api> }
const cache = new Map<string, Promise<Names>>();
let generation = 0;
const listeners = new Set<() => void>();

export function forgetNames(tenant?: string): void {
  if (tenant === undefined) cache.clear();
  else cache.delete(tenant);
  generation += 1;
  for (const listener of listeners) listener();
}

export function loadNames(api: ManagementClient, tenant: string): Promise<Names> {
  let names = cache.get(tenant);
  if (names === undefined) {
    names = Promise.all([allPages((c) => api.listClients(tenant, c, 200)), allPages((c) => api.listApis(tenant, c, 200))]).then(([clients, apis]) => ({
      clients: new Map(clients.map((c) => [c.clientId, c])),
      apis: new Map(apis.map((a) => [a.id, a])),
      apisByIdentifier: new Map(apis.map((a) => [a.identifier, a])),
    }));
    names.catch(() => cache.delete(tenant));
    cache.set(tenant, names);
  }
  return names;
}

export function useNames(api: ManagementClient, tenant: string): Names | null {
  const [names, setNames] = useState<Names | null>(null);
  const [gen, setGen] = useState(generation);
  useEffect(() => {
    const listener = () => setGen(generation);
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }, []);
  useEffect(() => {
    let live = true;
    loadNames(api, tenant).then((n) => live && setNames(n), () => live && setNames({ clients: new Map(), apis: new Map(), apisByIdentifier: new Map() }));
    return () => {
      live = false;
    };
  }, [api, tenant, gen]);
  return names;
}

export function clientName(names: Names | null, clientId: string): string {
  return names?.clients.get(clientId)?.name ?? clientId;
}
