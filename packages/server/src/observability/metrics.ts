/**
 * Prometheus metrics (docs/metrics.md), one registry per app so tests can build
 * several. Per-request cost is a few Map lookups and prom-client observations: label
 * children are cached, nothing is allocated per request beyond the cache key.
 *
 * Label cardinality is bounded whatever the number of clients: no client id is ever a
 * label (per-client figures belong to usage analytics), error codes and grant types
 * come from fixed sets, and the first `maxTenantLabels` tenants seen get their own
 * `tenant` label while every later one shares `tenant="other"`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheEvents } from '../domain/entry-cache.js';
import type { LimitKind, ProtectionEvents } from '../oauth/protection.js';
import type { SigningKey, Store } from '../store/types.js';

/** What the in-memory registry reports about its caches and its change feed (wired in app.ts). */
export type { CacheEvents };

/** What the store wrapper reports (store-instrumentation.ts). */
export interface StoreEvents {
  query(operation: string, seconds: number): void;
  error(operation: string): void;
}

export interface KeyScheduleSource {
  store: Store;
  rotationInterval: number;
  now: () => number;
}

const KNOWN_GRANTS = new Set([
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'urn:ietf:params:oauth:grant-type:token-exchange',
]);

export class Metrics implements CacheEvents, StoreEvents, ProtectionEvents {
  readonly registry = new Registry();
  readonly #tenants = new Set<string>();
  readonly #maxTenantLabels: number;

  readonly #issued: Counter<'tenant' | 'grant_type' | 'auth_method'>;
  readonly #refused: Counter<'tenant' | 'grant_type' | 'error'>;
  readonly #tokenDuration: Histogram<'outcome'>;
  readonly #authFailures: Counter<'tenant' | 'endpoint'>;
  readonly #cacheHits: Counter<'cache'>;
  readonly #cacheMisses: Counter<'cache'>;
  readonly #cacheLoads: Histogram<'cache'>;
  readonly #cacheEvictions: Counter<'cache'>;
  readonly #feedLag: Gauge;
  readonly #storeDuration: Histogram<'operation'>;
  readonly #storeErrors: Counter<'operation'>;
  readonly #rejections: Counter<'limit' | 'mode'>;
  readonly #children = new Map<object, Map<string, { inc(value?: number): void }>>();
  readonly #tokenDurationOk: { observe(value: number): void };
  readonly #tokenDurationError: { observe(value: number): void };

  constructor(options: { maxTenantLabels: number; processMetrics?: boolean }) {
    this.#maxTenantLabels = options.maxTenantLabels;
    const registers = [this.registry];
    this.#issued = new Counter({ name: 'tessera_tokens_issued_total', help: 'Access tokens issued', labelNames: ['tenant', 'grant_type', 'auth_method'], registers });
    this.#refused = new Counter({ name: 'tessera_token_requests_refused_total', help: 'Token requests answered with an error, by OAuth error code', labelNames: ['tenant', 'grant_type', 'error'], registers });
    this.#tokenDuration = new Histogram({
      name: 'tessera_token_request_duration_seconds',
      help: 'Token endpoint latency, from routing to the response being handed to Fastify',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#tokenDurationOk = this.#tokenDuration.labels('issued');
    this.#tokenDurationError = this.#tokenDuration.labels('refused');
    this.#authFailures = new Counter({ name: 'tessera_client_auth_failures_total', help: 'Failed client authentications (invalid_client)', labelNames: ['tenant', 'endpoint'], registers });
    this.#cacheHits = new Counter({ name: 'tessera_cache_hits_total', help: 'Registry cache hits', labelNames: ['cache'], registers });
    this.#cacheMisses = new Counter({ name: 'tessera_cache_misses_total', help: 'Registry cache misses', labelNames: ['cache'], registers });
    this.#cacheLoads = new Histogram({ name: 'tessera_cache_load_duration_seconds', help: 'Time to load a registry cache entry from the store', labelNames: ['cache'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers });
    this.#cacheEvictions = new Counter({ name: 'tessera_cache_evictions_total', help: 'Registry cache entries dropped (change feed or size bound)', labelNames: ['cache'], registers });
    this.#feedLag = new Gauge({ name: 'tessera_change_feed_lag_seconds', help: 'Seconds since this replica last read the store\'s change feed to its end (0 right after a successful poll)', registers });
    this.#storeDuration = new Histogram({ name: 'tessera_store_query_duration_seconds', help: 'Store operation latency', labelNames: ['operation'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers });
    this.#storeErrors = new Counter({ name: 'tessera_store_errors_total', help: 'Store operations that failed', labelNames: ['operation'], registers });
    this.#rejections = new Counter({ name: 'tessera_rate_limit_rejections_total', help: 'Requests over a limit: refused with 429 (mode="enforce") or only counted (mode="monitor")', labelNames: ['limit', 'mode'], registers });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'tessera_' });
  }

  /** The `tenant` label of a tenant id: itself for the first `maxTenantLabels` tenants, then "other". */
  tenantLabel(tenantId: string): string {
    if (this.#tenants.has(tenantId)) return tenantId;
    if (this.#tenants.size >= this.#maxTenantLabels) return 'other';
    this.#tenants.add(tenantId);
    return tenantId;
  }

  tokenIssued(tenantId: string, grantType: string, authMethod: string, seconds: number): void {
    this.#child(this.#issued, this.tenantLabel(tenantId), grantType, authMethod).inc();
    this.#tokenDurationOk.observe(seconds);
  }

  tokenRefused(tenantId: string | null, grantType: string | undefined, error: string, seconds: number): void {
    const grant = grantType === undefined ? 'none' : KNOWN_GRANTS.has(grantType) ? grantType : 'unsupported';
    this.#child(this.#refused, tenantId === null ? 'unknown' : this.tenantLabel(tenantId), grant, error).inc();
    this.#tokenDurationError.observe(seconds);
  }

  clientAuthFailed(tenantId: string, endpoint: string): void {
    this.#child(this.#authFailures, this.tenantLabel(tenantId), endpoint).inc();
  }

  // CacheEvents
  hit(cache: string): void {
    this.#child(this.#cacheHits, cache).inc();
  }
  miss(cache: string): void {
    this.#child(this.#cacheMisses, cache).inc();
  }
  load(cache: string, seconds: number): void {
    this.#cacheLoads.labels(cache).observe(seconds);
  }
  evict(cache: string, count: number): void {
    this.#child(this.#cacheEvictions, cache).inc(count);
  }
  feedLag(seconds: number): void {
    this.#feedLag.set(seconds);
  }

  // StoreEvents
  query(operation: string, seconds: number): void {
    this.#storeDuration.labels(operation).observe(seconds);
  }
  error(operation: string): void {
    this.#child(this.#storeErrors, operation).inc();
  }

  // ProtectionEvents
  rejected(kind: LimitKind, enforced: boolean): void {
    this.#child(this.#rejections, kind, enforced ? 'enforce' : 'monitor').inc();
  }

  /**
   * Signing-key age and time to the next scheduled rotation per tenant, read from the
   * store when Prometheus scrapes (at most once a minute; scrapes in between reuse it).
   */
  watchSigningKeys(source: KeyScheduleSource): void {
    let cached: { at: number; rows: KeyRow[] } | null = null;
    const read = async (): Promise<KeyRow[]> => {
      const now = source.now();
      if (cached !== null && now - cached.at < 60_000) return cached.rows;
      const rows: KeyRow[] = [];
      for (const tenant of await source.store.listTenants()) {
        const active = (await source.store.listSigningKeys(tenant.id)).find((k: SigningKey) => k.status === 'active');
        if (active === undefined || active.activatedAt === null) continue;
        const ageSeconds = (now - active.activatedAt) / 1000;
        rows.push({ tenant: tenant.id, ageSeconds, untilRotationSeconds: Math.max(0, source.rotationInterval - ageSeconds) });
      }
      cached = { at: now, rows };
      return rows;
    };
    const byLabel = (rows: KeyRow[], pick: (r: KeyRow) => number, worst: (a: number, b: number) => number) => {
      const values = new Map<string, number>();
      for (const row of rows) {
        const label = this.tenantLabel(row.tenant);
        const previous = values.get(label);
        values.set(label, previous === undefined ? pick(row) : worst(previous, pick(row)));
      }
      return values;
    };
    new Gauge({
      name: 'tessera_signing_key_age_seconds',
      help: 'Age of the active signing key per tenant (tenant="other": the oldest among the unlabelled tenants)',
      labelNames: ['tenant'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [tenant, value] of byLabel(await read(), (r) => r.ageSeconds, Math.max)) this.labels(tenant).set(value);
      },
    });
    new Gauge({
      name: 'tessera_signing_key_next_rotation_seconds',
      help: 'Seconds until the scheduled rotation of the active signing key per tenant (0: due)',
      labelNames: ['tenant'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [tenant, value] of byLabel(await read(), (r) => r.untilRotationSeconds, Math.min)) this.labels(tenant).set(value);
      },
    });
  }

  #child<L extends string>(metric: Counter<L>, ...values: string[]): { inc(value?: number): void } {
    let children = this.#children.get(metric);
    if (children === undefined) this.#children.set(metric, (children = new Map()));
    const key = values.join('\u0000');
    let child = children.get(key);
    if (child === undefined) {
      child = metric.labels(...values);
      children.set(key, child);
    }
    return child;
  }
}

interface KeyRow {
  tenant: string;
  ageSeconds: number;
  untilRotationSeconds: number;
}
