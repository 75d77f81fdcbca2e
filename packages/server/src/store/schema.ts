import type { Generated } from 'kysely';

/**
 * Row shapes as stored, shared by SQLite and PostgreSQL. Portable on purpose:
 * times are epoch-ms integers (`bigint` in PostgreSQL, parsed back to numbers),
 * booleans are integers 0/1, JSON-shaped fields are text.
 */

export interface TenantsTable {
  id: string;
  name: string;
  signing_alg: string;
  access_token_lifetime: number | null;
  token_quota_per_minute: number | null;
  trust_domain: string | null;
  dpop_nonce_required: number;
  created_at: number;
}

export interface ClientsTable {
  tenant_id: string;
  client_id: string;
  name: string;
  token_endpoint_auth_method: string;
  jwks: string | null;
  jwks_uri: string | null;
  tls_client_auth_subject_dn: string | null;
  access_token_lifetime: number | null;
  token_quota_per_minute: number | null;
  dpop_bound_access_tokens: number;
  txn_token_service: number;
  disabled: number;
  created_at: number;
  updated_at: number;
  custom_claims: string | null;
}

export interface ClientSecretsTable {
  id: string;
  tenant_id: string;
  client_id: string;
  hash: string;
  created_at: number;
  last_used_at: number | null;
}

export interface ApisTable {
  tenant_id: string;
  id: string;
  identifier: string;
  name: string;
  scopes: string;
  access_token_lifetime: number | null;
  token_format: string;
  introspectors: string;
  created_at: number;
  updated_at: number;
}

export interface GrantsTable {
  tenant_id: string;
  id: string;
  client_id: string;
  api_id: string;
  audience: string;
  scopes: string;
  created_at: number;
  custom_claims: string | null;
}

export interface SigningKeysTable {
  tenant_id: string;
  kid: string;
  alg: string;
  status: string;
  public_jwk: string;
  private_key_encrypted: string;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  publish_until: number | null;
}

export interface FederationsTable {
  tenant_id: string;
  id: string;
  name: string;
  issuer: string;
  jwks_uri: string | null;
  jwks: string | null;
  audience: string | null;
  rules: string;
  created_at: number;
  kind: string;
  claim_mappings: string | null;
  replay_protection: string | null;
  exchange_rules: string | null;
}

export interface OpaqueTokensTable {
  token_hash: string;
  tenant_id: string;
  client_id: string;
  jti: string;
  claims: string;
  expires_at: number;
  revoked: number;
}

export interface RevokedJtisTable {
  tenant_id: string;
  jti: string;
  expires_at: number;
}

/** A single-use key (a client assertion's `jti`, say) of one namespace, until it expires (state/types.ts). */
export interface SingleUseTable {
  tenant_id: string;
  namespace: string;
  key: string;
  expires_at: number;
}

export interface RateLimitsTable {
  key: string;
  window_start: number;
  hits: number;
}

export interface AuditLogTable {
  id: string;
  tenant_id: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  details: string;
  at: number;
}

export interface ConsoleUsersTable {
  username: string;
  password_hash: string;
  created_at: number;
  role: string;
  /** JSON array of tenant ids; null: every tenant. */
  tenants: string | null;
  updated_at: number | null;
  password_changed_at: number | null;
}

export interface MetaTable {
  key: string;
  value: string;
}

/** The change feed: one row per changed registry entry, in commit order (docs/storage.md). */
export interface ChangesTable {
  seq: Generated<number>;
  tenant_id: string;
  kind: string;
  entity_id: string;
  at: number;
}

/** The usage store's last uses (store/usage-store.ts), read here only to list clients by last use. */
export interface UsageLastUsedTable {
  tenant_id: string;
  kind: string;
  subject: string;
  last_used_at: number;
}

export interface Database {
  tenants: TenantsTable;
  clients: ClientsTable;
  client_secrets: ClientSecretsTable;
  apis: ApisTable;
  grants: GrantsTable;
  signing_keys: SigningKeysTable;
  federations: FederationsTable;
  opaque_tokens: OpaqueTokensTable;
  revoked_jtis: RevokedJtisTable;
  single_use: SingleUseTable;
  rate_limits: RateLimitsTable;
  audit_log: AuditLogTable;
  console_users: ConsoleUsersTable;
  meta: MetaTable;
  changes: ChangesTable;
  usage_last_used: UsageLastUsedTable;
}
