import { describe, expect, it } from 'vitest';
import { MasterKey } from '../crypto/master-key.js';
import { hashSecret } from '../crypto/secrets.js';
import { generateSigningKey } from '../crypto/signing.js';
import type { Client, ClientRecord, SigningKey, Store, TenantRecord } from '../store/types.js';
import type { CacheEvents } from './entry-cache.js';
import { TenantRegistry } from './tenant-context.js';

function clientRecord(tenantId: string, clientId: string, name = clientId): ClientRecord {
  const client: Client = {
    tenantId, clientId, name, tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null,
    tlsClientAuthSubjectDn: null, accessTokenLifetime: null, disabled: false, customClaims: {}, createdAt: 0, updatedAt: 0,
  };
  return {
    client,
    secrets: [{ id: `s-${clientId}`, tenantId, clientId, hash: hashSecret(`secret-${clientId}`), createdAt: 0, lastUsedAt: null }],
    grants: [{ id: `g-${clientId}`, tenantId, clientId, apiId: 'api-1', audience: 'https://api', scopes: ['read'], customClaims: {}, createdAt: 0 }],
  };
}

/** A store of tenants and clients in memory that counts (and can hold or fail) loads. */
function fakeStore(tenants: string[], clients: Record<string, string[]>) {
  const loads: string[] = [];
  const names = new Map<string, string>();
  let failing = false;
  let gate: Promise<void> | null = null;
  const store = {
    async loadTenantRecord(id: string): Promise<TenantRecord | null> {
      loads.push(`tenant:${id}`);
      if (gate !== null) await gate;
      if (failing) throw new Error('store down');
      if (!tenants.includes(id)) return null;
      return {
        tenant: { id, name: names.get(id) ?? id, signingAlg: 'ES256', accessTokenLifetime: null, createdAt: 0 },
        apis: [{ id: 'api-1', tenantId: id, identifier: 'https://api', name: 'api', scopes: [{ value: 'read' }], accessTokenLifetime: null, tokenFormat: 'jwt', introspectors: [], createdAt: 0, updatedAt: 0 }],
        keys: [],
        federations: [],
      };
    },
    async loadClientRecord(tenantId: string, clientId: string): Promise<ClientRecord | null> {
      loads.push(`client:${tenantId}/${clientId}`);
      if (gate !== null) await gate;
      if (failing) throw new Error('store down');
      if (!(clients[tenantId] ?? []).includes(clientId)) return null;
      return clientRecord(tenantId, clientId, names.get(`${tenantId}/${clientId}`));
    },
  } as unknown as Store;
  return {
    store,
    loads,
    rename(key: string, name: string) {
      names.set(key, name);
    },
    fail(value: boolean) {
      failing = value;
    },
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return () => {
        gate = null;
        release();
      };
    },
  };
}

function registryOn(store: Store, limits = {}, events?: CacheEvents) {
  return new TenantRegistry({ store, publicUrl: 'http://x', masterKey: new MasterKey(Buffer.alloc(32)), now: () => 0, limits, ...(events ? { events } : {}) });
}

describe('TenantRegistry', () => {
  it('loads a tenant and a client once, shared by concurrent requests, and answers from memory after that', async () => {
    const fake = fakeStore(['acme'], { acme: ['c1'] });
    const registry = registryOn(fake.store);
    const [a, b] = await Promise.all([registry.get('acme'), registry.get('acme')]);
    expect(a).toBe(b);
    expect(a?.issuer).toBe('http://x/t/acme');
    const [x, y] = await Promise.all([a!.client('c1'), registry.client('acme', 'c1')]);
    expect(x).toBe(y);
    expect(x?.secrets[0]?.verify('secret-c1')).toBe(true);
    expect(x?.secrets[0]?.verify('wrong')).toBe(false);
    expect(x?.grants.get('api-1')?.scopeSet.has('read')).toBe(true);
    await registry.get('acme');
    await registry.client('acme', 'c1');
    expect(fake.loads).toEqual(['tenant:acme', 'client:acme/c1']);
  });

  it('asks the store about an unknown tenant once, remembers it within its bound until the feed says it was created, and never asks about impossible ones', async () => {
    const tenants: string[] = [];
    const fake = fakeStore(tenants, {});
    const registry = registryOn(fake.store, { maxUnknownTenants: 2 });
    for (let i = 0; i < 3; i++) expect(await registry.get('nosuch')).toBeNull();
    expect(fake.loads).toEqual(['tenant:nosuch']);
    for (const id of ['UPPER', '../etc', 'x'.repeat(200), '']) expect(await registry.get(id)).toBeNull();
    expect(await registry.client('acme', 'x'.repeat(300))).toBeNull();
    expect(fake.loads).toHaveLength(1);
    // Bounded: two more made-up ids push the first out.
    await registry.get('junk-1');
    await registry.get('junk-2');
    await registry.get('nosuch');
    expect(fake.loads.filter((l) => l === 'tenant:nosuch')).toHaveLength(2);
    // Created (the change feed says so): found at once.
    tenants.push('nosuch');
    await registry.apply([{ tenantId: 'nosuch', kind: 'tenant', entityId: 'nosuch' }], { wait: true });
    expect((await registry.get('nosuch'))?.tenant.id).toBe('nosuch');
  });

  it('does not collapse on a cyclic working set just over the bound (scan-resistant eviction)', async () => {
    const ids = Array.from({ length: 11 }, (_, i) => `t${i}`);
    const fake = fakeStore(ids, {});
    const registry = registryOn(fake.store, { maxTenants: 10 });
    for (let round = 0; round < 5; round++) for (const id of ids) await registry.get(id);
    fake.loads.length = 0;
    for (let round = 0; round < 10; round++) for (const id of ids) await registry.get(id);
    // Plain LRU misses on every one of the 110 visits; most hit here.
    expect(fake.loads.length).toBeLessThan(110 / 2);
    expect(registry.size.tenants).toBeLessThanOrEqual(10);
  });

  it('bounds the cached tenants by their estimated bytes as well as by count', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `t${i}`);
    const fake = fakeStore(ids, {});
    const registry = registryOn(fake.store, { maxTenants: 1000, maxTenantBytes: 20_000 });
    for (const id of ids) await registry.get(id);
    expect(registry.size.tenants).toBeGreaterThan(0);
    expect(registry.size.tenants).toBeLessThan(50);
  });

  it('remembers unknown clients, within their own bound', async () => {
    const fake = fakeStore(['acme'], { acme: [] });
    const registry = registryOn(fake.store, { maxUnknownClients: 2 });
    for (const id of ['u1', 'u2', 'u3']) expect(await registry.client('acme', id)).toBeNull();
    expect(registry.size.unknownClients).toBe(2);
    await registry.client('acme', 'u3');
    expect(fake.loads.filter((l) => l === 'client:acme/u3')).toHaveLength(1);
    await registry.client('acme', 'u1'); // evicted: asked again
    expect(fake.loads.filter((l) => l === 'client:acme/u1')).toHaveLength(2);
  });

  it('keeps at most maxClients clients: a newcomer asked for more often than the least recently used one takes its place', async () => {
    const fake = fakeStore(['acme'], { acme: ['c1', 'c2', 'c3'] });
    const evicted: number[] = [];
    const events: CacheEvents = { hit() {}, miss() {}, load() {}, evict: (_cache, count) => evicted.push(count), feedLag() {} };
    const registry = registryOn(fake.store, { maxClients: 2 }, events);
    await registry.client('acme', 'c1');
    await registry.client('acme', 'c2');
    await registry.client('acme', 'c1'); // c2 is now the least recently used
    await registry.client('acme', 'c3'); // asked for once, as often as c2: not admitted
    expect(registry.size.clients).toBe(2);
    expect(fake.loads.filter((l) => l === 'client:acme/c3')).toHaveLength(1);
    await registry.client('acme', 'c3'); // asked for again: replaces c2
    expect(registry.size.clients).toBe(2);
    expect(evicted).toEqual([1, 1]);
    fake.loads.length = 0;
    await registry.client('acme', 'c1');
    await registry.client('acme', 'c2');
    expect(fake.loads).toEqual(['client:acme/c2']);
  });

  it('a change in tenant A leaves tenant B warm', async () => {
    const fake = fakeStore(['a', 'b'], { a: ['x'], b: ['y'] });
    const registry = registryOn(fake.store);
    const b = await registry.get('b');
    const y = await registry.client('b', 'y');
    await registry.get('a');
    fake.loads.length = 0;
    await registry.apply([{ tenantId: 'a', kind: 'api', entityId: 'api-1' }, { tenantId: 'a', kind: 'client', entityId: 'x' }], { wait: true });
    expect(await registry.get('b')).toBe(b);
    expect(await registry.client('b', 'y')).toBe(y);
    expect(fake.loads).toEqual(['tenant:a']); // x was not cached: nothing to reload
  });

  it('a change to client X leaves client Y warm, and X is reloaded before the change returns', async () => {
    const fake = fakeStore(['t'], { t: ['x', 'y'] });
    const registry = registryOn(fake.store);
    const tenant = await registry.get('t');
    await registry.client('t', 'x');
    const y = await registry.client('t', 'y');
    fake.loads.length = 0;
    fake.rename('t/x', 'renamed');
    await registry.apply([{ tenantId: 't', kind: 'client', entityId: 'x' }], { wait: true });
    expect(fake.loads).toEqual(['client:t/x']);
    expect((await registry.client('t', 'x'))?.client.name).toBe('renamed');
    expect(await registry.client('t', 'y')).toBe(y);
    expect(await registry.get('t')).toBe(tenant);
  });

  it("another replica's change reloads in the background while the old entry serves", async () => {
    const fake = fakeStore(['t'], { t: ['x'] });
    const registry = registryOn(fake.store);
    const old = await registry.client('t', 'x');
    const release = fake.hold();
    fake.rename('t/x', 'new');
    await registry.apply([{ tenantId: 't', kind: 'client', entityId: 'x' }], { wait: false });
    // The reload is held: readers get the old entry at once, not a wait.
    expect(await registry.client('t', 'x')).toBe(old);
    release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await registry.client('t', 'x'))?.client.name).toBe('new');
  });

  it('a failed reload keeps the old entry', async () => {
    const fake = fakeStore(['t'], { t: ['x'] });
    const registry = registryOn(fake.store);
    const tenant = await registry.get('t');
    const old = await registry.client('t', 'x');
    fake.fail(true);
    await registry.apply([{ tenantId: 't', kind: 'client', entityId: 'x' }, { tenantId: 't', kind: 'api', entityId: 'api-1' }], { wait: true });
    expect(await registry.client('t', 'x')).toBe(old);
    expect(await registry.get('t')).toBe(tenant);
  });

  it('a load that overlaps a change is not trusted: it loads again', async () => {
    const fake = fakeStore(['t'], { t: ['x'] });
    const registry = registryOn(fake.store);
    const release = fake.hold();
    const loading = registry.client('t', 'x');
    await new Promise((resolve) => setImmediate(resolve));
    fake.rename('t/x', 'changed');
    const applied = registry.apply([{ tenantId: 't', kind: 'client', entityId: 'x' }], { wait: true });
    release();
    await applied;
    expect((await loading)?.client.name).toBe('changed');
    expect((await registry.client('t', 'x'))?.client.name).toBe('changed');
  });

  it('a deleted tenant takes its clients with it; a new client replaces a remembered unknown one', async () => {
    const tenants = ['t'];
    const clients: Record<string, string[]> = { t: ['x'] };
    const fake = fakeStore(tenants, clients);
    const registry = registryOn(fake.store);
    await registry.get('t');
    await registry.client('t', 'x');
    expect(await registry.client('t', 'later')).toBeNull();
    clients['t']!.push('later');
    await registry.apply([{ tenantId: 't', kind: 'client', entityId: 'later' }], { wait: true });
    expect(await registry.client('t', 'later')).not.toBeNull();
    tenants.length = 0;
    clients['t'] = [];
    await registry.apply([{ tenantId: 't', kind: 'tenant', entityId: 't' }], { wait: true });
    expect(registry.size).toEqual({ tenants: 0, clients: 0, unknownClients: 0, signers: 0 });
    expect(await registry.get('t')).toBeNull();
  });

  it('stops serving cached entries once the change feed has been unreadable for longer than serveStaleFor', async () => {
    const fake = fakeStore(['t'], { t: ['x'] });
    const registry = registryOn(fake.store, { serveStaleFor: 1000 });
    await registry.client('t', 'x');
    registry.markSynced(Date.now() - 500);
    expect(await registry.client('t', 'x')).not.toBeNull();
    registry.markSynced(Date.now() - 1500);
    await expect(registry.client('t', 'x')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(registry.get('t')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  describe('signing keys', () => {
    const masterKey = new MasterKey(Buffer.alloc(32));

    async function key(tenantId: string, status: SigningKey['status']): Promise<SigningKey> {
      const generated = await generateSigningKey('ES256', masterKey);
      return { kid: generated.kid, tenantId, alg: 'ES256', status, publicJwk: generated.publicJwk as Record<string, unknown>, privateKeyEncrypted: generated.privateKeyEncrypted, createdAt: 0, activatedAt: 0, retiredAt: null, publishUntil: null };
    }

    /** Tenants whose keys can be swapped; counts the loads. */
    function keyedStore(keys: Map<string, SigningKey[]>) {
      const loads: string[] = [];
      const store = {
        async loadTenantRecord(id: string): Promise<TenantRecord | null> {
          loads.push(id);
          const tenantKeys = keys.get(id);
          if (tenantKeys === undefined) return null;
          return { tenant: { id, name: id, signingAlg: 'ES256', accessTokenLifetime: null, createdAt: 0 }, apis: [], keys: tenantKeys, federations: [] } as unknown as TenantRecord;
        },
      } as unknown as Store;
      return { store, loads };
    }

    function registryWith(store: Store, limits = {}, events?: CacheEvents) {
      return new TenantRegistry({ store, publicUrl: 'http://x', masterKey, now: () => 0, limits, ...(events ? { events } : {}) });
    }

    it('a loaded tenant has unsealed nothing; its signer is unsealed on first use, once, and outlives the tenant entry', async () => {
      const keys = new Map([['a', [await key('a', 'active'), await key('a', 'next')]], ['b', [await key('b', 'active')]]]);
      const fake = keyedStore(keys);
      const counted: string[] = [];
      const events: CacheEvents = { hit: (c) => counted.push(`hit:${c}`), miss: (c) => counted.push(`miss:${c}`), load() {}, evict() {}, feedLag() {} };
      const registry = registryWith(fake.store, { maxTenants: 1 }, events);
      const a = (await registry.get('a'))!;
      expect(registry.size.signers).toBe(0);
      // The JWKS is rendered from the stored public JWKs, without importing or unsealing anything.
      expect(JSON.parse(a.jwks.body).keys.map((k: { kid: string }) => k.kid)).toEqual(keys.get('a')!.map((k) => k.kid));
      expect(JSON.parse(a.jwks.body).keys[0]).not.toHaveProperty('d');
      expect(registry.size.signers).toBe(0);
      const signer = a.signer!;
      expect(a.signer).toBe(signer);
      expect(registry.size.signers).toBe(1);
      // Evicted from the tenant cache (bound 1) and loaded again: the signer is still there.
      await registry.get('b');
      await registry.get('b');
      await registry.get('b');
      const again = (await registry.get('a'))!;
      expect(again).not.toBe(a);
      expect(again.signer).toBe(signer);
      expect(counted.filter((c) => c === 'miss:signer')).toHaveLength(1);
    });

    it("the public key of a published key is imported on first use, and matches the signer's", async () => {
      const active = await key('a', 'active');
      const next = await key('a', 'next');
      const registry = registryWith(keyedStore(new Map([['a', [active, next]]])).store);
      const a = (await registry.get('a'))!;
      const token = await a.signer!.sign({ sub: 'x' });
      const published = a.publishedKeys.get(active.kid)!;
      expect(published.key.type).toBe('public');
      expect(published.key.export({ format: 'jwk' })).toMatchObject({ x: active.publicJwk['x'], y: active.publicJwk['y'] });
      expect(a.publishedKeys.get(next.kid)!.key.export({ format: 'jwk' })).toMatchObject({ x: next.publicJwk['x'] });
      expect(token.split('.')).toHaveLength(3);
    });

    it('a rotation drops the signer of the key that no longer signs', async () => {
      const first = await key('a', 'active');
      const second = await key('a', 'next');
      const keys = new Map([['a', [first, second]]]);
      const registry = registryWith(keyedStore(keys).store);
      const before = (await registry.get('a'))!.signer!;
      expect(before.kid).toBe(first.kid);
      keys.set('a', [{ ...first, status: 'retired' }, { ...second, status: 'active' }]);
      await registry.apply([{ tenantId: 'a', kind: 'key', entityId: second.kid }], { wait: true });
      const after = (await registry.get('a'))!;
      expect(after.signer!.kid).toBe(second.kid);
      expect(registry.size.signers).toBe(1);
    });

    it('bounds the unsealed signers by count, scan-resistant like the other caches', async () => {
      const ids = Array.from({ length: 12 }, (_, i) => `t${i}`);
      const keys = new Map(await Promise.all(ids.map(async (id) => [id, [await key(id, 'active')]] as [string, SigningKey[]])));
      const registry = registryWith(keyedStore(keys).store, { maxSigners: 4 });
      for (let round = 0; round < 3; round++) for (const id of ids) void (await registry.get(id))!.signer;
      expect(registry.size.signers).toBeLessThanOrEqual(4);
      expect(registry.size.tenants).toBe(12);
    });
  });
});
