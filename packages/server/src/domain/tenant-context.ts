/**
 * The registry: what the protocol endpoints read, cached per entry so that the cost
 * of serving does not grow with the size of the registry or its rate of change.
 *
 * - per tenant (`TenantContext`): the tenant row, its APIs, federations and signing
 *   keys' public JWKs, with the JWKS body rendered on first request and public keys
 *   imported on first use;
 * - per client (`ClientEntry`, keyed by tenant and client id): the client, its
 *   secrets' parsed hashes and its grants by API id. Loaded on first use, with
 *   negative entries for unknown clients.
 *
 * Both caches are bounded by count and by estimated bytes, with scan-resistant
 * eviction (entry-cache.ts); unknown tenant and client ids are remembered in bounded
 * negative entries, so made-up ids cost one store query each, once. Unsealed signing
 * keys live in a cache of their own (by tenant and kid, bounded by count and bytes,
 * same policy), so a tenant evicted and loaded again does not unseal its key again
 * while its signer is kept (config `cache`). Invalidation has one owner, the
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
import type { Api, ChangeRef, Client, ClientRecord, Federation, Grant, SigningAlg, SigningKey, Store, Tenant, TenantRecord } from '../store/types.js';
import { type CacheEvents, EntryCache } from './entry-cache.js';
import { TENANT_ID } from './rules.js';

export type { CacheEvents } from './entry-cache.js';

/** A key of the tenant's JWKS. */
export interface PublishedKey {
  readonly kid: string;
  readonly alg: string;
  readonly status: SigningKey['status'];
  /** The public key, imported on first use: only reading this tenant's own tokens back needs it. */
  readonly key: KeyObject;
  readonly jwk: JWK;
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
  /** Ids the known-tenant directory does not hold that are still looked up, per second. */
  unknownTenantLookupsPerSecond: number;
  /** Estimated bytes of all cached tenants, and of all cached clients. */
  maxTenantBytes: number;
  maxClientBytes: number;
  /** Unsealed signing keys kept (by tenant and kid), and their estimated bytes in all. */
  maxSigners: number;
  maxSignerBytes: number;
  /** While the change feed cannot be read, cached entries serve for this long (ms), then 503. */
  serveStaleFor: number;
}

/** As config/defaults.ts `cache`. */
const DEFAULT_LIMITS: RegistryLimits = {
  maxTenants: 200_000,
  maxClients: 100_000,
  maxUnknownClients: 10_000,
  maxUnknownTenants: 10_000,
  unknownTenantLookupsPerSecond: 10,
  maxTenantBytes: 512 * 1024 * 1024,
  maxClientBytes: 256 * 1024 * 1024,
  maxSigners: 100_000,
  maxSignerBytes: 128 * 1024 * 1024,
  serveStaleFor: 300_000,
};

/** Longest client id looked up at all: longer ones are unknown without a store round trip. */
const MAX_CLIENT_ID_LENGTH = 256;

const TENANT_KINDS: ReadonlySet<ChangeRef['kind']> = new Set(['tenant', 'api', 'federation', 'key']);

/**
 * The per-tenant view: small shared data, plus the doors to the per-client cache and
 * to the signer cache. Nothing expensive is made when it is loaded: the signer is
 * unsealed on the first token (and kept in the signer cache, not here, so that its
 * bound is real), the public keys are imported when a token of the tenant is read
 * back, and the JWKS is rendered when it is asked for.
 */
export class TenantContext {
  readonly tenant: Tenant;
  readonly issuer: string;
  readonly apisByIdentifier: ReadonlyMap<string, Api>;
  readonly apisById: ReadonlyMap<string, Api>;
  /** apiId -> the scope values the API defines. */
  readonly apiScopes: ReadonlyMap<string, ReadonlySet<string>>;
  readonly federations: readonly Federation[];
  /** Keys in the JWKS (next, active, retired-but-not-expired), by kid, active first. */
  readonly publishedKeys: ReadonlyMap<string, PublishedKey>;
  readonly activeKey: SigningKey | undefined;
  readonly #keys: KeyMaterial;
  readonly #clients: (clientId: string) => Promise<ClientEntry | null>;
  readonly #signerId: string;
  #jwks: { body: string; etag: string } | undefined;

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
    // A reload for another reason (an API changed) does not import the same keys again.
    const previous = options.previous?.publishedKeys;
    this.publishedKeys = new Map(published.map((k) => [k.kid, new LazyPublishedKey(k, options.keys, previous?.get(k.kid))]));
    this.activeKey = record.keys.find((k) => k.status === 'active');
    this.#signerId = signerId(record.tenant.id, this.activeKey?.kid ?? '');
    this.#keys = options.keys;
    this.#clients = options.clients;
  }

  /** The JWKS document (RFC 7517 §5) and its ETag, rendered on first use. */
  get jwks(): { body: string; etag: string } {
    if (this.#jwks === undefined) {
      const body = JSON.stringify({ keys: [...this.publishedKeys.values()].map((k) => publicJwkForJwks(k.jwk as Record<string, unknown>)) });
      this.#jwks = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    }
    return this.#jwks;
  }

  /**
   * The key that signs now, from the signer cache (unsealed there on first use; the
   * JWKS and discovery never need it); null only if the tenant has no active key
   * (never after bootstrap).
   */
  get signer(): JwtSigner | null {
    return this.activeKey === undefined ? null : this.#keys.signer(this.#signerId, this.activeKey);
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

/** A published key whose KeyObject is imported on first use. */
class LazyPublishedKey implements PublishedKey {
  readonly kid: string;
  readonly alg: string;
  readonly status: SigningKey['status'];
  readonly jwk: JWK;
  readonly #tenantId: string;
  readonly #keys: KeyMaterial;
  #key: KeyObject | undefined;

  /** `previous`: this kid in the tenant's context before a reload (a kid never names other key material). */
  constructor(key: SigningKey, keys: KeyMaterial, previous: PublishedKey | undefined) {
    this.kid = key.kid;
    this.alg = key.alg;
    this.status = key.status;
    // Not the key row itself: that holds the sealed private key, needed for the active key only.
    this.jwk = key.publicJwk as JWK;
    this.#tenantId = key.tenantId;
    this.#keys = keys;
    if (previous instanceof LazyPublishedKey && previous.alg === key.alg) this.#key = previous.#key;
  }

  get key(): KeyObject {
    this.#key ??= this.#keys.publicKey(this.#tenantId, this.kid, this.jwk);
    return this.#key;
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
  /** Once loaded, says which ids name no tenant at all (domain/tenant-directory.ts). */
  knownTenants?: { excludes(tenantId: string): boolean };
}

/** The registry's caches: one TenantContext per tenant, one ClientEntry per (tenant, client). */
export class TenantRegistry {
  readonly #store: Store;
  readonly #publicUrl: string;
  readonly #now: () => number;
  readonly #limits: RegistryLimits;
  readonly events: CacheEvents | undefined;
  readonly #knownTenants: { excludes(tenantId: string): boolean } | undefined;
  readonly #tenants: EntryCache<TenantContext>;
  readonly #clients: EntryCache<ClientEntry>;
  readonly #signers: SignerCache;
  /** When the change feed was last read completely (null: nobody follows it, e.g. in tests). */
  #syncedAt: number | null = null;
  /** Lookups of ids the directory does not hold, in the current second. */
  #lookThrough = { second: -1, used: 0 };

  constructor(options: TenantRegistryOptions) {
    this.#store = options.store;
    this.#publicUrl = options.publicUrl;
    this.#now = options.now;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.events = options.events;
    this.#knownTenants = options.knownTenants;
    this.#signers = new SignerCache(options.masterKey, { maxEntries: this.#limits.maxSigners, maxWeight: this.#limits.maxSignerBytes }, options.events, this.#now);
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
    // Made-up ids, each new one, cost no store query once the directory is loaded; a few
    // a second are still looked up, so that a tenant created through another replica a
    // moment ago is served before the change feed brings it.
    if (this.#knownTenants?.excludes(tenantId) === true && !this.#lookThroughAllowed()) return null;
    return this.#tenants.get(tenantId);
  }

  /**
   * Whether an id the known-tenant directory does not hold may still be looked up in
   * the store: at most `unknownTenantLookupsPerSecond` a second, so that a flood of
   * made-up ids costs a bounded number of queries (each then remembered as unknown).
   */
  #lookThroughAllowed(): boolean {
    const second = Math.floor(this.#now() / 1000);
    if (this.#lookThrough.second !== second) this.#lookThrough = { second, used: 0 };
    if (this.#lookThrough.used >= this.#limits.unknownTenantLookupsPerSecond) return false;
    this.#lookThrough.used += 1;
    return true;
  }

  /** One client's entry (null: no such client; remembered in the bounded negative cache). */
  async client(tenantId: string, clientId: string): Promise<ClientEntry | null> {
    // A NUL names no client (PostgreSQL text cannot hold one: asking would be an error, not a miss).
    if (clientId === '' || clientId.length > MAX_CLIENT_ID_LENGTH || clientId.includes('\u0000')) return null;
    this.#assertFresh();
    return this.#clients.get(clientKey(tenantId, clientId));
  }

  /** Entry counts, for tests, metrics and the bench. */
  get size(): { tenants: number; clients: number; unknownClients: number; signers: number } {
    const clients = this.#clients.size;
    return { tenants: this.#tenants.size.entries, clients: clients.entries, unknownClients: clients.absent, signers: this.#signers.size };
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
            this.#signers.forgetTenant(tenantId);
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
    this.#signers.clear();
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
    const previous = this.#tenants.peek(tenantId);
    const context = new TenantContext(record, {
      publicUrl: this.#publicUrl,
      keys: this.#signers,
      now: this.#now(),
      clients: (clientId) => this.client(tenantId, clientId),
      previous,
    });
    // A key that no longer signs (rotated, or deleted in an emergency) leaves memory.
    const before = previous?.activeKey;
    if (before !== undefined && before.kid !== context.activeKey?.kid) this.#signers.forget(tenantId, before.kid);
    return context;
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
  publicKey(tenantId: string, kid: string, jwk: JWK): KeyObject;
  /** `id`: the key's signer-cache id (`signerId`), made once by the caller. */
  signer(id: string, key: SigningKey): JwtSigner;
}

/**
 * Unsealed signers by tenant and kid, apart from the tenant cache and bounded on
 * their own (count and bytes, same policy): a tenant evicted and loaded again does
 * not decrypt its private key again while its signer is kept, and the private key
 * objects, most of a tenant's memory, are held here only. Public keys are imported
 * by the tenant's context when it first reads one of its own tokens back.
 */
class SignerCache implements KeyMaterial {
  readonly #signers: EntryCache<JwtSigner>;

  constructor(
    private readonly masterKey: MasterKey,
    limits: { maxEntries: number; maxWeight: number },
    events: CacheEvents | undefined,
    now: () => number,
  ) {
    this.#signers = new EntryCache<JwtSigner>({ name: 'signer', ...limits, maxAbsent: 0, weigh: (signer) => weighSigner(signer.alg), now, events });
  }

  publicKey(tenantId: string, kid: string, jwk: JWK): KeyObject {
    // Derived from the private key when that is at hand (a fraction of a JWK import).
    const signer = this.#signers.peek(signerId(tenantId, kid));
    return signer != null ? signer.publicKey() : publicKeyFromJwk(jwk);
  }

  signer(id: string, key: SigningKey): JwtSigner {
    return this.#signers.getOrCompute(id, () => JwtSigner.unseal(key, this.masterKey));
  }

  forget(tenantId: string, kid: string): void {
    this.#signers.delete(signerId(tenantId, kid));
  }

  forgetTenant(tenantId: string): void {
    this.#signers.deleteByPrefix(signerId(tenantId, ''));
  }

  clear(): void {
    this.#signers.clear();
  }

  get size(): number {
    return this.#signers.size.entries;
  }
}

/** A kid is never reused for other key material; the tenant id keeps tenants apart regardless. */
function signerId(tenantId: string, kid: string): string {
  return `${tenantId}\n${kid}`;
}

/*
 * Estimated bytes, calibrated against the process's resident memory per entry
 * (1,000s of entries loaded, after a full GC; Node.js 20): a tenant with one API of
 * one scope and two keys about 4.5 KB, a client with one secret and one grant about
 * 2.3 KB, an ES256 signer about 6 KB once it has signed. Strings count two bytes a
 * character (V8 keeps some in two-byte form).
 */

/** A tenant's context: the rows it keeps, its maps, and per published key its JWK (and public key once imported). */
function weighTenant(context: TenantContext): number {
  let bytes = 2200 + context.publishedKeys.size * 900 + context.tenant.name.length * 2;
  for (const api of context.apisById.values()) bytes += 900 + api.identifier.length * 4 + api.scopes.length * 250;
  bytes += context.federations.length * 2048;
  return bytes;
}

/** An unsealed signer: mostly OpenSSL's key object (with what its first signature adds), outside the JavaScript heap. */
function weighSigner(alg: SigningAlg): number {
  return alg === 'EdDSA' ? 2300 : alg === 'ES256' ? 6000 : 8600;
}

/** A client's entry: the client, its parsed secret hashes and its grants with their scope sets. */
function weighClient(entry: ClientEntry): number {
  let bytes = 1300 + entry.client.name.length * 2 + entry.secrets.length * 400 + JSON.stringify(entry.client.jwks ?? null).length * 2;
  for (const grant of entry.grants.values()) bytes += 550 + grant.audience.length * 2 + grant.scopes.length * 120;
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
