/**
 * The hot state: what the token path writes per request and forgets after minutes.
 * Single-use keys (client-assertion `jti`s today, DPoP proofs and transaction tokens
 * next), revoked JWT ids, opaque tokens and rate-limit windows, and nothing else.
 * Apart from the registry (store/types.ts) because its lifetimes and write rates are
 * another kind: nothing here is audited or change-fed, every row expires, and a site
 * may keep it in Redis while the registry stays in SQLite or PostgreSQL
 * (docs/storage.md).
 *
 * Times are epoch milliseconds.
 */
import type { OpaqueToken } from '../types.js';

export type StateStoreKind = 'sqlite' | 'postgres' | 'redis';

export interface RateLimitHit {
  key: string;
  /** Hits to add; 0 only asks for the total. */
  count: number;
}

export interface StateStore {
  readonly kind: StateStoreKind;

  /**
   * Records `key` of `namespace` in `tenantId` as used until `expiresAt`. True for the
   * first caller, false for every other one (a replay), across workers and replicas:
   * the database's unique key (or Redis's `SET NX`) decides. Calls made together are
   * written together (one statement per event-loop turn on SQL stores).
   */
  useOnce(namespace: string, tenantId: string, key: string, expiresAt: number): Promise<boolean>;

  /** Records a revoked JWT id until it expires (idempotent). */
  revokeJti(tenantId: string, jti: string, expiresAt: number): Promise<void>;
  isJtiRevoked(tenantId: string, jti: string): Promise<boolean>;

  /** Stores an opaque token by the hash of its value; StoreConflictError when the hash exists. */
  insertOpaqueToken(token: OpaqueToken): Promise<void>;
  /** The token of this tenant with this hash, revoked or not (the caller checks `exp`); null when unknown. */
  getOpaqueToken(tenantId: string, tokenHash: string): Promise<OpaqueToken | null>;
  /** True when the token exists (it is revoked now, whether or not it was before). */
  revokeOpaqueToken(tenantId: string, tokenHash: string): Promise<boolean>;

  /**
   * Adds this process's rate-limit hits of one window and returns every process's
   * total for each key given. Atomic per key; any number of keys (sent in chunks).
   */
  addRateLimitHits(windowStart: number, hits: readonly RateLimitHit[]): Promise<Map<string, number>>;

  /** Ends a deleted client's state: its opaque tokens. */
  endClient(tenantId: string, clientId: string): Promise<void>;
  /** Ends a deleted tenant's state: its opaque tokens, revoked and single-use ids. */
  endTenant(tenantId: string): Promise<void>;
  /** Deletes what has expired (SQL stores; Redis expires keys itself). Returns rows removed. */
  purgeExpired(now: number): Promise<number>;

  /** Cheap liveness probe; rejects with StoreUnavailableError, saying why, when down. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
