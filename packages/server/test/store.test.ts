import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, StoreConflictError, StoreInvalidCursorError, StoreUnavailableError } from '../src/store/index.js';
import type { CreateStoreOptions } from '../src/store/index.js';
import { openPostgresStore } from '../src/store/postgres.js';
import type {
  Api,
  Client,
  ClientSecret,
  Federation,
  Grant,
  NewAuditEntry,
  OpaqueToken,
  SigningKey,
  Store,
  Tenant,
} from '../src/store/types.js';
import { createTestDatabase, testDatabaseUrl } from './helpers/postgres.js';
import { makeTempDir } from './helpers/temp-dir.js';

// ------------------------------------------------------------------ backends

interface FreshDatabase {
  options: CreateStoreOptions;
  cleanup(): Promise<void>;
}

interface Backend {
  name: string;
  kind: Store['kind'];
  /** An empty database of this kind (not yet migrated). */
  fresh(): Promise<FreshDatabase>;
}

const sqliteBackend: Backend = {
  name: 'SQLite',
  kind: 'sqlite',
  async fresh() {
    const dir = await makeTempDir();
    return { options: { dataDir: dir.path }, cleanup: dir.cleanup };
  },
};

const postgresBackend: Backend = {
  name: 'PostgreSQL',
  kind: 'postgres',
  async fresh() {
    const database = await createTestDatabase();
    if (database === null) throw new Error('TESSERA_TEST_DATABASE_URL not set');
    const dir = await makeTempDir();
    return {
      options: { databaseUrl: database.url, dataDir: dir.path },
      async cleanup() {
        await database.drop();
        await dir.cleanup();
      },
    };
  },
};

const postgresEnabled = testDatabaseUrl() !== undefined;
const backends = postgresEnabled ? [sqliteBackend, postgresBackend] : [sqliteBackend];

// ------------------------------------------------------------------ fixtures

const T0 = 1_700_000_000_000;

function tenant(overrides: Partial<Tenant> = {}): Tenant {
  return { id: `t-${randomUUID().slice(0, 8)}`, name: 'Tenant', signingAlg: 'ES256', accessTokenLifetime: null, tokenQuotaPerMinute: null, trustDomain: null, dpopNonceRequired: false, createdAt: T0, ...overrides };
}

function client(tenantId: string, overrides: Partial<Client> = {}): Client {
  return {
    tenantId,
    clientId: `c-${randomUUID()}`,
    name: 'Service',
    tokenEndpointAuthMethod: 'client_secret_basic',
    jwks: null,
    jwksUri: null,
    tlsClientAuthSubjectDn: null,
    accessTokenLifetime: null,
    tokenQuotaPerMinute: null,
    dpopBoundAccessTokens: false,
    txnTokenService: false,
    disabled: false,
    customClaims: {},
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function secret(c: Client, overrides: Partial<ClientSecret> = {}): ClientSecret {
  return {
    id: `s-${randomUUID()}`,
    tenantId: c.tenantId,
    clientId: c.clientId,
    hash: `scrypt$${randomUUID()}`,
    createdAt: T0,
    lastUsedAt: null,
    ...overrides,
  };
}

function api(tenantId: string, overrides: Partial<Api> = {}): Api {
  const id = `a-${randomUUID()}`;
  return {
    id,
    tenantId,
    identifier: `https://${id}.example`,
    name: 'API',
    scopes: [{ value: 'read', description: 'Read things' }, { value: 'write' }],
    accessTokenLifetime: null,
    tokenFormat: 'jwt',
    introspectors: [],
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function grant(c: Client, a: Api, overrides: Partial<Grant> = {}): Grant {
  return {
    id: `g-${randomUUID()}`,
    tenantId: c.tenantId,
    clientId: c.clientId,
    apiId: a.id,
    audience: a.identifier,
    scopes: ['read'],
    customClaims: {},
    createdAt: T0,
    ...overrides,
  };
}

function signingKey(tenantId: string, overrides: Partial<SigningKey> = {}): SigningKey {
  return {
    kid: `k-${randomUUID()}`,
    tenantId,
    alg: 'ES256',
    status: 'active',
    publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
    privateKeyEncrypted: `enc:${randomUUID()}`,
    createdAt: T0,
    activatedAt: T0,
    retiredAt: null,
    publishUntil: null,
    ...overrides,
  };
}

function federation(tenantId: string, overrides: Partial<Federation> = {}): Federation {
  return {
    id: `f-${randomUUID()}`,
    tenantId,
    name: 'GitHub Actions',
    kind: 'workload',
    issuer: 'https://token.actions.githubusercontent.com',
    jwksUri: null,
    jwks: { keys: [{ kty: 'EC', kid: 'gh' }] },
    audience: 'tessera',
    rules: [{ subject: 'repo:acme/*', claims: { ref: 'refs/heads/main' }, clientId: 'ci' }],
    exchangeRules: [],
    claimMappings: {},
    replayProtection: { mode: 'off' },
    createdAt: T0,
    ...overrides,
  };
}

function opaqueToken(c: Client, overrides: Partial<OpaqueToken> = {}): OpaqueToken {
  return {
    tokenHash: `h-${randomUUID()}`,
    tenantId: c.tenantId,
    clientId: c.clientId,
    jti: randomUUID(),
    claims: { scope: 'read', aud: 'https://api.example' },
    expiresAt: T0 + 3_600_000,
    revoked: false,
    ...overrides,
  };
}

function audit(tenantId: string, action: string, targetId = 'x', actor = 'admin-client'): NewAuditEntry {
  return { tenantId, actor, action, targetType: action.split('.')[0] ?? 'thing', targetId, details: { note: action } };
}

async function allAudit(store: Store, tenantId: string) {
  return (await store.listAudit(tenantId, { limit: 1000 })).items;
}

/** A tenant with one client, one API and one grant. */
async function seedTenant(store: Store) {
  const t = tenant();
  await store.createTenant(t);
  const c = client(t.id);
  const s = secret(c);
  await store.createClient(c, [s]);
  const a = api(t.id);
  await store.createApi(a);
  const g = grant(c, a);
  await store.createGrant(g);
  return { t, c, s, a, g };
}

// --------------------------------------------------------------------- suite

describe.each(backends)('store ($name)', (backend) => {
  let store: Store;
  let db: FreshDatabase;
  const extra: FreshDatabase[] = [];

  async function freshStore(): Promise<{ store: Store; db: FreshDatabase }> {
    const fresh = await backend.fresh();
    extra.push(fresh);
    return { store: await createStore(fresh.options), db: fresh };
  }

  beforeAll(async () => {
    db = await backend.fresh();
    store = await createStore(db.options);
  });

  afterAll(async () => {
    await store?.close();
    await db?.cleanup();
    for (const fresh of extra) await fresh.cleanup();
  });

  it('selects the right backend and answers ping', async () => {
    expect(store.kind).toBe(backend.kind);
    await expect(store.ping()).resolves.toBeUndefined();
  });

  describe('tenants', () => {
    it('lists tenant ids page by page in byte order (what JavaScript sorts strings by), whatever the collation', async () => {
      const ids = ['ids-b', 'ids-a-1', 'ids-a', 'ids-0', 'ids-a0', 'ids-z'];
      for (const id of ids) await store.createTenant(tenant({ id }));
      const all: string[] = [];
      for (let after: string | null = null; ;) {
        const page = await store.listTenantIds(after, 2);
        expect(page.length).toBeLessThanOrEqual(2);
        all.push(...page);
        if (page.length < 2) break;
        after = page[page.length - 1] as string;
      }
      expect(all).toEqual([...all].sort());
      expect(new Set(all).size).toBe(all.length);
      expect(all.filter((id) => id.startsWith('ids-'))).toEqual([...ids].sort());
      expect(await store.listTenantIds('ids-a-1', 2)).toEqual(['ids-a0', 'ids-b']);
      for (const id of ids) await store.deleteTenant(id);
    });

    it('creates, reads, lists, updates and deletes', async () => {
      const t = tenant({ accessTokenLifetime: 600, tokenQuotaPerMinute: 1200, trustDomain: 'https://trust.example', dpopNonceRequired: true });
      await store.createTenant(t);
      expect(await store.getTenant(t.id)).toEqual(t);
      expect(await store.getTenant('missing')).toBeNull();
      expect((await store.listTenants()).map((x) => x.id)).toContain(t.id);

      const updated = await store.updateTenant(t.id, { name: 'Renamed', signingAlg: 'EdDSA', accessTokenLifetime: null });
      expect(updated).toEqual({ ...t, name: 'Renamed', signingAlg: 'EdDSA', accessTokenLifetime: null });
      expect(await store.getTenant(t.id)).toEqual(updated);
      expect(await store.updateTenant(t.id, {})).toEqual(updated);
      expect(await store.updateTenant('missing', { name: 'x' })).toBeNull();

      expect(await store.deleteTenant(t.id)).toBe(true);
      expect(await store.getTenant(t.id)).toBeNull();
      expect(await store.deleteTenant(t.id)).toBe(false);
    });

    it('rejects a duplicate id with StoreConflictError', async () => {
      const t = tenant();
      await store.createTenant(t);
      const error = await store.createTenant(t).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreConflictError);
      expect((error as StoreConflictError).code).toBe('STORE_CONFLICT');
      expect((error as StoreConflictError).kind).toBe('unique');
    });
  });

  describe('clients and secrets', () => {
    it('round-trips every field, including JSON and booleans', async () => {
      const t = tenant();
      await store.createTenant(t);
      const c = client(t.id, {
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', kid: 'k1' }] },
        jwksUri: 'https://svc.example/jwks',
        tlsClientAuthSubjectDn: 'CN=svc',
        accessTokenLifetime: 300,
        tokenQuotaPerMinute: 90,
        dpopBoundAccessTokens: true,
        txnTokenService: true,
        disabled: true,
        createdAt: T0 + 1,
        updatedAt: T0 + 2,
      });
      const secrets = [secret(c, { createdAt: T0 }), secret(c, { createdAt: T0 + 5, lastUsedAt: T0 + 6 })];
      await store.createClient(c, secrets);
      expect(await store.getClient(t.id, c.clientId)).toEqual(c);
      expect(await store.getClient('other', c.clientId)).toBeNull();
      expect(await store.listClientSecrets(t.id, c.clientId)).toEqual(secrets);
    });

    it('updates a client and stamps updatedAt', async () => {
      const t = tenant();
      await store.createTenant(t);
      const c = client(t.id);
      await store.createClient(c, []);
      const before = Date.now();
      const updated = await store.updateClient(t.id, c.clientId, { name: 'New', disabled: true, jwks: { keys: [] } });
      expect(updated).toMatchObject({ name: 'New', disabled: true, jwks: { keys: [] }, createdAt: T0 });
      expect(updated!.updatedAt).toBeGreaterThanOrEqual(before);
      const explicit = await store.updateClient(t.id, c.clientId, { jwks: null, updatedAt: T0 + 99 });
      expect(explicit).toMatchObject({ jwks: null, updatedAt: T0 + 99, name: 'New' });
      const claims = { tenant_id: 'acme', roles: ['a', 'b'], tier: 3, nested: { ok: true } };
      expect(await store.updateClient(t.id, c.clientId, { customClaims: claims })).toMatchObject({ customClaims: claims, name: 'New' });
      expect(await store.updateClient(t.id, c.clientId, { customClaims: {} })).toMatchObject({ customClaims: {} });
      expect(await store.updateClient(t.id, 'missing', { name: 'x' })).toBeNull();
    });

    it('adds, touches and deletes secrets', async () => {
      const { t, c, s } = await seedTenant(store);
      const second = secret(c, { createdAt: T0 + 10 });
      await store.addClientSecret(second);
      expect((await store.listClientSecrets(t.id, c.clientId)).map((x) => x.id)).toEqual([s.id, second.id]);

      await store.touchClientSecrets([{ secretId: s.id, at: T0 + 100 }]);
      await store.touchClientSecrets([{ secretId: s.id, at: T0 + 50 }]); // older: ignored
      await store.touchClientSecrets([]);
      const [touched] = await store.listClientSecrets(t.id, c.clientId);
      expect(touched?.lastUsedAt).toBe(T0 + 100);

      expect(await store.deleteClientSecret(t.id, c.clientId, s.id)).toBe(true);
      expect(await store.deleteClientSecret(t.id, c.clientId, s.id)).toBe(false);
      expect((await store.listClientSecrets(t.id, c.clientId)).map((x) => x.id)).toEqual([second.id]);
    });

    it('touches many secrets in one call, each only forward', async () => {
      const { t, c, s } = await seedTenant(store);
      // More than one statement's worth (500 a statement), so the slices meet.
      const many = Array.from({ length: 1203 }, (_, i) => secret(c, { createdAt: T0 + i, lastUsedAt: i % 2 === 0 ? T0 + 5000 : null }));
      for (const m of many) await store.addClientSecret(m);
      await store.touchClientSecrets([{ secretId: s.id, at: T0 + 200 }, ...many.map((m, i) => ({ secretId: m.id, at: T0 + 1000 + i }))]);
      const byId = new Map((await store.listClientSecrets(t.id, c.clientId)).map((x) => [x.id, x.lastUsedAt]));
      expect(byId.get(s.id)).toBe(T0 + 200);
      // Even ones were used later (T0 + 5000) than this touch says: kept.
      many.forEach((m, i) => expect(byId.get(m.id)).toBe(i % 2 === 0 ? T0 + 5000 : T0 + 1000 + i));
      // An unknown secret (deleted since) is no error and touches nothing else.
      await store.touchClientSecrets([{ secretId: 'gone', at: T0 + 9000 }]);
      expect((await store.listClientSecrets(t.id, c.clientId)).find((x) => x.id === s.id)?.lastUsedAt).toBe(T0 + 200);
    });

    it('never puts a secret hash into a conflict error', async () => {
      const { c, s } = await seedTenant(store);
      const error = await store.addClientSecret({ ...s, clientId: c.clientId }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreConflictError);
      expect(String((error as Error).message)).not.toContain(s.hash);
      expect(JSON.stringify(error)).not.toContain(s.hash);
    });

    it('rejects a secret for a client that does not exist', async () => {
      const t = tenant();
      await store.createTenant(t);
      const error = await store.addClientSecret(secret(client(t.id))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreConflictError);
      expect((error as StoreConflictError).kind).toBe('reference');
    });
  });

  describe('APIs and grants', () => {
    it('creates, reads and updates APIs; a new identifier follows into grants', async () => {
      const { t, c, a, g } = await seedTenant(store);
      expect(await store.getApi(t.id, a.id)).toEqual(a);
      expect(await store.getApiByIdentifier(t.id, a.identifier)).toEqual(a);
      expect(await store.getApiByIdentifier(t.id, 'nope')).toBeNull();

      const updated = await store.updateApi(t.id, a.id, {
        identifier: 'https://renamed.example',
        tokenFormat: 'opaque',
        introspectors: [c.clientId],
        scopes: [{ value: 'admin' }],
        accessTokenLifetime: 120,
      });
      expect(updated).toMatchObject({
        identifier: 'https://renamed.example',
        tokenFormat: 'opaque',
        introspectors: [c.clientId],
        scopes: [{ value: 'admin' }],
        accessTokenLifetime: 120,
      });
      expect(await store.getGrant(t.id, g.id)).toEqual({ ...g, audience: 'https://renamed.example' });
      expect(await store.getApiByIdentifier(t.id, a.identifier)).toBeNull();
      expect(await store.updateApi(t.id, 'missing', { name: 'x' })).toBeNull();
    });

    it('keeps identifiers unique per tenant', async () => {
      const { t, a } = await seedTenant(store);
      await expect(store.createApi(api(t.id, { identifier: a.identifier }))).rejects.toBeInstanceOf(StoreConflictError);
      const other = api(t.id);
      await store.createApi(other);
      await expect(store.updateApi(t.id, other.id, { identifier: a.identifier })).rejects.toBeInstanceOf(StoreConflictError);
      // Another tenant may use the same identifier.
      const t2 = tenant();
      await store.createTenant(t2);
      await expect(store.createApi(api(t2.id, { identifier: a.identifier }))).resolves.toBeUndefined();
    });

    it('allows one grant per client and API, and filters grants', async () => {
      const { t, c, a, g } = await seedTenant(store);
      await expect(store.createGrant(grant(c, a))).rejects.toBeInstanceOf(StoreConflictError);
      const a2 = api(t.id);
      await store.createApi(a2);
      const c2 = client(t.id);
      await store.createClient(c2, []);
      const g2 = grant(c, a2, { scopes: ['read', 'write'] });
      const g3 = grant(c2, a2);
      await store.createGrant(g2);
      await store.createGrant(g3);

      expect(await store.getGrant(t.id, g2.id)).toEqual(g2);
      const ids = async (filter: { clientId?: string; audience?: string }) =>
        (await store.listGrants(t.id, filter, { limit: 100 })).items.map((x) => x.id).sort();
      expect(await ids({})).toEqual([g.id, g2.id, g3.id].sort());
      expect(await ids({ clientId: c.clientId })).toEqual([g.id, g2.id].sort());
      expect(await ids({ audience: a2.identifier })).toEqual([g2.id, g3.id].sort());
      expect(await ids({ clientId: c2.clientId, audience: a2.identifier })).toEqual([g3.id]);

      expect(await store.deleteGrant(t.id, g.id)).toBe(true);
      expect(await store.deleteGrant(t.id, g.id)).toBe(false);
      expect(await store.getGrant(t.id, g.id)).toBeNull();
    });

    it('rejects a grant for a missing client or API', async () => {
      const { t, c, a } = await seedTenant(store);
      const ghostClient = client(t.id);
      const ghostApi = api(t.id);
      await expect(store.createGrant(grant(ghostClient, a))).rejects.toBeInstanceOf(StoreConflictError);
      await expect(store.createGrant(grant(c, ghostApi))).rejects.toBeInstanceOf(StoreConflictError);
    });
  });

  describe('signing keys and federations', () => {
    it('inserts, lists, updates and deletes signing keys', async () => {
      const t = tenant();
      await store.createTenant(t);
      const k1 = signingKey(t.id, { createdAt: T0 });
      const k2 = signingKey(t.id, { status: 'next', activatedAt: null, createdAt: T0 + 1, alg: 'RS256' });
      await store.insertSigningKey(k1);
      await store.insertSigningKey(k2);
      expect(await store.listSigningKeys(t.id)).toEqual([k1, k2]);
      await expect(store.insertSigningKey(k1)).rejects.toBeInstanceOf(StoreConflictError);

      await store.updateSigningKey(t.id, k1.kid, { status: 'retired', retiredAt: T0 + 10, publishUntil: T0 + 20 });
      await store.updateSigningKey(t.id, k2.kid, { status: 'active', activatedAt: T0 + 10 });
      expect(await store.listSigningKeys(t.id)).toEqual([
        { ...k1, status: 'retired', retiredAt: T0 + 10, publishUntil: T0 + 20 },
        { ...k2, status: 'active', activatedAt: T0 + 10 },
      ]);
      await store.deleteSigningKey(t.id, k1.kid);
      expect((await store.listSigningKeys(t.id)).map((k) => k.kid)).toEqual([k2.kid]);
    });

    it('creates, reads, lists and deletes federations', async () => {
      const t = tenant();
      await store.createTenant(t);
      const f1 = federation(t.id);
      const f2 = federation(t.id, { jwks: null, jwksUri: 'https://issuer.example/jwks', audience: null, createdAt: T0 + 1 });
      // A subject federation found by discovery, with every setting of migration 009.
      const f3 = federation(t.id, {
        kind: 'subject', jwks: null, jwksUri: null, audience: null, rules: [],
        exchangeRules: [{ audience: 'api://orders', clients: ['svc'], claims: { tid: { oneOf: ['a', 'b'] } } }],
        claimMappings: { email: 'preferred_username' },
        replayProtection: { mode: 'max-age', maxAgeSeconds: 300 },
        createdAt: T0 + 2,
      });
      await store.createFederation(f3);
      expect(await store.getFederation(t.id, f3.id)).toEqual(f3);
      await store.deleteFederation(t.id, f3.id);
      await store.createFederation(f1);
      await store.createFederation(f2);
      expect(await store.getFederation(t.id, f1.id)).toEqual(f1);
      expect(await store.listFederations(t.id)).toEqual([f1, f2]);
      expect(await store.deleteFederation(t.id, f1.id)).toBe(true);
      expect(await store.deleteFederation(t.id, f1.id)).toBe(false);
      expect(await store.getFederation(t.id, f1.id)).toBeNull();
    });
  });

  describe('cascades', () => {
    it('deleteClient removes its secrets and grants (its tokens end through the state store)', async () => {
      const { t, c, a, g } = await seedTenant(store);
      const other = client(t.id);
      await store.createClient(other, [secret(other)]);
      const otherGrant = grant(other, a);
      await store.createGrant(otherGrant);

      expect(await store.deleteClient(t.id, c.clientId)).toBe(true);
      expect(await store.getClient(t.id, c.clientId)).toBeNull();
      expect(await store.listClientSecrets(t.id, c.clientId)).toEqual([]);
      expect(await store.getGrant(t.id, g.id)).toBeNull();
      // Others untouched.
      expect(await store.getGrant(t.id, otherGrant.id)).toEqual(otherGrant);
      expect(await store.listClientSecrets(t.id, other.clientId)).toHaveLength(1);
      expect(await store.deleteClient(t.id, c.clientId)).toBe(false);
    });

    it('deleteApi removes its grants', async () => {
      const { t, a, g } = await seedTenant(store);
      expect(await store.deleteApi(t.id, a.id)).toBe(true);
      expect(await store.getApi(t.id, a.id)).toBeNull();
      expect(await store.getGrant(t.id, g.id)).toBeNull();
      expect(await store.deleteApi(t.id, a.id)).toBe(false);
    });

    it('deleteTenant removes everything in the tenant and nothing else', async () => {
      const { t, c } = await seedTenant(store);
      const keep = await seedTenant(store);
      await store.insertSigningKey(signingKey(t.id));
      await store.createFederation(federation(t.id));
      await store.updateTenant(t.id, { name: 'audited' }, audit(t.id, 'tenant.update', t.id));

      expect(await store.deleteTenant(t.id, audit(t.id, 'tenant.delete', t.id))).toBe(true);
      expect(await store.loadTenantRecord(t.id)).toBeNull();
      expect(await store.loadClientRecord(t.id, c.clientId)).toBeNull();
      expect((await store.listClients(t.id, { limit: 10 })).items).toEqual([]);
      expect((await store.listApis(t.id, { limit: 10 })).items).toEqual([]);
      expect((await store.listGrants(t.id, {}, { limit: 10 })).items).toEqual([]);
      expect(await store.listClientSecrets(t.id, c.clientId)).toEqual([]);
      expect(await store.listSigningKeys(t.id)).toEqual([]);
      expect(await store.listFederations(t.id)).toEqual([]);
      // The old audit history went with the tenant; the deletion itself is recorded.
      expect((await allAudit(store, t.id)).map((e) => e.action)).toEqual(['tenant.delete']);

      const kept = await store.loadClientRecord(keep.t.id, keep.c.clientId);
      expect(kept?.grants).toEqual([keep.g]);
    });
  });

  it('loads a tenant record and a client record: everything the token endpoint needs, entry by entry', async () => {
    const { t, c, s, a, g } = await seedTenant(store);
    const k = signingKey(t.id);
    const f = federation(t.id);
    await store.insertSigningKey(k);
    await store.createFederation(f);
    const other = client(t.id);
    await store.createClient(other, []);
    expect(await store.loadTenantRecord(t.id)).toEqual({ tenant: t, apis: [a], keys: [k], federations: [f] });
    expect(await store.loadTenantRecord('missing')).toBeNull();
    expect(await store.loadClientRecord(t.id, c.clientId)).toEqual({ client: c, secrets: [s], grants: [g] });
    expect(await store.loadClientRecord(t.id, other.clientId)).toEqual({ client: other, secrets: [], grants: [] });
    expect(await store.loadClientRecord(t.id, 'missing')).toBeNull();
    expect(await store.loadClientRecord('missing', c.clientId)).toBeNull();
    // Also inside a transaction.
    expect(await store.transaction((tx) => tx.loadClientRecord(t.id, c.clientId))).toEqual({ client: c, secrets: [s], grants: [g] });
    // The secrets of a page of clients in one call.
    expect(await store.listSecretsOfClients(t.id, [c.clientId, other.clientId, 'missing'])).toEqual([s]);
    expect(await store.listSecretsOfClients(t.id, [])).toEqual([]);
  });

  describe('paging', () => {
    it('walks clients, APIs and grants in (createdAt, id) order with cursors', async () => {
      const t = tenant();
      await store.createTenant(t);
      // Ties on createdAt are broken by id.
      const clients = Array.from({ length: 7 }, (_, i) => client(t.id, { clientId: `c-${i}`, createdAt: T0 + (i % 3) }));
      const apis = Array.from({ length: 7 }, (_, i) => api(t.id, { id: `a-${i}`, createdAt: T0 + (i % 3) }));
      for (const c of [...clients].reverse()) await store.createClient(c, []);
      for (const a of [...apis].reverse()) await store.createApi(a);
      const grants = clients.map((c, i) => grant(c, apis[i]!, { id: `g-${i}`, createdAt: T0 + (i % 2) }));
      for (const g of grants) await store.createGrant(g);

      const byKey = <X extends { createdAt: number }>(id: (x: X) => string) => (x: X, y: X) =>
        x.createdAt - y.createdAt || (id(x) < id(y) ? -1 : id(x) > id(y) ? 1 : 0);

      async function walk<X>(fetch: (cursor: string | null) => Promise<{ items: X[]; nextCursor: string | null }>) {
        const seen: X[] = [];
        const sizes: number[] = [];
        let cursor: string | null = null;
        do {
          const page = await fetch(cursor);
          seen.push(...page.items);
          sizes.push(page.items.length);
          cursor = page.nextCursor;
        } while (cursor !== null);
        return { seen, sizes };
      }

      const c = await walk((cursor) => store.listClients(t.id, { limit: 3, cursor }));
      expect(c.sizes).toEqual([3, 3, 1]);
      expect(c.seen).toEqual([...clients].sort(byKey((x) => x.clientId)).map((x) => ({ ...x, lastUsedAt: null })));

      const a = await walk((cursor) => store.listApis(t.id, { limit: 3, cursor }));
      expect(a.seen).toEqual([...apis].sort(byKey((x) => x.id)));

      const g = await walk((cursor) => store.listGrants(t.id, {}, { limit: 2, cursor }));
      expect(g.sizes).toEqual([2, 2, 2, 1]);
      expect(g.seen).toEqual([...grants].sort(byKey((x) => x.id)));

      // Exactly one full page: no next cursor.
      const exact = await store.listClients(t.id, { limit: 7 });
      expect(exact.items).toHaveLength(7);
      expect(exact.nextCursor).toBeNull();
    });

    async function walkAll<X>(fetch: (cursor: string | null) => Promise<{ items: X[]; nextCursor: string | null }>): Promise<X[]> {
      const seen: X[] = [];
      let cursor: string | null = null;
      do {
        const page = await fetch(cursor);
        seen.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== null);
      return seen;
    }

    it('searches and sorts clients by id, name, creation and last use, paging correctly under each sort', async () => {
      const t = tenant();
      await store.createTenant(t);
      const names = ['delta', 'Alpha', 'charlie', 'Bravo', 'echo 100%', 'alpha_2', 'Foxtrot'];
      const clients = names.map((name, i) => client(t.id, { clientId: `k-${String(i).padStart(2, '0')}`, name, createdAt: T0 + (i % 3) }));
      for (const c of clients) await store.createClient(c, []);
      // Three used (one twice, the later time counts), the rest never.
      const used = new Map([['k-01', T0 + 500], ['k-04', T0 + 900], ['k-06', T0 + 100]]);
      await store.usage().record([], [...used].map(([clientId, at]) => ({ tenantId: t.id, kind: 'client' as const, subject: clientId, at })));
      await store.usage().record([], [{ tenantId: t.id, kind: 'client', subject: 'k-04', at: T0 + 10 }]);
      // A last use of a deleted client is no row of the list.
      await store.usage().record([], [{ tenantId: t.id, kind: 'client', subject: 'gone', at: T0 + 2000 }]);
      const ids = (items: { clientId: string }[]) => items.map((c) => c.clientId);

      for (const limit of [1, 2, 3, 100]) {
        const byName = await walkAll((cursor) => store.listClients(t.id, { limit, cursor, sort: 'name' }));
        expect(byName.map((c) => c.name)).toEqual(['Alpha', 'alpha_2', 'Bravo', 'charlie', 'delta', 'echo 100%', 'Foxtrot']);
        const byNameDesc = await walkAll((cursor) => store.listClients(t.id, { limit, cursor, sort: 'name', order: 'desc' }));
        expect(byNameDesc.map((c) => c.name)).toEqual([...byName.map((c) => c.name)].reverse());
        const byId = await walkAll((cursor) => store.listClients(t.id, { limit, cursor, sort: 'clientId', order: 'desc' }));
        expect(ids(byId)).toEqual(clients.map((c) => c.clientId).sort().reverse());
        const newest = await walkAll((cursor) => store.listClients(t.id, { limit, cursor, sort: 'createdAt', order: 'desc' }));
        expect(newest.map((c) => [c.createdAt, c.clientId])).toEqual(
          clients.map((c) => [c.createdAt, c.clientId] as [number, string]).sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : -1)),
        );
        // Most recently used first, the never used last (by id); the reverse order the other way round.
        const recent = await walkAll((cursor) => store.listClients(t.id, { limit, cursor, sort: 'lastUsedAt', order: 'desc' }));
        expect(recent.map((c) => [c.clientId, c.lastUsedAt])).toEqual([
          ['k-04', T0 + 900], ['k-01', T0 + 500], ['k-06', T0 + 100], ['k-00', null], ['k-02', null], ['k-03', null], ['k-05', null],
        ]);
        const oldest = await walkAll((cursor) => store.listClients(t.id, { limit, cursor, sort: 'lastUsedAt', order: 'asc' }));
        expect(ids(oldest)).toEqual(['k-00', 'k-02', 'k-03', 'k-05', 'k-06', 'k-01', 'k-04']);
      }

      // Search: a case-insensitive substring of id or name; LIKE's wildcards match themselves.
      expect(ids((await store.listClients(t.id, { limit: 10, q: 'ALPHA' })).items).sort()).toEqual(['k-01', 'k-05']);
      expect(ids((await store.listClients(t.id, { limit: 10, q: '_' })).items)).toEqual(['k-05']);
      expect(ids((await store.listClients(t.id, { limit: 10, q: '100%' })).items)).toEqual(['k-04']);
      expect(ids((await store.listClients(t.id, { limit: 10, q: 'k-03' })).items)).toEqual(['k-03']);
      const searched = await walkAll((cursor) => store.listClients(t.id, { limit: 1, cursor, q: 'a', sort: 'lastUsedAt', order: 'desc' }));
      expect(ids(searched)).toEqual(['k-01', 'k-00', 'k-02', 'k-03', 'k-05']);

      // Dormant: created at or before the time and not used since (never used included).
      const dormant = await walkAll((cursor) => store.listClients(t.id, { limit: 2, cursor, dormantSince: T0 + 600, sort: 'clientId' }));
      expect(ids(dormant)).toEqual(['k-00', 'k-01', 'k-02', 'k-03', 'k-05', 'k-06']);
      const dormantRecent = await walkAll((cursor) => store.listClients(t.id, { limit: 2, cursor, dormantSince: T0 + 600, sort: 'lastUsedAt', order: 'desc' }));
      expect(ids(dormantRecent)).toEqual(['k-01', 'k-06', 'k-00', 'k-02', 'k-03', 'k-05']);
      // Young clients are not dormant yet.
      expect(ids((await store.listClients(t.id, { limit: 10, dormantSince: T0, sort: 'clientId' })).items)).toEqual(['k-00', 'k-03']);

      // A cursor belongs to its sort and order.
      const page = await store.listClients(t.id, { limit: 1, sort: 'name' });
      await expect(store.listClients(t.id, { limit: 1, cursor: page.nextCursor, sort: 'clientId' })).rejects.toBeInstanceOf(StoreInvalidCursorError);
      await expect(store.listClients(t.id, { limit: 1, cursor: page.nextCursor, sort: 'name', order: 'desc' })).rejects.toBeInstanceOf(StoreInvalidCursorError);
    });

    it('searches and sorts APIs, grants and the audit, paging correctly under each sort', async () => {
      const t = tenant();
      await store.createTenant(t);
      const apis = ['Stock', 'orders', 'Billing'].map((name, i) => api(t.id, { id: `a-${i}`, name, identifier: `https://${name.toLowerCase()}.example`, createdAt: T0 + i }));
      for (const a of apis) await store.createApi(a);
      const clients = ['c-b', 'c-a', 'c-c'].map((clientId) => client(t.id, { clientId }));
      for (const c of clients) await store.createClient(c, []);
      const grants = clients.flatMap((c, i) => apis.map((a, j) => grant(c, a, { id: `g-${i}${j}`, createdAt: T0 + i * 3 + j })));
      for (const g of grants) await store.createGrant(g);

      const byName = await walkAll((cursor) => store.listApis(t.id, { limit: 1, cursor, sort: 'name' }));
      expect(byName.map((a) => a.name)).toEqual(['Billing', 'orders', 'Stock']);
      const byIdentifier = await walkAll((cursor) => store.listApis(t.id, { limit: 2, cursor, sort: 'identifier', order: 'desc' }));
      expect(byIdentifier.map((a) => a.identifier)).toEqual(['https://stock.example', 'https://orders.example', 'https://billing.example']);
      expect((await store.listApis(t.id, { limit: 10, q: 'ORD' })).items.map((a) => a.id)).toEqual(['a-1']);

      const byClient = await walkAll((cursor) => store.listGrants(t.id, {}, { limit: 2, cursor, sort: 'clientId' }));
      expect(byClient.map((g) => g.id)).toEqual(['g-10', 'g-11', 'g-12', 'g-00', 'g-01', 'g-02', 'g-20', 'g-21', 'g-22']);
      const byAudience = await walkAll((cursor) => store.listGrants(t.id, {}, { limit: 4, cursor, sort: 'audience', order: 'desc' }));
      expect(byAudience.map((g) => g.audience)).toEqual([...grants.map((g) => g.audience)].sort().reverse());
      expect((await store.listGrants(t.id, { audience: apis[0]!.identifier }, { limit: 10, q: 'C-A' })).items.map((g) => g.id)).toEqual(['g-10']);
      expect((await store.listGrants(t.id, { createdBefore: T0 + 2 }, { limit: 10 })).items.map((g) => g.id)).toEqual(['g-00', 'g-01', 'g-02']);

      for (let i = 0; i < 5; i++) await store.updateTenant(t.id, { name: `n${i}` }, audit(t.id, `tenant.update`, `${i}`));
      const oldest = await walkAll((cursor) => store.listAudit(t.id, { limit: 2, cursor, order: 'asc' }));
      const newest = await walkAll((cursor) => store.listAudit(t.id, { limit: 2, cursor }));
      // Entries of one millisecond follow their ids: the walk is (at, id) either way.
      expect(oldest.map((e) => [e.at, e.id])).toEqual(oldest.map((e) => [e.at, e.id]).sort((x, y) => Number(x[0]) - Number(y[0]) || (x[1]! < y[1]! ? -1 : 1)));
      expect(oldest.map((e) => e.targetId).sort()).toEqual(['0', '1', '2', '3', '4']);
      expect(newest.map((e) => e.id)).toEqual(oldest.map((e) => e.id).reverse());
    });

    it('rejects a cursor it did not issue', async () => {
      await expect(store.listClients('any', { limit: 1, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(StoreInvalidCursorError);
      const forged = Buffer.from(JSON.stringify({ a: 1 })).toString('base64url');
      await expect(store.listAudit('any', { limit: 1, cursor: forged })).rejects.toMatchObject({ code: 'STORE_INVALID_CURSOR' });
    });
  });

  describe('audit', () => {
    it('records changes newest first, filters and pages', async () => {
      const t = tenant();
      await store.createTenant(t, audit(t.id, 'tenant.create', t.id, 'bootstrap'));
      const c = client(t.id);
      await store.createClient(c, [secret(c)], audit(t.id, 'client.create', c.clientId));
      const a = api(t.id);
      await store.createApi(a, audit(t.id, 'api.create', a.id));
      const g = grant(c, a);
      await store.createGrant(g, audit(t.id, 'grant.create', g.id));
      await store.updateClient(t.id, c.clientId, { name: 'x' }, audit(t.id, 'client.update', c.clientId));
      await store.insertSigningKey(signingKey(t.id), audit(t.id, 'key.create', 'k', 'system'));

      const entries = await allAudit(store, t.id);
      expect(entries).toHaveLength(6);
      for (let i = 1; i < entries.length; i++) expect(entries[i - 1]!.at).toBeGreaterThanOrEqual(entries[i]!.at);
      expect(entries.map((e) => e.action).sort()).toEqual(
        ['api.create', 'client.create', 'client.update', 'grant.create', 'key.create', 'tenant.create'].sort(),
      );
      const created = entries.find((e) => e.action === 'client.create');
      expect(created).toMatchObject({
        tenantId: t.id,
        actor: 'admin-client',
        targetType: 'client',
        targetId: c.clientId,
        details: { note: 'client.create' },
      });
      expect(created?.id).toMatch(/^[0-9a-f-]{36}$/);

      const filter = async (q: Omit<Parameters<Store['listAudit']>[1], 'limit'>) =>
        (await store.listAudit(t.id, { limit: 100, ...q })).items.map((e) => e.action).sort();
      expect(await filter({ action: 'client.update' })).toEqual(['client.update']);
      expect(await filter({ actor: 'system' })).toEqual(['key.create']);
      expect(await filter({ targetType: 'client' })).toEqual(['client.create', 'client.update']);
      expect(await filter({ targetId: c.clientId, action: 'client.create' })).toEqual(['client.create']);
      expect(await filter({ since: Date.now() + 60_000 })).toEqual([]);
      expect(await filter({ until: 0 })).toEqual([]);
      expect(await filter({ since: 0, until: Date.now() + 60_000 })).toHaveLength(6);

      const pages: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.listAudit(t.id, { limit: 4, cursor });
        pages.push(...page.items.map((e) => e.id));
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(pages).toEqual(entries.map((e) => e.id));
    });

    it('is written in the same transaction as the change and rolled back with it', async () => {
      const t = tenant();
      await store.createTenant(t);
      const a = api(t.id);
      await store.createApi(a);
      const version = await store.latestChangeSeq();

      // One failing method: the client insert succeeds, its duplicate secret fails.
      const taken = (await store.listClientSecrets(t.id, 'none'))[0];
      expect(taken).toBeUndefined();
      const c = client(t.id);
      const s = secret(c);
      await expect(store.createClient(c, [s, { ...s }], audit(t.id, 'client.create', c.clientId))).rejects.toBeInstanceOf(
        StoreConflictError,
      );
      expect(await store.getClient(t.id, c.clientId)).toBeNull();

      // A transaction of several changes, the last of which fails.
      const other = api(t.id);
      await expect(
        store.transaction(async (tx) => {
          await tx.createApi(other, audit(t.id, 'api.create', other.id));
          await tx.updateTenant(t.id, { name: 'changed' }, audit(t.id, 'tenant.update', t.id));
          await tx.createApi(api(t.id, { identifier: a.identifier }), audit(t.id, 'api.create'));
        }),
      ).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.getApi(t.id, other.id)).toBeNull();
      expect((await store.getTenant(t.id))?.name).toBe(t.name);

      // A domain error thrown by the callback also rolls back, and passes through unchanged.
      class DomainError extends Error {}
      await expect(
        store.transaction(async (tx) => {
          await tx.updateTenant(t.id, { name: 'changed' }, audit(t.id, 'tenant.update', t.id));
          throw new DomainError('nope');
        }),
      ).rejects.toBeInstanceOf(DomainError);
      expect((await store.getTenant(t.id))?.name).toBe(t.name);

      expect(await allAudit(store, t.id)).toEqual([]);
      // Nor is anything in the change feed.
      expect(await store.latestChangeSeq()).toBe(version);
    });
  });

  describe('change feed', () => {
    it('records every registry change (tenant, kind, entity) and nothing on the token path', async () => {
      const { t, c, s, a, g } = await seedTenant(store);
      let last = await store.latestChangeSeq();
      const recorded = async (action: () => Promise<unknown>) => {
        await action();
        const { changes } = await store.readChanges(last, 100);
        last = changes.at(-1)?.seq ?? last;
        return changes.map((ch) => `${ch.tenantId === t.id ? 't' : ch.tenantId}:${ch.kind}:${ch.entityId}`);
      };

      expect(await recorded(() => store.updateTenant(t.id, { name: 'n' }))).toEqual([`t:tenant:${t.id}`]);
      expect(await recorded(() => store.updateClient(t.id, c.clientId, { name: 'n' }))).toEqual([`t:client:${c.clientId}`]);
      expect(await recorded(() => store.addClientSecret(secret(c)))).toEqual([`t:client:${c.clientId}`]);
      expect(await recorded(() => store.deleteClientSecret(t.id, c.clientId, s.id))).toEqual([`t:client:${c.clientId}`]);
      expect(await recorded(() => store.updateApi(t.id, a.id, { name: 'n' }))).toEqual([`t:api:${a.id}`]);
      expect(await recorded(() => store.deleteGrant(t.id, g.id))).toEqual([`t:grant:${c.clientId}`]);
      expect(await recorded(() => store.createGrant(grant(c, a)))).toEqual([`t:grant:${c.clientId}`]);
      const k = signingKey(t.id);
      expect(await recorded(() => store.insertSigningKey(k))).toEqual([`t:key:${k.kid}`]);
      expect(await recorded(() => store.updateSigningKey(t.id, k.kid, { status: 'retired' }))).toEqual([`t:key:${k.kid}`]);
      expect(await recorded(() => store.deleteSigningKey(t.id, k.kid))).toEqual([`t:key:${k.kid}`]);
      const f = federation(t.id);
      expect(await recorded(() => store.createFederation(f))).toEqual([`t:federation:${f.id}`]);
      expect(await recorded(() => store.deleteFederation(t.id, f.id))).toEqual([`t:federation:${f.id}`]);
      const token = opaqueToken(c);
      const state = store.state();
      // The hot state is read from its store every time, never cached: not in the feed.
      expect(await recorded(() => state.revokeJti(t.id, 'j', T0 + 1000))).toEqual([]);
      expect(await recorded(() => state.insertOpaqueToken(token))).toEqual([]);
      expect(await recorded(() => state.revokeOpaqueToken(t.id, token.tokenHash))).toEqual([]);
      expect(await recorded(() => store.touchClientSecrets([{ secretId: s.id, at: T0 + 1 }]))).toEqual([]);
      expect(await recorded(() => state.useOnce('assertion:x', t.id, randomUUID(), T0 + 1000))).toEqual([]);
      expect(await recorded(() => store.setMeta(`k-${randomUUID()}`, 'v'))).toEqual([]);
      expect(await recorded(() => state.addRateLimitHits(T0, [{ key: 'k', count: 1 }]))).toEqual([]);
      // Nothing changed, nothing recorded.
      expect(await recorded(() => store.deleteGrant(t.id, 'missing'))).toEqual([]);
      expect(await recorded(() => store.updateClient(t.id, 'missing', { name: 'n' }))).toEqual([]);

      expect(await recorded(() => store.deleteApi(t.id, a.id))).toEqual([`t:api:${a.id}`]);
      expect(await recorded(() => store.deleteClient(t.id, c.clientId))).toEqual([`t:client:${c.clientId}`]);
      expect(await recorded(() => store.deleteTenant(t.id))).toEqual([`t:tenant:${t.id}`]);
    });

    it('records each entity once per transaction, in commit order, and tells this process after the commit', async () => {
      const seen: string[][] = [];
      store.onCommit((changes) => {
        seen.push(changes.map((c) => `${c.kind}:${c.entityId}`));
      });
      const t = tenant();
      const before = await store.latestChangeSeq();
      await store.transaction(async (tx) => {
        await tx.createTenant(t);
        await tx.updateTenant(t.id, { name: 'one' });
        await tx.updateTenant(t.id, { name: 'two' });
        expect(seen.filter((s) => s.includes(`tenant:${t.id}`))).toEqual([]);
      });
      const { changes } = await store.readChanges(before, 100);
      const mine = changes.filter((c) => c.tenantId === t.id);
      expect(mine.map((c) => c.kind)).toEqual(['tenant']);
      expect(seen).toContainEqual([`tenant:${t.id}`]);
      await store.transaction((tx) => tx.getTenant(t.id));
      expect(await store.latestChangeSeq()).toBe(Math.max(before, ...changes.map((c) => c.seq)));
      const seqs = (await store.readChanges(0, 10_000)).changes.map((c) => c.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    });

    it('trims old rows but keeps the newest, and says what it trimmed when a reader skips numbers', async () => {
      const t = tenant();
      await store.createTenant(t);
      const start = await store.latestChangeSeq();
      for (let i = 0; i < 3; i++) await store.updateTenant(t.id, { name: `n${i}` });
      const newest = await store.latestChangeSeq();
      const removed = await store.trimChanges(Date.now() + 60_000);
      expect(removed).toBeGreaterThanOrEqual(3);
      expect(await store.latestChangeSeq()).toBe(newest);
      const behind = await store.readChanges(start, 100);
      expect(behind.changes.map((c) => c.seq)).toEqual([newest]);
      expect(behind.trimmedThrough).toBe(newest - 1);
      const current = await store.readChanges(newest - 1, 100);
      expect(current.trimmedThrough).toBe(0);
      expect(await store.trimChanges(Date.now() + 60_000)).toBe(0);
    });
  });

  it('finds the tenants with key work due in one query', async () => {
    const now = T0 + 100 * 86_400_000;
    const fresh = tenant();
    const old = tenant();
    const expired = tenant();
    const keyless = tenant();
    for (const x of [fresh, old, expired, keyless]) await store.createTenant(x);
    await store.insertSigningKey(signingKey(fresh.id, { status: 'active', activatedAt: now - 1000 }));
    await store.insertSigningKey(signingKey(old.id, { status: 'active', activatedAt: now - 40 * 86_400_000 }));
    await store.insertSigningKey(signingKey(expired.id, { status: 'active', activatedAt: now - 1000 }));
    await store.insertSigningKey(signingKey(expired.id, { status: 'retired', publishUntil: now - 1 }));
    const due = await store.tenantsWithKeyWork(now, now - 30 * 86_400_000);
    expect(due).toContain(old.id);
    expect(due).toContain(expired.id);
    expect(due).toContain(keyless.id);
    expect(due).not.toContain(fresh.id);
  });

  describe('meta and console users', () => {
    it('gets and sets meta values', async () => {
      const key = `k-${randomUUID()}`;
      expect(await store.getMeta(key)).toBeNull();
      await store.setMeta(key, 'one');
      await store.setMeta(key, 'two');
      expect(await store.getMeta(key)).toBe('two');
    });

    it('creates and reads console users', async () => {
      const user = { username: `u-${randomUUID()}`, passwordHash: 'scrypt$abc', role: 'viewer' as const, tenants: ['a', 'b'], createdAt: T0, updatedAt: null, passwordChangedAt: T0 };
      await store.createConsoleUser(user);
      expect(await store.getConsoleUser(user.username)).toEqual(user);
      expect(await store.getConsoleUser('nobody')).toBeNull();
      await expect(store.createConsoleUser(user)).rejects.toBeInstanceOf(StoreConflictError);
    });

    it('lists, updates and deletes console users, auditing each change', async () => {
      const username = `u-${randomUUID()}`;
      await store.createConsoleUser({ username, passwordHash: 'scrypt$abc', role: 'admin', tenants: null, createdAt: T0, updatedAt: null, passwordChangedAt: T0 });
      expect((await store.listConsoleUsers()).map((u) => u.username)).toContain(username);
      const audit = { tenantId: 'admin', actor: 'test', action: 'console_user.update', targetType: 'console_user', targetId: username, details: {} };
      const updated = await store.updateConsoleUser(username, { role: 'viewer', tenants: ['default'], passwordHash: 'scrypt$new', passwordChangedAt: T0 + 5 }, audit);
      expect(updated).toMatchObject({ username, role: 'viewer', tenants: ['default'], passwordHash: 'scrypt$new', passwordChangedAt: T0 + 5 });
      expect(updated?.updatedAt).not.toBeNull();
      expect((await store.updateConsoleUser(username, { tenants: null }))?.tenants).toBeNull();
      expect(await store.updateConsoleUser('nobody', { role: 'admin' })).toBeNull();
      expect(await store.deleteConsoleUser(username, { ...audit, action: 'console_user.delete' })).toBe(true);
      expect(await store.deleteConsoleUser(username)).toBe(false);
      expect(await store.getConsoleUser(username)).toBeNull();
    });
  });

  describe('transactions and locks', () => {
    it('nested transactions reuse the outer one', async () => {
      const t = tenant();
      await expect(
        store.transaction(async (tx) => {
          await tx.createTenant(t);
          await tx.transaction(async (inner) => {
            expect(await inner.getTenant(t.id)).toEqual(t);
            await inner.updateTenant(t.id, { name: 'inner' });
          });
          throw new Error('roll back everything');
        }),
      ).rejects.toThrow('roll back everything');
      expect(await store.getTenant(t.id)).toBeNull();
    });

    it('withLock runs critical sections one at a time', async () => {
      let inside = 0;
      let maxInside = 0;
      const name = `lock-${randomUUID()}`;
      const results = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          store.withLock(name, async (tx) => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            await tx.ping();
            await new Promise((resolve) => setTimeout(resolve, 20));
            inside--;
            return i;
          }),
        ),
      );
      expect(results.sort()).toEqual([0, 1, 2, 3]);
      expect(maxInside).toBe(1);
    });

    it('bootstrapOnce runs once, and again only if the first run failed', async () => {
      const { store: own } = await freshStore();
      try {
        await expect(own.bootstrapOnce(() => Promise.reject(new Error('half way')))).rejects.toThrow('half way');
        expect(await own.getMeta('bootstrapped')).toBeNull();

        const t = tenant({ id: 'default' });
        expect(await own.bootstrapOnce(async (tx) => (await tx.createTenant(t), 'done'))).toBe('done');
        expect(await own.bootstrapOnce(async () => 'again')).toBeNull();
        expect(await own.getTenant('default')).toEqual(t);
      } finally {
        await own.close();
      }
    });

    it('bootstrapOnce runs exactly once under concurrency', async () => {
      const { store: first, db: fresh } = await freshStore();
      // PostgreSQL: four replicas on one empty database. SQLite has one process per
      // file, so its concurrency is concurrent callers on the one store.
      const stores =
        backend.kind === 'postgres'
          ? [first, ...(await Promise.all([1, 2, 3].map(() => createStore(fresh.options))))]
          : [first, first, first, first];
      try {
        let runs = 0;
        const results = await Promise.all(
          stores.map((s, i) =>
            s.bootstrapOnce(async (tx) => {
              runs++;
              await tx.createTenant(tenant({ id: 'default' }));
              await new Promise((resolve) => setTimeout(resolve, 50));
              return `replica-${i}`;
            }),
          ),
        );
        expect(runs).toBe(1);
        expect(results.filter((r) => r !== null)).toHaveLength(1);
        expect(await first.listTenants()).toHaveLength(1);
      } finally {
        for (const s of new Set(stores)) await s.close();
      }
    });

    it('migrate is idempotent', async () => {
      await store.migrate();
      await store.migrate();
      await expect(store.latestChangeSeq()).resolves.toBeGreaterThanOrEqual(0);
    });
  });

  if (backend.kind === 'postgres') {
    it('migrates safely when several replicas start at once', async () => {
      const fresh = await backend.fresh();
      extra.push(fresh);
      const replicas = Array.from({ length: 4 }, () => openPostgresStore(fresh.options.databaseUrl!));
      try {
        await Promise.all(replicas.map((r) => r.migrate()));
        await replicas[0]!.createTenant(tenant({ id: 'after-migrate' }));
        expect(await replicas[3]!.getTenant('after-migrate')).not.toBeNull();
        expect(await replicas[1]!.latestChangeSeq()).toBe(1);
      } finally {
        await Promise.all(replicas.map((r) => r.close()));
      }
    });
  }

  if (backend.kind === 'sqlite') {
    it('persists across a restart on the same data directory', async () => {
      const fresh = await backend.fresh();
      extra.push(fresh);
      const dataDir = fresh.options.dataDir;
      const first = await createStore({ dataDir });
      const { t, c, g } = await seedTenant(first);
      await first.setMeta('bootstrapped', 'yes');
      const version = await first.latestChangeSeq();
      await first.close();

      const second = await createStore({ dataDir });
      try {
        expect(await second.getTenant(t.id)).toEqual(t);
        expect(await second.getClient(t.id, c.clientId)).toEqual(c);
        expect(await second.getGrant(t.id, g.id)).toEqual(g);
        expect(await second.getMeta('bootstrapped')).toBe('yes');
        expect(await second.latestChangeSeq()).toBe(version);
        expect(await second.bootstrapOnce(async () => 'again')).toBeNull();
      } finally {
        await second.close();
      }
    });

    it('creates the data directory owner-only', async () => {
      const parent = await makeTempDir();
      try {
        const dataDir = join(parent.path, 'nested', 'data');
        const own = await createStore({ dataDir });
        await own.close();
        expect(statSync(dataDir).mode & 0o777).toBe(0o700);
        expect(statSync(join(dataDir, 'tessera.db')).mode & 0o777).toBe(0o600);
      } finally {
        await parent.cleanup();
      }
    });
  }
});

if (!postgresEnabled) {
  describe.skip('store (PostgreSQL: TESSERA_TEST_DATABASE_URL not set)', () => {
    it('runs the shared store suite against PostgreSQL', () => {});
  });
}

describe('createStore', () => {
  it('reports an unreachable PostgreSQL as StoreUnavailableError', async () => {
    const dir = await makeTempDir();
    try {
      const error = await createStore({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none', dataDir: dir.path }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
    } finally {
      await dir.cleanup();
    }
  });

  it('reports a closed store as StoreUnavailableError', async () => {
    const dir = await makeTempDir();
    try {
      const own = await createStore({ dataDir: dir.path });
      await own.close();
      await expect(own.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await dir.cleanup();
    }
  });
});
