/**
 * The storage contract. Routes never see it; domain services are its only callers.
 * Two implementations share one Kysely query layer: SQLite (embedded default) and
 * PostgreSQL (several replicas). Every method that changes state takes an optional
 * audit entry and writes it in the same transaction, together with a row of the
 * change feed naming what changed (tenant, kind, entity), so that every replica
 * invalidates exactly the cached entries that changed (docs/storage.md).
 *
 * Times are epoch milliseconds (numbers). JSON-shaped fields are plain values here;
 * the store serialises them.
 */
import type { StateStore } from './state/types.js';
import type { UsageStore } from './usage-store.js';

export type SigningAlg = 'ES256' | 'RS256' | 'PS256' | 'EdDSA';
export type TokenEndpointAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'private_key_jwt'
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth';

/** The methods that authenticate with a client secret (RFC 6749 §2.3.1); every other method holds none. */
export const SECRET_METHODS: readonly TokenEndpointAuthMethod[] = ['client_secret_basic', 'client_secret_post'];

export function isSecretMethod(method: TokenEndpointAuthMethod): boolean {
  return SECRET_METHODS.includes(method);
}

export type TokenFormat = 'jwt' | 'opaque';
export type KeyStatus = 'next' | 'active' | 'retired' | 'revoked';

/** A JSON value, as a custom claim may hold one. */
export type ClaimValue = string | number | boolean | null | ClaimValue[] | { [name: string]: ClaimValue };
/** Claims added to every token of a client or a grant (domain/claims.ts checks names and sizes). */
export type CustomClaims = Record<string, ClaimValue>;

export interface Tenant {
  id: string;
  name: string;
  signingAlg: SigningAlg;
  /** Default access-token lifetime in seconds for this tenant (null: server default). */
  accessTokenLifetime: number | null;
  /** Token requests per minute for each client of the tenant (null or absent: server default; 0: none). */
  tokenQuotaPerMinute?: number | null;
  /** Audience of this tenant's transaction tokens (null or absent: the issuer). */
  trustDomain?: string | null;
  /** Whether DPoP proofs must carry a nonce from `DPoP-Nonce` (RFC 9449 §8). */
  dpopNonceRequired?: boolean;
  createdAt: number;
}

export interface Client {
  tenantId: string;
  clientId: string;
  name: string;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** Public JWK Set for private_key_jwt / self_signed_tls_client_auth. */
  jwks: { keys: Record<string, unknown>[] } | null;
  jwksUri: string | null;
  tlsClientAuthSubjectDn: string | null;
  accessTokenLifetime: number | null;
  /** Token requests per minute for this client (null or absent: the tenant's or server's; 0: none). */
  tokenQuotaPerMinute?: number | null;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: token requests without a DPoP proof are refused. */
  dpopBoundAccessTokens?: boolean;
  /** May mint transaction tokens (draft-ietf-oauth-transaction-tokens). */
  txnTokenService?: boolean;
  disabled: boolean;
  /** Static claims in every token issued to this client. */
  customClaims: CustomClaims;
  createdAt: number;
  updatedAt: number;
}

export interface ClientSecret {
  id: string;
  tenantId: string;
  clientId: string;
  /** Output of crypto/secrets.ts hashSecret(): never the secret itself. */
  hash: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface ApiScope {
  value: string;
  description?: string;
}

export interface Api {
  id: string;
  tenantId: string;
  identifier: string;
  name: string;
  scopes: ApiScope[];
  accessTokenLifetime: number | null;
  tokenFormat: TokenFormat;
  introspectors: string[];
  createdAt: number;
  updatedAt: number;
}

export interface Grant {
  id: string;
  tenantId: string;
  clientId: string;
  apiId: string;
  /** Denormalised API identifier, kept in step with the API. */
  audience: string;
  scopes: string[];
  /** Static claims in every token issued under this grant (win over the client's). */
  customClaims: CustomClaims;
  createdAt: number;
}

export interface SigningKey {
  kid: string;
  tenantId: string;
  alg: SigningAlg;
  status: KeyStatus;
  publicJwk: Record<string, unknown>;
  /** Private key encrypted under the master key (crypto/key-encryption.ts). */
  privateKeyEncrypted: string;
  createdAt: number;
  activatedAt: number | null;
  retiredAt: number | null;
  /** When a retired key may be dropped from the JWKS: every token it signed has expired. */
  publishUntil: number | null;
}

/**
 * A condition on one string claim of an external JWT: a bare string is an exact
 * match (the shape rules had first); otherwise exactly one of equals, prefix, oneOf.
 * A claim that is absent, or not a string (an object, an array, a number), never matches.
 */
export type ClaimCondition = string | { equals: string } | { prefix: string } | { oneOf: string[] };

/** Workload rule: a JWT whose `sub` and claims all match acts as `clientId`. */
export interface FederationRule {
  /** The external `sub`, exact, or a prefix ending in `*`; absent: any subject (then claims must say something). */
  subject?: string;
  claims?: Record<string, ClaimCondition>;
  clientId: string;
}

/**
 * Subject-token rule (RFC 8693): tokens of the issuer addressed to `audience` (one of
 * their `aud` values) may be exchanged by the listed clients of this tenant, if the
 * claim conditions also hold.
 */
export interface ExchangeRule {
  audience: string;
  clients: string[];
  claims?: Record<string, ClaimCondition>;
}

/**
 * Replay protection for the issuer's JWTs: off (platform tokens are presented again
 * and again), single use of `jti` across all replicas, or a maximum age since `iat`.
 */
export type ReplayProtection = { mode: 'off' } | { mode: 'single-use' } | { mode: 'max-age'; maxAgeSeconds: number };

/**
 * 'workload': the issuer's JWTs stand in for a client's credentials (RFC 7523 §2.1).
 * 'subject': the issuer's user tokens are subject tokens for token exchange (RFC 8693).
 */
export type FederationKind = 'workload' | 'subject';

export interface Federation {
  id: string;
  tenantId: string;
  name: string;
  kind: FederationKind;
  issuer: string;
  /** Neither jwksUri nor jwks: keys found by OpenID discovery of the issuer. */
  jwksUri: string | null;
  jwks: { keys: Record<string, unknown>[] } | null;
  /** Workload: the `aud` assertions must carry (default: the tenant's issuer or token endpoint). */
  audience: string | null;
  /** Workload rules (empty for a subject federation). */
  rules: FederationRule[];
  /** Subject-token rules (empty for a workload federation). */
  exchangeRules: ExchangeRule[];
  /** Claims copied into issued tokens: name in the issued token -> name in the external JWT. */
  claimMappings: Record<string, string>;
  replayProtection: ReplayProtection;
  createdAt: number;
}

export interface OpaqueToken {
  /** SHA-256 of the token value (base64url); the value itself is never stored. */
  tokenHash: string;
  tenantId: string;
  clientId: string;
  jti: string;
  claims: Record<string, unknown>;
  expiresAt: number;
  revoked: boolean;
}

export interface AuditEntry {
  id: string;
  tenantId: string;
  /** Who did it: an admin client id, 'bootstrap', 'system' (scheduled rotation). */
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  /** Never a secret or key material. */
  details: Record<string, unknown>;
  at: number;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'>;

export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, or null at the end. */
  nextCursor: string | null;
}

export interface PageRequest {
  limit: number;
  cursor?: string | null;
}

export type SortOrder = 'asc' | 'desc';

/**
 * A list request with search and sort. Every sort is a walk of an index in key order
 * (with the id breaking ties), and the cursor says where the walk stopped, so a page
 * costs the same however many rows the tenant has and stays correct under any sort.
 */
export interface ListRequest<S extends string> extends PageRequest {
  /** Case-insensitive substring of the id or the name. */
  q?: string;
  /** Default createdAt, ascending. */
  sort?: S;
  order?: SortOrder;
}

export type ClientSort = 'createdAt' | 'clientId' | 'name' | 'lastUsedAt';
export interface ClientListRequest extends ListRequest<ClientSort> {
  /** Only clients created at or before this time that got no token since (never used included). */
  dormantSince?: number;
}
/** A client in a list, with when it last got a token (the usage store's last use; null: never, or longer ago than usage is kept). */
export type ClientListItem = Client & { lastUsedAt: number | null };

export type ApiSort = 'createdAt' | 'identifier' | 'name';
export type GrantSort = 'createdAt' | 'clientId' | 'audience';
export interface GrantFilter {
  clientId?: string;
  audience?: string;
  /** Only grants created at or before this time (usage reports: old enough to have been used). */
  createdBefore?: number;
}

export interface AuditQuery extends PageRequest {
  /** Default desc: newest first. */
  order?: SortOrder;
  action?: string;
  actor?: string;
  targetType?: string;
  targetId?: string;
  since?: number;
  until?: number;
}

export type ConsoleRole = 'viewer' | 'admin';

export interface ConsoleUser {
  username: string;
  passwordHash: string;
  /** A viewer reads; an admin also changes. */
  role: ConsoleRole;
  /** The tenants the user may act on; null: every tenant. */
  tenants: string[] | null;
  createdAt: number;
  updatedAt: number | null;
  /** When the password was last set: console sessions signed in before then are refused. */
  passwordChangedAt: number;
}

/**
 * What a change feed row names. Tenant-level kinds (`tenant`, `api`, `federation`,
 * `key`) change a tenant's small shared data; `client` (the client or its secrets)
 * and `grant` change one client's entry, and their `entityId` is the client id.
 */
export type ChangeKind = 'tenant' | 'api' | 'federation' | 'key' | 'client' | 'grant';

export interface ChangeRef {
  tenantId: string;
  kind: ChangeKind;
  entityId: string;
}

/** One row of the change feed: `seq` grows in commit order. */
export interface Change extends ChangeRef {
  seq: number;
  /** When it was committed (epoch ms). */
  at: number;
}

/** What the token endpoint needs of one client: loaded with one indexed lookup per table. */
export interface ClientRecord {
  client: Client;
  secrets: ClientSecret[];
  grants: Grant[];
}

/** A tenant's small shared data: its row, APIs, signing keys and federations. */
export interface TenantRecord {
  tenant: Tenant;
  apis: Api[];
  keys: SigningKey[];
  federations: Federation[];
}

/** A connection that wakes this replica when another one commits a change (PostgreSQL). */
export interface ChangeListener {
  close(): Promise<void>;
}

/**
 * The registry: configuration aggregates, the change feed and the audit log. Rarely
 * written, every write audited and change-fed. The hot state (single-use ids,
 * revocations, opaque tokens, rate-limit windows) is the StateStore's
 * (store/state/types.ts); the usage counters have a store of their own too.
 */
/** The embedded store's two connections per process: the registry's and the state store's. */
export type StoreConnectionName = 'registry' | 'state';

/** Seconds one use of a connection (a statement, or a transaction) waited for a lock. */
export type LockWaitListener = (connection: StoreConnectionName, seconds: number) => void;

export interface RegistryStore {
  readonly kind: 'sqlite' | 'postgres';

  /** Runs pending migrations. Safe to call from several replicas at once. */
  migrate(): Promise<void>;
  /** Cheap liveness probe (SELECT 1). */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** The usage counters (store/usage-store.ts): their own interface, in the same database. */
  usage(): UsageStore;
  /**
   * The state store in this same database (store/state/sql.ts), used unless
   * `--state-url` names another (Redis). Opened on first use, closed with this store.
   */
  state(): StateStore;

  // Change feed (docs/storage.md)
  /** Sequence number of the newest change (0 when there is none). */
  latestChangeSeq(): Promise<number>;
  /**
   * Changes after `afterSeq`, oldest first, at most `limit`. `trimmedThrough` is the
   * highest sequence number trimming removed, when the answer skips numbers (a replica
   * behind it missed changes); 0 otherwise.
   */
  readChanges(afterSeq: number, limit: number): Promise<{ changes: Change[]; trimmedThrough: number }>;
  /** Removes changes committed before `before` (epoch ms), always keeping the newest. Returns rows removed. */
  trimChanges(before: number): Promise<number>;
  /**
   * Calls `listener` after every commit of this process that recorded changes, before
   * the changing call returns (read-your-writes for this replica's caches).
   */
  onCommit(listener: (changes: Change[]) => Promise<void> | void): void;
  /**
   * PostgreSQL: a LISTEN connection calling `onNotify` whenever any replica commits a
   * change, and `onError` when the connection is lost (the caller reconnects).
   * Null on SQLite, where replicas only poll.
   */
  listenForChanges(onNotify: () => void, onError: (error: unknown) => void): Promise<ChangeListener> | null;
  /**
   * SQLite: calls `listener` after every use of either connection of this process with
   * the time it waited for a lock, whether for the connection itself (another
   * statement or transaction of this process held it) or for the database's write lock
   * (another process held it). PostgreSQL waits inside the server and reports nothing.
   */
  observeLockWaits(listener: LockWaitListener): void;

  /**
   * Runs fn exactly once per database: the first caller (across all replicas) gets
   * fn executed inside one transaction (with an exclusive lock on PostgreSQL) and
   * receives its result; every other caller, now or later, receives null.
   */
  bootstrapOnce<T>(fn: (tx: Store) => Promise<T>): Promise<T | null>;
  /** Runs fn in one transaction; the Store passed to fn is bound to it. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;

  // Tenants
  createTenant(tenant: Tenant, audit?: NewAuditEntry): Promise<void>;
  getTenant(id: string): Promise<Tenant | null>;
  listTenants(): Promise<Tenant[]>;
  /** Tenant ids after `afterId` (null: from the first) in byte order, at most `limit`: the known-tenant directory's snapshot, page by page. */
  listTenantIds(afterId: string | null, limit: number): Promise<string[]>;
  updateTenant(id: string, patch: Partial<Omit<Tenant, 'id' | 'createdAt'>>, audit?: NewAuditEntry): Promise<Tenant | null>;
  /** Deletes the tenant and its registry entries (its state ends through StateStore.endTenant, its usage through UsageStore.deleteTenant). */
  deleteTenant(id: string, audit?: NewAuditEntry): Promise<boolean>;
  /** The tenant with its APIs, signing keys and federations; null when there is no such tenant. */
  loadTenantRecord(id: string): Promise<TenantRecord | null>;

  // Clients and their secrets
  createClient(client: Client, secrets: ClientSecret[], audit?: NewAuditEntry): Promise<void>;
  getClient(tenantId: string, clientId: string): Promise<Client | null>;
  listClients(tenantId: string, request: ClientListRequest): Promise<Page<ClientListItem>>;
  updateClient(tenantId: string, clientId: string, patch: Partial<Omit<Client, 'tenantId' | 'clientId' | 'createdAt'>>, audit?: NewAuditEntry): Promise<Client | null>;
  /** Deletes the client, its secrets and grants (its tokens end through the state store: StateStore.endClient). */
  deleteClient(tenantId: string, clientId: string, audit?: NewAuditEntry): Promise<boolean>;
  listClientSecrets(tenantId: string, clientId: string): Promise<ClientSecret[]>;
  /** The secrets of several clients in one query (a page of the client list). */
  listSecretsOfClients(tenantId: string, clientIds: string[]): Promise<ClientSecret[]>;
  /** The client with its secrets and grants, in one query; null when there is no such client. */
  loadClientRecord(tenantId: string, clientId: string): Promise<ClientRecord | null>;
  addClientSecret(secret: ClientSecret, audit?: NewAuditEntry): Promise<void>;
  deleteClientSecret(tenantId: string, clientId: string, secretId: string, audit?: NewAuditEntry): Promise<boolean>;
  /** Best-effort, batched by the caller; records no change (no cache holds it). */
  touchClientSecrets(used: { secretId: string; at: number }[]): Promise<void>;

  // APIs
  createApi(api: Api, audit?: NewAuditEntry): Promise<void>;
  getApi(tenantId: string, id: string): Promise<Api | null>;
  getApiByIdentifier(tenantId: string, identifier: string): Promise<Api | null>;
  listApis(tenantId: string, request: ListRequest<ApiSort>): Promise<Page<Api>>;
  updateApi(tenantId: string, id: string, patch: Partial<Omit<Api, 'id' | 'tenantId' | 'createdAt'>>, audit?: NewAuditEntry): Promise<Api | null>;
  /** Deletes the API and its grants. */
  deleteApi(tenantId: string, id: string, audit?: NewAuditEntry): Promise<boolean>;

  // Grants
  createGrant(grant: Grant, audit?: NewAuditEntry): Promise<void>;
  getGrant(tenantId: string, id: string): Promise<Grant | null>;
  /** `q`: a case-insensitive substring of the client id or the audience. */
  listGrants(tenantId: string, filter: GrantFilter, request: ListRequest<GrantSort>): Promise<Page<Grant>>;
  /** Changes a grant's scopes and/or custom claims; null when there is no such grant. */
  updateGrant(tenantId: string, id: string, patch: Partial<Pick<Grant, 'scopes' | 'customClaims'>>, audit?: NewAuditEntry): Promise<Grant | null>;
  deleteGrant(tenantId: string, id: string, audit?: NewAuditEntry): Promise<boolean>;

  // Signing keys
  listSigningKeys(tenantId: string): Promise<SigningKey[]>;
  insertSigningKey(key: SigningKey, audit?: NewAuditEntry): Promise<void>;
  /** `privateKeyEncrypted`: the same key sealed under another master key (`tessera keys rewrap`). */
  updateSigningKey(tenantId: string, kid: string, patch: Partial<Pick<SigningKey, 'status' | 'activatedAt' | 'retiredAt' | 'publishUntil' | 'privateKeyEncrypted'>>, audit?: NewAuditEntry): Promise<void>;
  deleteSigningKey(tenantId: string, kid: string, audit?: NewAuditEntry): Promise<void>;
  /**
   * Tenants whose keys need the rotation schedule's attention, in one query: the
   * active key was activated before `activatedBefore`, a retired key's publication
   * ended by `now`, or there is no active key.
   */
  tenantsWithKeyWork(now: number, activatedBefore: number): Promise<string[]>;
  /** When each tenant's active key was activated, in one query (the key-age metrics). */
  listActiveKeyActivations(): Promise<{ tenantId: string; activatedAt: number | null }[]>;
  /**
   * Takes a cluster-wide lock named `name` for the duration of fn (PostgreSQL:
   * transaction-scoped advisory lock; SQLite: the transaction itself). Used so that
   * only one replica rotates a tenant's keys at a time.
   */
  withLock<T>(name: string, fn: (tx: Store) => Promise<T>): Promise<T>;

  // Federations
  createFederation(federation: Federation, audit?: NewAuditEntry): Promise<void>;
  getFederation(tenantId: string, id: string): Promise<Federation | null>;
  listFederations(tenantId: string): Promise<Federation[]>;
  /** Replaces a federation's settings (not its id, tenant or creation time); null when there is no such federation. */
  updateFederation(federation: Federation, audit?: NewAuditEntry): Promise<Federation | null>;
  deleteFederation(tenantId: string, id: string, audit?: NewAuditEntry): Promise<boolean>;

  // Audit
  listAudit(tenantId: string, query: AuditQuery): Promise<Page<AuditEntry>>;

  // Console users
  createConsoleUser(user: ConsoleUser, audit?: NewAuditEntry): Promise<void>;
  getConsoleUser(username: string): Promise<ConsoleUser | null>;
  /** Every console user, by user name (a site has a handful). */
  listConsoleUsers(): Promise<ConsoleUser[]>;
  /** Null when there is no such user. */
  updateConsoleUser(
    username: string,
    patch: Partial<Pick<ConsoleUser, 'role' | 'tenants' | 'passwordHash' | 'passwordChangedAt'>>,
    audit?: NewAuditEntry,
  ): Promise<ConsoleUser | null>;
  deleteConsoleUser(username: string, audit?: NewAuditEntry): Promise<boolean>;

  // Key-value metadata (e.g. the bootstrap marker); `audit` for settings a person changes
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string, audit?: NewAuditEntry): Promise<void>;
}

/** The registry store, under the name its callers have used since before the state store was split off. */
export type Store = RegistryStore;
