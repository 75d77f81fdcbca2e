import { describe, expect, it } from 'vitest';
import { MasterKey } from '../crypto/master-key.js';
import type { Store, TenantSnapshot } from '../store/types.js';
import { TenantRegistry } from './tenant-context.js';

function registryWith(tenants: string[]) {
  const loads: string[] = [];
  const store = {
    async loadTenantSnapshot(id: string): Promise<TenantSnapshot | null> {
      loads.push(id);
      if (!tenants.includes(id)) return null;
      return { tenant: { id, name: id, signingAlg: 'ES256', accessTokenLifetime: null, createdAt: 0 }, clients: [], secrets: [], apis: [], grants: [], keys: [], federations: [] };
    },
    async stateVersion() {
      return 1;
    },
  } as unknown as Store;
  const registry = new TenantRegistry({ store, publicUrl: 'http://x', masterKey: new MasterKey(Buffer.alloc(32)), now: () => 0 });
  return { registry, loads };
}

describe('TenantRegistry', () => {
  it('loads a tenant once and answers from memory after that', async () => {
    const { registry, loads } = registryWith(['acme']);
    const [a, b] = await Promise.all([registry.get('acme'), registry.get('acme')]);
    expect(a).toBe(b);
    expect((await registry.get('acme'))?.issuer).toBe('http://x/t/acme');
    expect(loads).toEqual(['acme']);
  });

  it('never caches made-up tenant ids, and never asks the store about impossible ones', async () => {
    const { registry, loads } = registryWith([]);
    for (let i = 0; i < 3; i++) expect(await registry.get('nosuch')).toBeNull();
    expect(loads).toEqual(['nosuch', 'nosuch', 'nosuch']);
    for (const id of ['UPPER', '../etc', 'x'.repeat(200), '']) expect(await registry.get(id)).toBeNull();
    expect(loads).toHaveLength(3);
  });

  it('drops everything when the store state version moves', async () => {
    const { registry, loads } = registryWith(['acme']);
    await registry.get('acme');
    await registry.refresh(); // first sight of version 1
    await registry.get('acme');
    expect(loads).toEqual(['acme', 'acme']);
    await registry.refresh(); // unchanged
    await registry.get('acme');
    expect(loads).toHaveLength(2);
  });
});
