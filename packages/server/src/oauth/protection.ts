/**
 * Protection on by default (SPEC §1): failed client authentications back off per
 * source address and per client and source address, quotas count requests per client
 * and per tenant, and the management API can be limited per source address. Every
 * counter is shared by all replicas and workers through the store (SharedCounters).
 *
 * Why a real client calling from a clean address is not locked out by an attacker's
 * failures: failures are counted per (client, source address), so an attacker's
 * address backs off on its own. A per-client ceiling catches an attacker spread over
 * many addresses; once it is reached, any address that has failed at least once for
 * that client backs off after that one failure, while an address with no failure for
 * the client goes on authenticating. Successful authentications are never counted.
 */
import type { ServerConfig } from '../config/config.js';
import type { StateStore } from '../store/state/types.js';
import type { Client, Tenant } from '../store/types.js';
import { MAX_CLAIMED_CLIENT_ID, type PresentedCredentials } from './client-auth/presented-credentials.js';
import type { OutcomeListener, ProtocolOutcome } from './outcome.js';
import { SharedCounters } from './rate-limit.js';

export type LimitKind = 'auth_backoff_source' | 'auth_backoff_client' | 'client_quota' | 'tenant_quota' | 'management';

/** What protection reports to the metrics (kept an interface so this module imports nothing heavy). */
export interface ProtectionEvents {
  rejected(kind: LimitKind, enforced: boolean): void;
}

const NO_EVENTS: ProtectionEvents = { rejected() {} };

export class Protection implements OutcomeListener {
  readonly #failures: SharedCounters;
  readonly #quotas: SharedCounters;
  readonly #config: ServerConfig['rateLimit'];
  readonly #events: ProtectionEvents;

  constructor(config: ServerConfig['rateLimit'], now: () => number, events: ProtectionEvents = NO_EVENTS) {
    this.#config = config;
    this.#events = events;
    this.#failures = new SharedCounters(config.authFailures.windowSeconds, now);
    this.#quotas = new SharedCounters(config.windowSeconds, now);
  }

  /**
   * Before authenticating: seconds to wait (0: go ahead) because this source address,
   * or this source address for this client, has failed too often in this window.
   * The claimed client id is read from the request, unverified, and only when needed.
   */
  authBackoff(tenantId: string, source: string, credentials: Pick<PresentedCredentials, 'claimedClientId'>): number {
    if (this.#failures.idle) return 0; // nobody failed anywhere in this window: the usual case
    const { perSource, perClientAndSource, perClient } = this.#config.authFailures;
    if (perSource > 0 && this.#failures.count(`af:s:${source}`) >= perSource) return this.#reject('auth_backoff_source', this.#failures);
    const clientId = credentials.claimedClientId;
    if (clientId === null) return 0;
    const client = `${tenantId}:${clientId}`;
    const failedHere = this.#failures.count(`af:cs:${client}:${source}`);
    if (failedHere === 0) return 0;
    const underAttack = perClient > 0 && this.#failures.count(`af:c:${client}`) >= perClient;
    const limit = underAttack ? 1 : perClientAndSource;
    if (limit > 0 && failedHere >= limit) return this.#reject('auth_backoff_client', this.#failures);
    return 0;
  }

  /**
   * A protocol request ended: a failed client authentication counts for its source
   * address, and, when it presented a secret (what can be guessed), for the client it
   * claimed too. Other failures (assertions, certificates) count for the source only.
   */
  outcome({ authenticationFailure, tenant, credentials, source }: ProtocolOutcome): void {
    if (authenticationFailure === null || tenant === null) return;
    this.authFailed(tenant.tenant.id, credentials?.presentsSecret === true ? credentials.claimedClientId : null, source);
  }

  /** A client authentication failed: count it for the source and for the claimed client. */
  authFailed(tenantId: string, claimedClientId: string | null, source: string): void {
    this.#failures.add(`af:s:${source}`);
    if (claimedClientId === null) return;
    const client = `${tenantId}:${claimedClientId.slice(0, MAX_CLAIMED_CLIENT_ID)}`;
    this.#failures.add(`af:cs:${client}:${source}`);
    this.#failures.add(`af:c:${client}`);
  }

  /** A failed authentication that names no tenant (the management API): counts for the source only. */
  sourceFailed(source: string): void {
    this.#failures.add(`af:s:${source}`);
  }

  /** Before the management API looks at a request: seconds to wait because of this source's failures. */
  sourceBackoff(source: string): number {
    if (this.#failures.idle) return 0;
    const { perSource } = this.#config.authFailures;
    if (perSource > 0 && this.#failures.count(`af:s:${source}`) >= perSource) return this.#reject('auth_backoff_source', this.#failures);
    return 0;
  }

  /**
   * Counts one token request of an authenticated client against its client's and its
   * tenant's quota (set on the client or tenant, else the server's); seconds to wait (0: go ahead). In monitor mode an exceeded quota is
   * reported (metrics) but the request goes ahead.
   */
  quota(tenant: Tenant, client: Pick<Client, 'clientId' | 'tokenQuotaPerMinute'>): number {
    const tenantId = tenant.id;
    const clientLimit = client.tokenQuotaPerMinute ?? this.#config.tokenRequestsPerWindow;
    if (clientLimit > 0) {
      const wait = this.#consume(`q:c:${tenantId}:${client.clientId}`, clientLimit, 'client_quota');
      if (wait > 0) return wait;
    }
    const tenantLimit = tenant.tokenQuotaPerMinute ?? this.#config.tenantQuotas[tenantId] ?? this.#config.tenantRequestsPerWindow;
    if (tenantLimit > 0) return this.#consume(`q:t:${tenantId}`, tenantLimit, 'tenant_quota');
    return 0;
  }

  /** One management API request from `source`; seconds to wait (0: go ahead). */
  management(source: string): number {
    const limit = this.#config.managementRequestsPerWindow;
    return limit > 0 ? this.#consume(`m:s:${source}`, limit, 'management') : 0;
  }

  /** Shares this process's counts with every other replica and worker. */
  async sync(store: Pick<StateStore, 'addRateLimitHits'>): Promise<void> {
    await Promise.all([this.#failures.sync(store), this.#quotas.sync(store)]);
  }

  #consume(key: string, limit: number, kind: LimitKind): number {
    if (this.#quotas.count(key) + 1 > limit) {
      if (this.#config.mode === 'monitor') {
        this.#quotas.add(key);
        this.#events.rejected(kind, false);
        return 0;
      }
      return this.#reject(kind, this.#quotas);
    }
    this.#quotas.add(key);
    return 0;
  }

  #reject(kind: LimitKind, counters: SharedCounters): number {
    this.#events.rejected(kind, true);
    return Math.max(1, counters.secondsLeft());
  }
}
