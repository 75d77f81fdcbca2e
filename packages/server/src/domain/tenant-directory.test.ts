import { describe, expect, it } from 'vitest';
import type { ChangeRef, Tenant } from '../store/types.js';
import { TenantDirectory, TenantIdSet } from './tenant-directory.js';

/** A deterministic pseudo-random sequence (xorshift32), so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('TenantIdSet', () => {
  it('holds exactly its ids, whatever their length or shared prefixes', () => {
    const set = TenantIdSet.from(['b', 'a', 'acme', 'acme-eu', 'a1', 'zz', 'acme']);
    for (const id of ['a', 'a1', 'acme', 'acme-eu', 'b', 'zz']) expect(set.has(id)).toBe(true);
    for (const id of ['', 'ac', 'acm', 'acme-', 'acme-eu1', 'c', 'z', 'zzz', '0']) expect(set.has(id)).toBe(false);
    expect(set.size).toBe(6);
    expect([...set]).toEqual(['a', 'a1', 'acme', 'acme-eu', 'b', 'zz']);
  });

  it('an empty set holds nothing, and grows', () => {
    const set = TenantIdSet.from([]);
    expect(set.has('default')).toBe(false);
    set.add('default');
    expect(set.has('default')).toBe(true);
    set.delete('default');
    expect(set.has('default')).toBe(false);
    expect(set.size).toBe(0);
  });

  it('adds and deletes agree with a plain Set through many compactions', () => {
    const next = random(19);
    const id = () => `t-${Math.floor(next() * 6000).toString(36)}`;
    const initial = Array.from({ length: 3000 }, id);
    const set = TenantIdSet.from(initial);
    const reference = new Set(initial);
    for (let step = 0; step < 20_000; step++) {
      const x = id();
      if (next() < 0.55) {
        set.add(x);
        reference.add(x);
      } else {
        set.delete(x);
        reference.delete(x);
      }
      const probe = id();
      expect(set.has(probe)).toBe(reference.has(probe));
    }
    expect(set.size).toBe(reference.size);
    expect([...set]).toEqual([...reference].sort());
  });

  it('100,000 tenant ids take a few MB (estimated: the ids, 4 bytes of offset each)', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => `tenant-${i.toString().padStart(6, '0')}-${(i * 2654435761 % 2 ** 32).toString(16)}`);
    const set = TenantIdSet.from(ids);
    expect(set.size).toBe(100_000);
    expect(set.has(ids[4242] as string)).toBe(true);
    expect(set.has('tenant-004242')).toBe(false);
    expect(set.bytes).toBeLessThan(3 * 1024 * 1024);
  });
});

/** A store whose answers the test releases one by one, each with what the store held when it "ran". */
class FakeStore {
  tenants = new Set<string>();
  snapshots: { resolve: (ids?: string[]) => void; reject: (error: Error) => void }[] = [];
  reads: { id: string; resolve: (exists?: boolean) => void }[] = [];
  /** false: answer getTenant at once. */
  holdReads = false;

  listTenantIds(afterId: string | null, limit: number): Promise<string[]> {
    const page = (ids: string[]) => ids.sort().filter((id) => afterId === null || id > afterId).slice(0, limit);
    return new Promise((resolve, reject) => {
      this.snapshots.push({ resolve: (ids = [...this.tenants]) => resolve(page(ids)), reject });
    });
  }

  getTenant(id: string): Promise<Tenant | null> {
    const answer = (exists = this.tenants.has(id)) => (exists ? ({ id } as Tenant) : null);
    if (!this.holdReads) return Promise.resolve(answer());
    return new Promise((resolve) => {
      this.reads.push({ id, resolve: (exists) => resolve(answer(exists)) });
    });
  }
}

const tenantChange = (tenantId: string): ChangeRef => ({ tenantId, kind: 'tenant', entityId: tenantId });
const flush = () => new Promise((resolve) => setImmediate(resolve));

function directoryOf(store: FakeStore, retryDelay = 10, pageSize?: number): { directory: TenantDirectory; warnings: string[] } {
  const warnings: string[] = [];
  const directory = new TenantDirectory({ store, retryDelay, ...(pageSize !== undefined ? { pageSize } : {}), log: { info: () => {}, warn: (message) => warnings.push(message) } });
  return { directory, warnings };
}

describe('TenantDirectory', () => {
  it('answers nothing until its snapshot is in, then excludes exactly the ids that name no tenant', async () => {
    const store = new FakeStore();
    store.tenants = new Set(['default', 'acme']);
    const { directory } = directoryOf(store);
    expect(directory.excludes('nope')).toBe(false);
    directory.reload();
    expect(directory.excludes('nope')).toBe(false);
    store.snapshots.shift()?.resolve();
    await directory.loading;
    expect(directory.loaded).toBe(true);
    expect(directory.excludes('nope')).toBe(true);
    expect(directory.excludes('default')).toBe(false);
    expect(directory.excludes('acme')).toBe(false);
    expect(directory.size).toMatchObject({ tenants: 2 });
  });

  it('reads a large registry page by page, and answers only once every page is in', async () => {
    const store = new FakeStore();
    store.tenants = new Set(['e', 'a', 'c', 'b', 'd']);
    const { directory } = directoryOf(store, 10, 2);
    directory.reload();
    for (let page = 0; page < 3; page++) {
      for (let i = 0; i < 20 && store.snapshots.length === 0; i++) await flush();
      expect(directory.loaded).toBe(false);
      store.snapshots.shift()?.resolve();
    }
    await directory.loading;
    expect(directory.size?.tenants).toBe(5);
    for (const id of ['a', 'b', 'c', 'd', 'e']) expect(directory.excludes(id)).toBe(false);
    expect(directory.excludes('f')).toBe(true);
  });

  it('a created tenant is known when apply is called, before its check answers; a deleted one goes once the store says so', async () => {
    const store = new FakeStore();
    const { directory } = directoryOf(store);
    directory.reload();
    store.snapshots.shift()?.resolve();
    await directory.loading;
    store.holdReads = true;
    store.tenants.add('fresh');
    const applied = directory.apply([tenantChange('fresh'), { tenantId: 'fresh', kind: 'api', entityId: 'x' }], { wait: true });
    expect(directory.excludes('fresh')).toBe(false);
    expect(store.reads.map((r) => r.id)).toEqual(['fresh']);
    store.reads.shift()?.resolve();
    await applied;
    expect(directory.excludes('fresh')).toBe(false);

    store.tenants.delete('fresh');
    const deleted = directory.apply([tenantChange('fresh')], { wait: true });
    expect(directory.excludes('fresh')).toBe(false);
    store.reads.shift()?.resolve();
    await deleted;
    expect(directory.excludes('fresh')).toBe(true);
  });

  it('changes other than tenant changes cost no store read', async () => {
    const store = new FakeStore();
    store.tenants.add('default');
    const { directory } = directoryOf(store);
    directory.reload();
    store.snapshots.shift()?.resolve();
    await directory.loading;
    store.holdReads = true;
    await directory.apply(['api', 'key', 'federation', 'client', 'grant'].map((kind) => ({ tenantId: 'default', kind, entityId: 'x' }) as ChangeRef), { wait: true });
    expect(store.reads).toEqual([]);
  });

  it('a tenant created while the snapshot is read is known once it is in, even if the snapshot missed it', async () => {
    const store = new FakeStore();
    const { directory } = directoryOf(store);
    directory.reload();
    const snapshot = store.snapshots.shift();
    // The snapshot read ran before the create committed: it does not hold the tenant.
    snapshot?.resolve();
    store.tenants.add('late');
    await directory.apply([tenantChange('late')], { wait: true });
    await directory.loading;
    await flush();
    expect(directory.excludes('late')).toBe(false);
    expect(directory.excludes('other')).toBe(true);
  });

  it('a tenant deleted while the snapshot is read goes once it is in, even if the snapshot held it', async () => {
    const store = new FakeStore();
    store.tenants.add('doomed');
    const { directory } = directoryOf(store);
    directory.reload();
    store.tenants.delete('doomed');
    await directory.apply([tenantChange('doomed')], { wait: true });
    // The snapshot was read before the delete committed.
    store.snapshots.shift()?.resolve(['doomed']);
    await directory.loading;
    await flush();
    expect(directory.excludes('doomed')).toBe(true);
  });

  it('only the latest check of an id counts: a delete then a create, answered out of order, leaves it known', async () => {
    const store = new FakeStore();
    store.tenants.add('flip');
    const { directory } = directoryOf(store);
    directory.reload();
    store.snapshots.shift()?.resolve();
    await directory.loading;
    store.holdReads = true;
    void directory.apply([tenantChange('flip')], { wait: false }); // deleted
    void directory.apply([tenantChange('flip')], { wait: false }); // created again
    const [deleteCheck, createCheck] = store.reads.splice(0);
    createCheck?.resolve(true);
    await flush();
    deleteCheck?.resolve(false);
    await flush();
    expect(directory.excludes('flip')).toBe(false);
  });

  it('a failed snapshot is read again later; meanwhile nothing is excluded', async () => {
    const store = new FakeStore();
    const { directory, warnings } = directoryOf(store, 5);
    directory.reload();
    store.snapshots.shift()?.reject(new Error('store down'));
    await directory.loading;
    expect(directory.loaded).toBe(false);
    expect(directory.excludes('anything')).toBe(false);
    expect(warnings).toHaveLength(1);
    for (let i = 0; i < 100 && store.snapshots.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    store.snapshots.shift()?.resolve();
    await directory.loading;
    expect(directory.excludes('anything')).toBe(true);
  });

  it('stop and reload drop the loaded set; a snapshot from before them is ignored', async () => {
    const store = new FakeStore();
    const { directory } = directoryOf(store);
    directory.reload();
    const stale = store.snapshots.shift();
    directory.reload();
    stale?.resolve();
    await flush();
    expect(directory.loaded).toBe(false);
    store.snapshots.shift()?.resolve();
    await directory.loading;
    expect(directory.loaded).toBe(true);
    directory.stop();
    expect(directory.loaded).toBe(false);
    expect(directory.excludes('anything')).toBe(false);
  });
});
