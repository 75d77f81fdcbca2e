/**
 * The registry: what the protocol endpoints read, cached per entry so that the cost
 * of serving does not grow with the size of the registry or its rate of change.
 *
 * - per tenant (`TenantContext`): the tenant row, its APIs, federations and signing
 *   keys, with the active key unsealed once and the JWKS body rendered once;
 * - per client (`ClientEntry`, keyed by tenant and client id): the client, its
 *   secrets' parsed hashes and its grants by API id. Loaded on first use, with
 *   negative entries for unknown clients.
 *
 * Both caches are bounded by count and by estimated bytes, with scan-resistant
 * eviction (entry-cache.ts); unknown tenant and client ids are remembered in bounded
 * negative entries, so made-up ids cost one store query each, once. Unsealed signing
 * keys live in a small cache of their own (by kid), so a tenant evicted and loaded
 * again does not decrypt its key again (config `cache`). Invalidation has one owner, the
 * change feed (domain/change-feed.ts), which calls `apply` with what changed: after a
 * commit of this replica (awaited, so a change is visible here when its call
 * returns) and for other replicas' changes read from the feed (reloaded in the
 * background while the old entry serves). A failed reload keeps the old entry.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import type { MasterKey } from '../crypto/master-key.js';
import { parseSecretHash } from '../crypto/secrets.js';
import { JwtSigner, publicKeyFromJwk } from '../crypto/signing.js';
import { StoreUnavailableError } from '../store/errors.js';
import type { Api, ChangeRef, Client, ClientRecord, Federation, Grant, SigningKey, Store, Tenant, TenantRecord } from '../store/types.js';
import { type CacheEvents, EntryCache } from './entry-cache.js';
import { TENANT_ID } from './rules.js';

export type { CacheEvents } from './entry-cache.js';

export interface PublishedKey {
  kid: string;
  alg: string;
  status: SigningKey['status'];
  key: KeyObject;
  jwk: JWK;
}

/** One of a client's secrets as the token endpoint needs it: the hash parsed once. */
export interface CachedSecret {
  id: string;
  verify(secret: string): boolean;
}

/** What the token endpoint knows of one client. Immutable; replaced when the client changes. */
export interface ClientEntry {
  readonly client: Client;
  readonly secrets: readonly CachedSecret[];
  /**
   * apiId -> grant, with its scopes as a set. Read a grant only together with its
   * API from the TenantContext (`TenantContext.grantsOf`/`grantFor`): a deleted API's
   * grants may outlive it here until the client's entry is reloaded.
   */
  readonly grants: ReadonlyMap<string, ClientGrant>;
}

export interface ClientGrant extends Grant {
  readonly scopeSet: ReadonlySet<string>;
}

/** Bounds of the registry's caches (config `cache`, docs/storage.md). */
export interface RegistryLimits {
  maxTenants: number;
  maxClients: number;
  maxUnknownClients: number;
  maxUnknownTenants: number;
  /** Estimated bytes of all cached tenants, and of all cached clients. */
  maxTenantBytes: number;
  maxClientBytes: number;
  /** Signing keys whose imported public key and unsealed signer are kept (by tenant and kid). */
  maxSigners: number;
  /** While the change feed cannot be read, cached entries serve for this long (ms), then 503. */
  serveStaleFor: number;
}

const DEFAULT_LIMITS: RegistryLimits = {
  maxTenants: 10_000,
  maxClients: 100_000,
  maxUnknownClients: 10_000,
  maxUnknownTenants: 10_000,
  maxTenantBytes: 256 * 1024 * 1024,
  maxClientBytes: 256 * 1024 * 1024,
  maxSigners: 100_000,
  serveStaleFor: 300_000,
};

/** Longest client id looked up at all: longer ones are unknown without a store round trip. */
const MAX_CLIENT_ID_LENGTH = 256;

const TENANT_KINDS: ReadonlySet<ChangeRef['kind']> = new Set(['tenant', 'api', 'federation', 'key']);

/** The per-tenant view: small shared data, plus the door to the per-client cache. */
export class TenantContext {
  readonly tenant: Tenant;
  readonly issuer: string;
  readonly apisByIdentifier: ReadonlyMap<string, Api>;
  readonly apisById: ReadonlyMap<string, Api>;
  /** apiId -> the scope values the API defines. */
  readonly apiScopes: ReadonlyMap<string, ReadonlySet<string>>;
  readonly federations: readonly Federation[];
  /** Keys in the JWKS (next, active, retired-but-not-expired), by kid. */
  readonly publishedKeys: ReadonlyMap<string, PublishedKey>;
  readonly jwks: { body: string; etag: string };
  readonly activeKey: SigningKey | undefined;
  readonly #keys: KeyMaterial;
  readonly #clients: (clientId: string) => Promise<ClientEntry | null>;
  #signer: JwtSigner | undefined;

  constructor(
    record: TenantRecord,
    options: { publicUrl: string; keys: KeyMaterial; now: number; clients: (clientId: string) => Promise<ClientEntry | null>; previous?: TenantContext | null | undefined },
  ) {
    this.tenant = record.tenant;
    this.issuer = `${options.publicUrl}/t/${record.tenant.id}`;
    this.apisByIdentifier = new Map(record.apis.map((a) => [a.identifier, a]));
    this.apisById = new Map(record.apis.map((a) => [a.id, a]));
    this.apiScopes = new Map(record.apis.map((a) => [a.id, new Set(a.scopes.map((s) => s.value))]));
    this.federations = record.federations;
    const published = record.keys
      .filter((k) => k.status === 'next' || k.status === 'active' || (k.status === 'retired' && (k.publishUntil ?? 0) > options.now))
      .sort((a, b) => keyOrder(a) - keyOrder(b) || a.createdAt - b.createdAt);
    this.publishedKeys = new Map(
      published.map((k) => [
        k.kid,
        { kid: k.kid, alg: k.alg, status: k.status, key: options.keys.publicKey(k), jwk: k.publicJwk as JWK },
      ]),
    );
    this.activeKey = record.keys.find((k) => k.status === 'active');
    this.#keys = options.keys;
    this.#clients = options.clients;
    // A reload for another reason (an API changed) does not unseal the same key again.
    const previous = options.previous;
    if (previous != null && previous.activeKey?.kid === this.activeKey?.kid) this.#signer = previous.#signer;
    const body = JSON.stringify({ keys: published.map((k) => publicJwkForJwks(k.publicJwk)) });
    this.jwks = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
  }

  /**
   * The key that signs now, unsealed on first use (discovery and the JWKS never need
   * it); null only if the tenant has no active key (never after bootstrap).
   */
  get signer(): JwtSigner | null {
    if (this.activeKey === undefined) return null;
    this.#signer ??= this.#keys.signer(this.activeKey);
    return this.#signer;
  }

  /** One client of this tenant, from the per-client cache (null: no such client). */
  client(clientId: string): Promise<ClientEntry | null> {
    return this.#clients(clientId);
  }

  /** The client's grants whose API still exists. */
  grantsOf(entry: ClientEntry): ClientGrant[] {
    const live: ClientGrant[] = [];
    for (const grant of entry.grants.values()) if (this.apisById.has(grant.apiId)) live.push(grant);
    return live;
  }

  /** The client's grant on one API, if both exist. */
  grantFor(entry: ClientEntry, apiId: string): ClientGrant | undefined {
    return this.apisById.has(apiId) ? entry.grants.get(apiId) : undefined;
  }
}

export interface TenantRegistryOptions {
  store: Store;
  publicUrl: string;
  masterKey: MasterKey;
  now: () => number;
  limits?: Partial<RegistryLimits>;
  /** Cache events for metrics (hit, miss, load, evict, feedLag). */
  events?: CacheEvents;
}

/** The registry's caches: one TenantContext per tenant, one ClientEntry per (tenant, client). */
export class TenantRegistry {
  readonly #store: Store;
  readonly #publicUrl: string;
  readonly #now: () => number;
  readonly #limits: RegistryLimits;
  readonly events: CacheEvents | undefined;
  readonly #tenants: EntryCache<TenantContext>;
  readonly #clients: EntryCache<ClientEntry>;
  readonly #keyMaterial: KeyMaterialCache;
  /** When the change feed was last read completely (null: nobody follows it, e.g. in tests). */
  #syncedAt: number | null = null;

  constructor(options: TenantRegistryOptions) {
    this.#store = options.store;
    this.#publicUrl = options.publicUrl;
    this.#now = options.now;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.events = options.events;
    this.#keyMaterial = new KeyMaterialCache(options.masterKey, this.#limits.maxSigners);
    this.#tenants = new EntryCache<TenantContext>({
      name: 'tenant',
      maxEntries: this.#limits.maxTenants,
      maxAbsent: this.#limits.maxUnknownTenants,
      maxWeight: this.#limits.maxTenantBytes,
      weigh: weighTenant,
      load: (tenantId) => this.#loadTenant(tenantId),
      now: this.#now,
      events: options.events,
    });
    this.#clients = new EntryCache<ClientEntry>({
      name: 'client',
      maxEntries: this.#limits.maxClients,
      maxAbsent: this.#limits.maxUnknownClients,
      maxWeight: this.#limits.maxClientBytes,
      weigh: weighClient,
      load: (key) => this.#loadClient(key),
      now: this.#now,
      events: options.events,
    });
  }

  /**
   * The tenant's context, or null when there is no such tenant (remembered in the
   * bounded negative cache until the change feed says the tenant was created).
   */
  async get(tenantId: string): Promise<TenantContext | null> {
    // Anything that cannot be a tenant id never reaches the store or the cache.
    if (!TENANT_ID.test(tenantId)) return null;
    this.#assertFresh();
    return this.#tenants.get(tenantId);
  }

  /** One client's entry (null: no such client; remembered in the bounded negative cache). */
  async client(tenantId: string, clientId: string): Promise<ClientEntry | null> {
    // A NUL names no client (PostgreSQL text cannot hold one: asking would be an error, not a miss).
    if (clientId === '' || clientId.length > MAX_CLIENT_ID_LENGTH || clientId.includes('\u0000')) return null;
    this.#assertFresh();
    return this.#clients.get(clientKey(tenantId, clientId));
  }

  /** Entry counts, for tests, metrics and the bench. */
  get size(): { tenants: number; clients: number; unknownClients: number } {
    const clients = this.#clients.size;
    return { tenants: this.#tenants.size.entries, clients: clients.entries, unknownClients: clients.absent };
  }

  /**
   * Invalidates exactly what changed and reloads it. `wait`: resolve once the reloads
   * are done (this replica's own commits); otherwise they run in the background while
   * the old entries serve (other replicas' changes).
   */
  async apply(changes: readonly ChangeRef[], options: { wait: boolean }): Promise<void> {
    const work: Promise<void>[] = [];
    const tenants = new Map<string, boolean>();
    const clients = new Set<string>();
    for (const change of changes) {
      if (TENANT_KINDS.has(change.kind)) tenants.set(change.tenantId, (tenants.get(change.tenantId) ?? false) || change.kind === 'tenant');
      else clients.add(clientKey(change.tenantId, change.entityId));
    }
    for (const [tenantId, rowChanged] of tenants) {
      work.push(
        this.#tenants.invalidate(tenantId).then(() => {
          // A deleted tenant takes its clients' entries with it.
          if (rowChanged && !(this.#tenants.peek(tenantId) instanceof TenantContext)) {
            this.#clients.deleteByPrefix(clientKey(tenantId, ''));
            this.#keyMaterial.forgetTenant(tenantId);
          }
        }),
      );
    }
    for (const key of clients) work.push(this.#clients.invalidate(key));
    const done = Promise.all(work).then(() => undefined);
    if (options.wait) await done;
  }

  /** Drops every entry (a replica that fell too far behind the feed). */
  clear(): void {
    this.#tenants.clear();
    this.#clients.clear();
  }

  /** The change feed was read up to its end at `at`: cached entries are current. */
  markSynced(at: number | null): void {
    this.#syncedAt = at;
  }

  /**
   * SPEC §3: while the store is unreachable, cached entries serve for a bounded time
   * (`serveStaleFor`), after which they count as not cached (503).
   */
  #assertFresh(): void {
    // Wall-clock time: an outage lasts in real time, whatever clock tokens are stamped with.
    if (this.#syncedAt !== null && Date.now() - this.#syncedAt > this.#limits.serveStaleFor) {
      throw new StoreUnavailableError('the registry cache is too old: the store has been unreachable for too long');
    }
  }

  async #loadTenant(tenantId: string): Promise<TenantContext | null> {
    const record = await this.#store.loadTenantRecord(tenantId);
    if (record === null) return null;
    return new TenantContext(record, {
      publicUrl: this.#publicUrl,
      keys: this.#keyMaterial,
      now: this.#now(),
      clients: (clientId) => this.client(tenantId, clientId),
      previous: this.#tenants.peek(tenantId),
    });
  }

  async #loadClient(key: string): Promise<ClientEntry | null> {
    const split = key.indexOf('\n');
    const record = await this.#store.loadClientRecord(key.slice(0, split), key.slice(split + 1));
    return record === null ? null : toClientEntry(record);
  }
}

function toClientEntry(record: ClientRecord): ClientEntry {
  return {
    client: record.client,
    secrets: record.secrets.map((s) => ({ id: s.id, verify: parseSecretHash(s.hash).verify })),
    grants: new Map(record.grants.map((g) => [g.apiId, { ...g, scopeSet: new Set(g.scopes) }])),
  };
}

/** Key objects of a tenant's signing keys, as TenantContext needs them. */
interface KeyMaterial {
  publicKey(key: SigningKey): KeyObject;
  signer(key: SigningKey): JwtSigner;
}

/**
 * Imported public keys and unsealed signers by tenant and kid, apart from the tenant
 * cache: a tenant evicted and loaded again neither imports its JWKs nor decrypts its
 * private key again (those were most of a miss's cost). LRU over at most `max` kids.
 */
class KeyMaterialCache implements KeyMaterial {
  readonly #entries = new Map<string, { publicKey?: KeyObject; signer?: JwtSigner }>();

  constructor(
    private readonly masterKey: MasterKey,
    private readonly max: number,
  ) {}

  publicKey(key: SigningKey): KeyObject {
    const entry = this.#entry(key);
    entry.publicKey ??= publicKeyFromJwk(key.publicJwk as JWK);
    return entry.publicKey;
  }

  signer(key: SigningKey): JwtSigner {
    const entry = this.#entry(key);
    entry.signer ??= JwtSigner.unseal(key, this.masterKey);
    return entry.signer;
  }

  forgetTenant(tenantId: string): void {
    for (const id of this.#entries.keys()) if (id.startsWith(`${tenantId}\n`)) this.#entries.delete(id);
  }

  #entry(key: SigningKey): { publicKey?: KeyObject; signer?: JwtSigner } {
    // A kid is never reused for other key material; the tenant id keeps tenants apart regardless.
    const id = `${key.tenantId}\n${key.kid}`;
    let entry = this.#entries.get(id);
    if (entry !== undefined) {
      this.#entries.delete(id);
    } else {
      entry = {};
      if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value as string);
    }
    this.#entries.set(id, entry);
    return entry;
  }
}

/** Rough bytes of a tenant's context: the rendered JWKS, key objects, APIs and federations. */
function weighTenant(context: TenantContext): number {
  let bytes = 2048 + context.jwks.body.length * 4 + context.publishedKeys.size * 1024;
  for (const api of context.apisById.values()) bytes += 512 + api.identifier.length * 4 + api.scopes.length * 160;
  bytes += context.federations.length * 2048;
  return bytes;
}

/** Rough bytes of a client's entry: the client, its parsed secret hashes and grants. */
function weighClient(entry: ClientEntry): number {
  let bytes = 1024 + entry.secrets.length * 256 + JSON.stringify(entry.client.jwks ?? null).length * 2;
  for (const grant of entry.grants.values()) bytes += 384 + grant.scopes.length * 96;
  return bytes;
}

function clientKey(tenantId: string, clientId: string): string {
  return `${tenantId}\n${clientId}`;
}

function keyOrder(key: SigningKey): number {
  return key.status === 'active' ? 0 : key.status === 'next' ? 1 : 2;
}

/** Only the public members, whatever the stored JWK carries. */
function publicJwkForJwks(jwk: Record<string, unknown>): Record<string, unknown> {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicMembers } = jwk;
  return publicMembers;
}
