/**
 * Prometheus metrics (docs/metrics.md), one registry per app so tests can build
 * several. What is counted on every request costs a Map lookup and a number
 * increment (hot-metrics.ts); prom-client sees the counts when Prometheus scrapes.
 *
 * Label cardinality is bounded whatever the number of clients: no client id is ever a
 * label (per-client figures belong to usage analytics), error codes and grant types
 * come from fixed sets, and the first `maxTenantLabels` tenants seen get their own
 * `tenant` label while every later one shares `tenant="other"`.
 */
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheEvents } from '../domain/entry-cache.js';
import type { OutcomeListener, ProtocolOutcome } from '../oauth/outcome.js';
import type { LimitKind, ProtectionEvents } from '../oauth/protection.js';
import { HotCounter, HotHistogram } from './hot-metrics.js';
import type { Store, StoreConnectionName } from '../store/types.js';

/** What the in-memory registry reports about its caches and its change feed (wired in app.ts). */
export type { CacheEvents };

/** What the store wrapper reports (store-instrumentation.ts). */
export interface StoreEvents {
  query(operation: string, seconds: number): void;
  error(operation: string): void;
}

export interface KeyScheduleSource {
  store: Pick<Store, 'listActiveKeyActivations'>;
  rotationInterval: number;
  now: () => number;
}

const KNOWN_GRANTS = new Set([
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'urn:ietf:params:oauth:grant-type:token-exchange',
]);

export class Metrics implements CacheEvents, StoreEvents, ProtectionEvents, OutcomeListener {
  readonly registry = new Registry();
  readonly #tenants = new Set<string>();
  readonly #maxTenantLabels: number;
  /** Under --workers: the whole host's metrics, aggregated in the primary (cluster.ts). */
  #host: (() => Promise<string>) | null = null;

  readonly #issued: HotCounter<'tenant' | 'grant_type' | 'auth_method'>;
  readonly #refused: HotCounter<'tenant' | 'grant_type' | 'error'>;
  readonly #authFailures: HotCounter<'tenant' | 'endpoint'>;
  readonly #cacheHits: HotCounter<'cache'>;
  readonly #cacheMisses: HotCounter<'cache'>;
  readonly #cacheLoads: Histogram<'cache'>;
  readonly #cacheEvictions: HotCounter<'cache'>;
  readonly #feedLag: Gauge;
  readonly #storeDuration: Histogram<'operation'>;
  readonly #storeErrors: HotCounter<'operation'>;
  readonly #lockWaits: Record<StoreConnectionName, { observe(value: number): void }>;
  readonly #rejections: HotCounter<'limit' | 'mode'>;
  readonly #tokenDurationOk: { observe(value: number): void };
  readonly #tokenDurationError: { observe(value: number): void };

  constructor(options: { maxTenantLabels: number; processMetrics?: boolean }) {
    this.#maxTenantLabels = options.maxTenantLabels;
    const registers = [this.registry];
    this.#issued = new HotCounter({ name: 'tessera_tokens_issued_total', help: 'Access tokens issued', labelNames: ['tenant', 'grant_type', 'auth_method'], registers });
    this.#refused = new HotCounter({ name: 'tessera_token_requests_refused_total', help: 'Token requests answered with an error, by OAuth error code', labelNames: ['tenant', 'grant_type', 'error'], registers });
    const tokenDuration = new HotHistogram(
      'tessera_token_request_duration_seconds',
      'Token endpoint latency, from routing to the response being written',
      'outcome',
      ['issued', 'refused'],
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      this.registry,
    );
    this.#tokenDurationOk = tokenDuration.child('issued');
    this.#tokenDurationError = tokenDuration.child('refused');
    this.#authFailures = new HotCounter({ name: 'tessera_client_auth_failures_total', help: 'Failed client authentications (invalid_client)', labelNames: ['tenant', 'endpoint'], registers });
    this.#cacheHits = new HotCounter({ name: 'tessera_cache_hits_total', help: 'Registry cache hits', labelNames: ['cache'], registers });
    this.#cacheMisses = new HotCounter({ name: 'tessera_cache_misses_total', help: 'Registry cache misses', labelNames: ['cache'], registers });
    this.#cacheLoads = new Histogram({ name: 'tessera_cache_load_duration_seconds', help: 'Time to load a registry cache entry from the store', labelNames: ['cache'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers });
    this.#cacheEvictions = new HotCounter({ name: 'tessera_cache_evictions_total', help: 'Registry cache entries dropped (change feed or size bound)', labelNames: ['cache'], registers });
    this.#feedLag = new Gauge({ name: 'tessera_change_feed_lag_seconds', help: 'Seconds since this replica last read the store\'s change feed to its end (0 right after a successful poll; under --workers the worker furthest behind)', aggregator: 'max', registers });
    this.#storeDuration = new Histogram({ name: 'tessera_store_query_duration_seconds', help: 'Store operation latency', labelNames: ['operation'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers });
    const lockWaits = new HotHistogram(
      'tessera_store_lock_wait_seconds',
      'SQLite: time each use of a store connection (a statement or a transaction) waited for a lock, its own process\'s connection or the database\'s write lock',
      'connection',
      ['registry', 'state'],
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      this.registry,
    );
    this.#lockWaits = { registry: lockWaits.child('registry'), state: lockWaits.child('state') };
    this.#storeErrors = new HotCounter({ name: 'tessera_store_errors_total', help: 'Store operations that failed', labelNames: ['operation'], registers });
    this.#rejections = new HotCounter({ name: 'tessera_rate_limit_rejections_total', help: 'Requests over a limit: refused with 429 (mode="enforce") or only counted (mode="monitor")', labelNames: ['limit', 'mode'], registers });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'tessera_' });
  }

  /** The `tenant` label of a tenant id: itself for the first `maxTenantLabels` tenants, then "other". */
  tenantLabel(tenantId: string): string {
    if (this.#tenants.has(tenantId)) return tenantId;
    if (this.#tenants.size >= this.#maxTenantLabels) return 'other';
    this.#tenants.add(tenantId);
    return tenantId;
  }

  /** How a protocol request ended: tokens issued and refused, their latency, failed client authentications. */
  outcome({ endpoint, tenant, error, grantType, client, authenticationFailure, seconds }: ProtocolOutcome): void {
    const tenantId = tenant?.tenant.id ?? null;
    if (authenticationFailure !== null && tenantId !== null) this.#authFailures.cell(this.tenantLabel(tenantId), endpoint).inc();
    if (endpoint !== 'token') return;
    if (error === null && tenantId !== null) {
      this.#issued.cell(this.tenantLabel(tenantId), grantType ?? 'none', client?.method ?? 'none').inc();
      this.#tokenDurationOk.observe(seconds);
      return;
    }
    const grant = grantType === undefined ? 'none' : KNOWN_GRANTS.has(grantType) ? grantType : 'unsupported';
    this.#refused.cell(tenantId === null ? 'unknown' : this.tenantLabel(tenantId), grant, error?.error ?? 'server_error').inc();
    this.#tokenDurationError.observe(seconds);
  }

  // CacheEvents
  hit(cache: string): void {
    this.#cacheHits.cell(cache).inc();
  }
  miss(cache: string): void {
    this.#cacheMisses.cell(cache).inc();
  }
  load(cache: string, seconds: number): void {
    this.#cacheLoads.labels(cache).observe(seconds);
  }
  evict(cache: string, count: number): void {
    this.#cacheEvictions.cell(cache).inc(count);
  }
  feedLag(seconds: number): void {
    this.#feedLag.set(seconds);
  }

  // StoreEvents
  query(operation: string, seconds: number): void {
    this.#storeDuration.labels(operation).observe(seconds);
  }
  error(operation: string): void {
    this.#storeErrors.cell(operation).inc();
  }
  /** A LockWaitListener (store/types.ts), bound: handed to the store as it is. */
  readonly lockWait = (connection: StoreConnectionName, seconds: number): void => {
    this.#lockWaits[connection].observe(seconds);
  };

  // ProtectionEvents
  rejected(kind: LimitKind, enforced: boolean): void {
    this.#rejections.cell(kind, enforced ? 'enforce' : 'monitor').inc();
  }

  /**
   * Signing-key age and time to the next scheduled rotation per tenant, read from the
   * store when Prometheus scrapes (at most once a minute; scrapes in between reuse it).
   */
  /**
   * What a scrape of /metrics returns: this process's metrics, or under `--workers`
   * every worker's, aggregated by the primary (counters and histograms summed).
   */
  text(): Promise<string> {
    return this.#host !== null ? this.#host() : this.registry.metrics();
  }

  /** In a worker of `serve --workers N`: scrapes answer with the host's metrics, fetched from the primary. */
  aggregateThroughPrimary(host: (registry: Registry) => () => Promise<string>): void {
    this.#host = host(this.registry);
  }

  watchSigningKeys(source: KeyScheduleSource): void {
    let cached: { at: number; rows: KeyRow[] } | null = null;
    const read = async (): Promise<KeyRow[]> => {
      const now = source.now();
      if (cached !== null && now - cached.at < 60_000) return cached.rows;
      // One query for every tenant, whatever their number.
      const rows: KeyRow[] = [];
      for (const active of await source.store.listActiveKeyActivations()) {
        if (active.activatedAt === null) continue;
        const ageSeconds = (now - active.activatedAt) / 1000;
        rows.push({ tenant: active.tenantId, ageSeconds, untilRotationSeconds: Math.max(0, source.rotationInterval - ageSeconds) });
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
      // Under --workers every worker reads the same keys: the host reports one value.
      aggregator: 'max',
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
      aggregator: 'min',
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [tenant, value] of byLabel(await read(), (r) => r.untilRotationSeconds, Math.min)) this.labels(tenant).set(value);
      },
    });
  }
}

interface KeyRow {
  tenant: string;
  ageSeconds: number;
  untilRotationSeconds: number;
}
