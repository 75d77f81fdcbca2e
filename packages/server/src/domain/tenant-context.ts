/**
 * The in-memory view of one tenant that the protocol endpoints read: clients,
 * secrets, APIs, grants and keys, indexed for the token endpoint, with the active
 * signing key unsealed once. A token costs one signature and no store round trip.
 *
 * Invalidation: every change bumps the store's state version; each replica polls it
 * (SPEC §8: visible everywhere within 2 s) and changes made through this replica
 * drop the affected tenant at once.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import type { MasterKey } from '../crypto/master-key.js';
import { JwtSigner, publicKeyFromJwk } from '../crypto/signing.js';
import type { Api, Client, ClientSecret, Federation, Grant, SigningKey, Store, Tenant, TenantSnapshot } from '../store/types.js';
import { TENANT_ID } from './rules.js';

export interface PublishedKey {
  kid: string;
  alg: string;
  status: SigningKey['status'];
  key: KeyObject;
  jwk: JWK;
}

export class TenantContext {
  readonly tenant: Tenant;
  readonly issuer: string;
  readonly clients: ReadonlyMap<string, Client>;
  readonly secretsByClient: ReadonlyMap<string, ClientSecret[]>;
  readonly apisByIdentifier: ReadonlyMap<string, Api>;
  readonly apisById: ReadonlyMap<string, Api>;
  /** clientId -> apiId -> grant */
  readonly grantsByClient: ReadonlyMap<string, ReadonlyMap<string, Grant>>;
  readonly federations: readonly Federation[];
  readonly #activeKey: SigningKey | undefined;
  readonly #masterKey: MasterKey;
  #signer: JwtSigner | undefined;
  /** Keys in the JWKS (next, active, retired-but-not-expired), by kid. */
  readonly publishedKeys: ReadonlyMap<string, PublishedKey>;
  readonly jwks: { body: string; etag: string };

  constructor(snapshot: TenantSnapshot, publicUrl: string, masterKey: MasterKey, now: number) {
    this.tenant = snapshot.tenant;
    this.issuer = `${publicUrl}/t/${snapshot.tenant.id}`;
    this.clients = new Map(snapshot.clients.map((c) => [c.clientId, c]));
    this.secretsByClient = groupBy(snapshot.secrets, (s) => s.clientId);
    this.apisByIdentifier = new Map(snapshot.apis.map((a) => [a.identifier, a]));
    this.apisById = new Map(snapshot.apis.map((a) => [a.id, a]));
    const grants = new Map<string, Map<string, Grant>>();
    for (const grant of snapshot.grants) {
      let byApi = grants.get(grant.clientId);
      if (byApi === undefined) grants.set(grant.clientId, (byApi = new Map()));
      byApi.set(grant.apiId, grant);
    }
    this.grantsByClient = grants;
    this.federations = snapshot.federations;

    const published = snapshot.keys
      .filter((k) => k.status === 'next' || k.status === 'active' || (k.status === 'retired' && (k.publishUntil ?? 0) > now))
      .sort((a, b) => keyOrder(a) - keyOrder(b) || a.createdAt - b.createdAt);
    this.publishedKeys = new Map(
      published.map((k) => [
        k.kid,
        { kid: k.kid, alg: k.alg, status: k.status, key: publicKeyFromJwk(k.publicJwk as JWK), jwk: k.publicJwk as JWK },
      ]),
    );
    this.#activeKey = snapshot.keys.find((k) => k.status === 'active');
    this.#masterKey = masterKey;
    const body = JSON.stringify({ keys: published.map((k) => publicJwkForJwks(k.publicJwk)) });
    this.jwks = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
  }

  /**
   * The key that signs now, unsealed on first use (discovery and the JWKS never need
   * it); null only if the tenant has no active key (never after bootstrap).
   */
  get signer(): JwtSigner | null {
    if (this.#activeKey === undefined) return null;
    this.#signer ??= JwtSigner.unseal(this.#activeKey, this.#masterKey);
    return this.#signer;
  }

  grantFor(clientId: string, apiId: string): Grant | undefined {
    return this.grantsByClient.get(clientId)?.get(apiId);
  }
}

function keyOrder(key: SigningKey): number {
  return key.status === 'active' ? 0 : key.status === 'next' ? 1 : 2;
}

/** Only the public members, whatever the stored JWK carries. */
function publicJwkForJwks(jwk: Record<string, unknown>): Record<string, unknown> {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicMembers } = jwk;
  return publicMembers;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [item]);
    else group.push(item);
  }
  return groups;
}

/**
 * Caches one TenantContext per tenant (including "no such tenant"), loads each at
 * most once at a time, and drops them when the store's state version moves.
 */
export class TenantRegistry {
  readonly #store: Store;
  readonly #publicUrl: string;
  readonly #masterKey: MasterKey;
  readonly #now: () => number;
  readonly #contexts = new Map<string, Promise<TenantContext | null>>();
  #version = -1;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: { store: Store; publicUrl: string; masterKey: MasterKey; now: () => number }) {
    this.#store = options.store;
    this.#publicUrl = options.publicUrl;
    this.#masterKey = options.masterKey;
    this.#now = options.now;
  }

  get(tenantId: string): Promise<TenantContext | null> {
    // Anything that cannot be a tenant id never reaches the store or the cache.
    if (!TENANT_ID.test(tenantId)) return Promise.resolve(null);
    let context = this.#contexts.get(tenantId);
    if (context === undefined) {
      const loading = this.#load(tenantId);
      context = loading;
      this.#contexts.set(tenantId, loading);
      // Only tenants that exist stay cached: "no such tenant" and a failed load (store
      // down) are forgotten, so requests for made-up tenant ids cannot grow the cache.
      loading.then(
        (found) => {
          if (found === null && this.#contexts.get(tenantId) === loading) this.#contexts.delete(tenantId);
        },
        () => {
          if (this.#contexts.get(tenantId) === loading) this.#contexts.delete(tenantId);
        },
      );
    }
    return context;
  }

  async #load(tenantId: string): Promise<TenantContext | null> {
    const snapshot = await this.#store.loadTenantSnapshot(tenantId);
    return snapshot === null ? null : new TenantContext(snapshot, this.#publicUrl, this.#masterKey, this.#now());
  }

  /** Drops one tenant (after a change made through this replica) or all of them. */
  invalidate(tenantId?: string): void {
    if (tenantId === undefined) this.#contexts.clear();
    else this.#contexts.delete(tenantId);
  }

  /** Compares the store's state version with the last one seen; drops everything when it moved. */
  async refresh(): Promise<void> {
    const version = await this.#store.stateVersion();
    if (version !== this.#version) {
      this.#version = version;
      this.#contexts.clear();
    }
  }

  /** Polls the state version; a failing store keeps the caches (they answer while it is down). */
  startPolling(intervalMs: number, onError: (error: unknown) => void): void {
    this.stopPolling();
    this.#timer = setInterval(() => {
      this.refresh().catch(onError);
    }, intervalMs);
    this.#timer.unref();
  }

  stopPolling(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
