/**
 * The storage contract. Routes never see it; domain services are its only callers.
 * Two implementations share one Kysely query layer: SQLite (embedded default) and
 * PostgreSQL (several replicas). Every method that changes state takes an optional
 * audit entry and writes it in the same transaction, and bumps the global
 * `stateVersion` so other replicas drop their caches.
 *
 * Times are epoch milliseconds (numbers). JSON-shaped fields are plain values here;
 * the store serialises them.
 */

export type SigningAlg = 'ES256' | 'RS256' | 'PS256' | 'EdDSA';
export type TokenEndpointAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'private_key_jwt'
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth';
export type TokenFormat = 'jwt' | 'opaque';
export type KeyStatus = 'next' | 'active' | 'retired' | 'revoked';

export interface Tenant {
  id: string;
  name: string;
  signingAlg: SigningAlg;
  /** Default access-token lifetime in seconds for this tenant (null: server default). */
  accessTokenLifetime: number | null;
  /** Token requests per minute for each client of the tenant (null or absent: server default; 0: none). */
  tokenQuotaPerMinute?: number | null;
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
  disabled: boolean;
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

export interface Federation {
  id: string;
  tenantId: string;
  name: string;
  issuer: string;
  jwksUri: string | null;
  jwks: { keys: Record<string, unknown>[] } | null;
  audience: string | null;
  /** Subject rules: external sub (exact or glob) + optional claim selectors -> clientId. */
  rules: { subject: string; claims?: Record<string, string>; clientId: string }[];
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

export interface AuditQuery extends PageRequest {
  action?: string;
  actor?: string;
  targetType?: string;
  targetId?: string;
  since?: number;
  until?: number;
}

export interface ConsoleUser {
  username: string;
  passwordHash: string;
  createdAt: number;
}

/**
 * Everything that belongs to one tenant and the token endpoint needs: loaded in one
 * call, cached in memory, dropped when `stateVersion` moves.
 */
export interface TenantSnapshot {
  tenant: Tenant;
  clients: Client[];
  secrets: ClientSecret[];
  apis: Api[];
  grants: Grant[];
  keys: SigningKey[];
  federations: Federation[];
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';

  /** Runs pending migrations. Safe to call from several replicas at once. */
  migrate(): Promise<void>;
  /** Cheap liveness probe (SELECT 1). */
  ping(): Promise<void>;
  close(): Promise<void>;

  /** Monotonic counter bumped by every change; replicas poll it to invalidate caches. */
  stateVersion(): Promise<number>;

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
  updateTenant(id: string, patch: Partial<Omit<Tenant, 'id' | 'createdAt'>>, audit?: NewAuditEntry): Promise<Tenant | null>;
  /** Deletes the tenant and everything in it. */
  deleteTenant(id: string, audit?: NewAuditEntry): Promise<boolean>;
  loadTenantSnapshot(id: string): Promise<TenantSnapshot | null>;

  // Clients and their secrets
  createClient(client: Client, secrets: ClientSecret[], audit?: NewAuditEntry): Promise<void>;
  getClient(tenantId: string, clientId: string): Promise<Client | null>;
  listClients(tenantId: string, page: PageRequest): Promise<Page<Client>>;
  updateClient(tenantId: string, clientId: string, patch: Partial<Omit<Client, 'tenantId' | 'clientId' | 'createdAt'>>, audit?: NewAuditEntry): Promise<Client | null>;
  /** Deletes the client, its secrets, grants and opaque tokens. */
  deleteClient(tenantId: string, clientId: string, audit?: NewAuditEntry): Promise<boolean>;
  listClientSecrets(tenantId: string, clientId: string): Promise<ClientSecret[]>;
  addClientSecret(secret: ClientSecret, audit?: NewAuditEntry): Promise<void>;
  deleteClientSecret(tenantId: string, clientId: string, secretId: string, audit?: NewAuditEntry): Promise<boolean>;
  /** Best-effort, batched by the caller; does not bump stateVersion. */
  touchClientSecrets(used: { secretId: string; at: number }[]): Promise<void>;

  // APIs
  createApi(api: Api, audit?: NewAuditEntry): Promise<void>;
  getApi(tenantId: string, id: string): Promise<Api | null>;
  getApiByIdentifier(tenantId: string, identifier: string): Promise<Api | null>;
  listApis(tenantId: string, page: PageRequest): Promise<Page<Api>>;
  updateApi(tenantId: string, id: string, patch: Partial<Omit<Api, 'id' | 'tenantId' | 'createdAt'>>, audit?: NewAuditEntry): Promise<Api | null>;
  /** Deletes the API and its grants. */
  deleteApi(tenantId: string, id: string, audit?: NewAuditEntry): Promise<boolean>;

  // Grants
  createGrant(grant: Grant, audit?: NewAuditEntry): Promise<void>;
  getGrant(tenantId: string, id: string): Promise<Grant | null>;
  listGrants(tenantId: string, filter: { clientId?: string; audience?: string }, page: PageRequest): Promise<Page<Grant>>;
  deleteGrant(tenantId: string, id: string, audit?: NewAuditEntry): Promise<boolean>;

  // Signing keys
  listSigningKeys(tenantId: string): Promise<SigningKey[]>;
  insertSigningKey(key: SigningKey, audit?: NewAuditEntry): Promise<void>;
  updateSigningKey(tenantId: string, kid: string, patch: Partial<Pick<SigningKey, 'status' | 'activatedAt' | 'retiredAt' | 'publishUntil'>>, audit?: NewAuditEntry): Promise<void>;
  deleteSigningKey(tenantId: string, kid: string, audit?: NewAuditEntry): Promise<void>;
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
  deleteFederation(tenantId: string, id: string, audit?: NewAuditEntry): Promise<boolean>;

  // Tokens: opaque tokens, revocations, assertion replay
  insertOpaqueToken(token: OpaqueToken): Promise<void>;
  getOpaqueToken(tokenHash: string): Promise<OpaqueToken | null>;
  revokeOpaqueToken(tokenHash: string): Promise<boolean>;
  /** Records a revoked JWT id until it expires. */
  revokeJti(tenantId: string, jti: string, expiresAt: number): Promise<void>;
  isJtiRevoked(tenantId: string, jti: string): Promise<boolean>;
  /**
   * Records a client-assertion `jti` as used. Returns false when it was already
   * recorded (a replay). Atomic across replicas (unique key + insert-or-nothing).
   */
  useAssertionJti(tenantId: string, clientId: string, jti: string, expiresAt: number): Promise<boolean>;
  /**
   * Adds this replica's rate-limit hits of one window (a count may be 0, to learn the
   * total) and returns every replica's total for each key given. Atomic per key.
   */
  addRateLimitHits(windowStart: number, hits: { key: string; count: number }[]): Promise<Map<string, number>>;
  /** Deletes expired opaque tokens, revoked-jti, replay and old rate-limit rows. Returns rows removed. */
  purgeExpired(now: number): Promise<number>;

  // Audit
  listAudit(tenantId: string, query: AuditQuery): Promise<Page<AuditEntry>>;

  // Console users
  createConsoleUser(user: ConsoleUser): Promise<void>;
  getConsoleUser(username: string): Promise<ConsoleUser | null>;

  // Key-value metadata (e.g. the bootstrap marker)
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
}
