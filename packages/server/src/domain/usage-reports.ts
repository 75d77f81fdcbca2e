/**
 * Reports over the usage store (docs/usage.md): tokens over time, unused grants and
 * scopes with the narrower grant suggested (and applied on request, audited like any
 * grant change), dormant clients and secrets, and token waste (clients asking for far
 * more tokens than their tokens' lifetime requires).
 */
import type { UsageConfig } from '../config/config.js';
import type { Api, Client, ClientSecret, Grant, Page, PageRequest, Store, Tenant } from '../store/types.js';

/** What the reports read of a tenant: a management read, paged through, never the token path. */
interface TenantInventory {
  tenant: Tenant;
  clients: Client[];
  secrets: ClientSecret[];
  apis: Api[];
  grants: Grant[];
}

const PAGE = 500;

async function readAll<T>(list: (page: PageRequest) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await list({ limit: PAGE, cursor });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return items;
}
import { BUCKET_MS, type Granularity, SUBJECT_SEPARATOR, type UsageStore } from '../store/usage-store.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import type { GrantService } from './grants.js';
import type { TokenIssuer } from './tokens.js';

const DAY = BUCKET_MS.day;
/** Most points one series answers (10 000 minutes is about a week). */
export const MAX_SERIES_POINTS = 10_000;
const DEFAULT_SPAN: Readonly<Record<Granularity, number>> = { minute: 3_600_000, hour: DAY, day: 30 * DAY };

export interface SeriesRequest {
  granularity?: Granularity;
  from?: number;
  to?: number;
  clientId?: string;
  audience?: string;
}

export interface UsageSeries {
  granularity: Granularity;
  from: number;
  to: number;
  series: { start: number; issued: number; refused: number }[];
}

export type Suggestion = { action: 'narrow'; scopes: string[] } | { action: 'revoke' };

export interface UnusedGrant {
  grantId: string;
  clientId: string;
  audience: string;
  grantedScopes: string[];
  usedScopes: string[];
  unusedScopes: string[];
  lastUsedAt: number | null;
  suggestion: Suggestion;
}

export interface DormantReport {
  days: number;
  clients: { clientId: string; name: string; lastUsedAt: number | null }[];
  secrets: { clientId: string; secretId: string; lastUsedAt: number | null }[];
}

export interface WasteFinding {
  clientId: string;
  audience: string;
  scope: string;
  tokens: number;
  /** Seconds. */
  tokenLifetime: number;
  expectedMax: number;
  ratio: number;
}

export type TopBy = 'client' | 'api';

export interface TopRequest {
  by: TopBy;
  from?: number;
  to?: number;
  limit?: number;
  /** Only this client's tokens: by=api, the APIs it got tokens for, last used by it. */
  clientId?: string;
}

export interface TopRow {
  /** by=client */
  clientId?: string;
  /** by=api: the API identifier */
  audience?: string;
  /** The client's or API's name; null when it has been deleted since. */
  name: string | null;
  issued: number;
  refused: number;
  lastUsedAt: number | null;
}

export interface TopReport {
  by: TopBy;
  from: number;
  to: number;
  rows: TopRow[];
}

/** Rows of a busiest-first report when the caller does not say. */
export const DEFAULT_TOP_LIMIT = 50;
const DEFAULT_TOP_SPAN = 30 * DAY;

export interface UsageReportsDependencies {
  store: Store;
  usage: UsageStore;
  grants: GrantService;
  issuer: Pick<TokenIssuer, 'lifetimeOf'>;
  retention: UsageConfig['retention'];
  /** Grants of this tenant on this audience (the management API's own) are reported but never changed here. */
  protectedGrants: { tenantId: string; audience: string };
  now: () => number;
}

const floorTo = (t: number, size: number) => t - (((t % size) + size) % size);
const join = (...parts: string[]) => parts.join(SUBJECT_SEPARATOR);

export class UsageReports {
  constructor(private readonly deps: UsageReportsDependencies) {}

  async series(tenantId: string, request: SeriesRequest): Promise<UsageSeries> {
    await this.#snapshot(tenantId);
    const granularity = request.granularity ?? 'hour';
    const size = BUCKET_MS[granularity];
    // `to` is exclusive: by default the range ends with the current bucket, included.
    const to = request.to !== undefined ? floorTo(request.to + size - 1, size) : floorTo(this.deps.now(), size) + size;
    const from = floorTo(request.from ?? to - DEFAULT_SPAN[granularity], size);
    if (from >= to) throw new ValidationError('from must be before to');
    if ((to - from) / size > MAX_SERIES_POINTS) {
      throw new ValidationError(`at most ${MAX_SERIES_POINTS} ${granularity}s per series: narrow from/to or choose a coarser granularity`);
    }
    // Each part of the range is read from the finest buckets still kept for it, so the
    // current hour and day are exact without waiting for the next roll-up.
    const now = this.deps.now();
    const { retention } = this.deps;
    const keptFrom = (kept: number) => floorTo(now - kept + size - 1, size);
    const parts: { source: Granularity; from: number; to: number }[] = [];
    let end = to;
    for (const [source, kept] of [['minute', retention.minutes], ['hour', retention.hours], ['day', retention.days]] as const) {
      if (BUCKET_MS[source] > size) break;
      const start = source === granularity ? from : Math.max(from, keptFrom(kept));
      if (start < end) parts.push({ source, from: start, to: end });
      end = Math.min(end, start);
    }
    const filter = {
      ...(request.clientId !== undefined ? { clientId: request.clientId } : {}),
      ...(request.audience !== undefined ? { audience: request.audience } : {}),
    };
    const points = (await Promise.all(parts.map((part) => this.deps.usage.series(tenantId, { ...part, bucketSize: size, ...filter })))).flat();
    // Every bucket of the range, empty ones as zeros: what a chart draws.
    const byStart = new Map(points.map((p) => [p.start, p]));
    const series = [];
    for (let start = from; start < to; start += size) series.push(byStart.get(start) ?? { start, issued: 0, refused: 0 });
    return { granularity, from, to, series };
  }

  /**
   * The busiest clients or APIs of [from, to) (default: the last 30 days): tokens
   * issued and refused, busiest first (most issued, then most refused). Each part of
   * the range is read from the finest buckets still kept for it, and the range grows to
   * the edges of the buckets its ends fall in (the answer says which range it covers):
   * exact to the minute over the last two days, to the hour over the last 30 by default.
   */
  async top(tenantId: string, request: TopRequest): Promise<TopReport> {
    const snapshot = await this.#snapshot(tenantId);
    const now = this.deps.now();
    const { retention } = this.deps;
    const ceilTo = (t: number, size: number) => floorTo(t + size - 1, size);
    // Where each granularity's buckets begin to be kept, aligned so the parts meet exactly.
    const minutesFrom = ceilTo(now - retention.minutes, BUCKET_MS.hour);
    const hoursFrom = ceilTo(now - retention.hours, BUCKET_MS.day);
    const bucketAt = (t: number) => (t >= minutesFrom ? BUCKET_MS.minute : t >= hoursFrom ? BUCKET_MS.hour : BUCKET_MS.day);
    const requestedTo = request.to ?? now + 1;
    const requestedFrom = request.from ?? requestedTo - DEFAULT_TOP_SPAN;
    if (requestedFrom >= requestedTo) throw new ValidationError('from must be before to');
    const from = floorTo(requestedFrom, bucketAt(requestedFrom));
    const to = ceilTo(requestedTo, bucketAt(requestedTo - 1));
    const parts: { source: Granularity; from: number; to: number }[] = [];
    const add = (source: Granularity, start: number, end: number) => {
      if (Math.max(start, from) < Math.min(end, to)) parts.push({ source, from: Math.max(start, from), to: Math.min(end, to) });
    };
    add('minute', minutesFrom, Infinity);
    add('hour', hoursFrom, minutesFrom);
    add('day', -Infinity, hoursFrom);
    const totals = new Map<string, { issued: number; refused: number }>();
    const only = request.clientId !== undefined ? { clientId: request.clientId } : {};
    for (const rows of await Promise.all(parts.map((part) => this.deps.usage.totals(tenantId, { ...part, by: request.by, ...only })))) {
      for (const row of rows) {
        const sum = totals.get(row.key) ?? { issued: 0, refused: 0 };
        sum.issued += row.issued;
        sum.refused += row.refused;
        totals.set(row.key, sum);
      }
    }
    const rows: TopRow[] = [];
    if (request.by === 'client') {
      const clientUses = await this.deps.usage.lastUses(tenantId, 'client');
      const names = new Map(snapshot.clients.map((c) => [c.clientId, c.name]));
      for (const [clientId, sum] of totals) rows.push({ clientId, name: names.get(clientId) ?? null, ...sum, lastUsedAt: clientUses.get(clientId) ?? null });
    } else {
      // An API was last used when any client (or the one asked about) last got a token for it.
      const lastUse = new Map<string, number>();
      for (const [subject, at] of await this.deps.usage.lastUses(tenantId, 'grant')) {
        const separator = subject.indexOf(SUBJECT_SEPARATOR);
        if (request.clientId !== undefined && subject.slice(0, separator) !== request.clientId) continue;
        const audience = subject.slice(separator + 1);
        if (at > (lastUse.get(audience) ?? -Infinity)) lastUse.set(audience, at);
      }
      const names = new Map(snapshot.apis.map((a) => [a.identifier, a.name]));
      for (const [audience, sum] of totals) rows.push({ audience, name: names.get(audience) ?? null, ...sum, lastUsedAt: lastUse.get(audience) ?? null });
    }
    const keyOf = (row: TopRow) => row.clientId ?? row.audience ?? '';
    rows.sort((a, b) => b.issued - a.issued || b.refused - a.refused || (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    return { by: request.by, from, to, rows: rows.slice(0, request.limit ?? DEFAULT_TOP_LIMIT) };
  }

  /**
   * Grants older than `days` whose scopes were not all requested in the last `days`:
   * narrow to the scopes used, or revoke a grant not used at all. With a `limit`, one
   * page: the walk goes through the grants old enough (an index prefix, oldest first)
   * a chunk at a time, reading the last uses of that chunk only, and stops when the
   * page is full; `nextCursor` resumes after the last grant it looked at.
   */
  async unused(tenantId: string, days: number, page: { limit?: number; cursor?: string | null } = {}): Promise<{ grants: UnusedGrant[]; nextCursor: string | null }> {
    await this.#requireTenant(tenantId);
    const since = this.deps.now() - days * DAY;
    const limit = page.limit ?? Infinity;
    const findings: UnusedGrant[] = [];
    let cursor = page.cursor ?? null;
    while (findings.length < limit) {
      const chunk = await this.deps.store.listGrants(tenantId, { createdBefore: since }, { limit: PAGE, cursor });
      const found = await this.#unused(tenantId, chunk.items, days);
      const room = limit - findings.length;
      if (found.length > room) {
        // The page fills inside this chunk: resume right after its last finding.
        findings.push(...found.slice(0, room));
        const lastId = findings[findings.length - 1]!.grantId;
        const upTo = chunk.items.findIndex((g) => g.id === lastId) + 1;
        const resume = await this.deps.store.listGrants(tenantId, { createdBefore: since }, { limit: upTo, cursor });
        return { grants: findings, nextCursor: resume.nextCursor };
      }
      findings.push(...found);
      cursor = chunk.nextCursor;
      if (cursor === null) break;
    }
    return { grants: findings, nextCursor: findings.length < limit ? null : cursor };
  }

  /** Applies the current suggestion for one grant: the narrowed grant, or null when it was revoked. */
  async apply(tenantId: string, grantId: string, days: number, actor: string): Promise<Grant | null> {
    await this.#requireTenant(tenantId);
    const grant = await this.deps.store.getGrant(tenantId, grantId);
    if (grant === null) throw new NotFoundError('grant', grantId);
    const { protectedGrants } = this.deps;
    if (tenantId === protectedGrants.tenantId && grant.audience === protectedGrants.audience) {
      throw new ConflictError('grants on the management API are not changed from usage suggestions; change them by hand');
    }
    const [finding] = await this.#unused(tenantId, [grant], days);
    if (finding === undefined) throw new ConflictError(`nothing to apply: grant ${grantId} is younger than ${days} days or every granted scope was used in that time`);
    if (finding.suggestion.action === 'revoke') {
      await this.deps.grants.delete(tenantId, grantId, actor);
      return null;
    }
    return this.deps.grants.update(tenantId, grantId, { scopes: finding.suggestion.scopes }, actor);
  }

  /** Clients and secrets older than `days` and not used in that time. */
  async dormant(tenantId: string, days: number): Promise<DormantReport> {
    const snapshot = await this.#snapshot(tenantId);
    const since = this.deps.now() - days * DAY;
    const [clientUses, keyUses] = await Promise.all([this.deps.usage.lastUses(tenantId, 'client'), this.deps.usage.lastUses(tenantId, 'key')]);
    // A client is used when it gets a token or authenticates at all (introspection,
    // revocation): its secrets' and keys' last uses count too.
    const lastUse = new Map(clientUses);
    const later = (clientId: string, at: number | null) => {
      if (at !== null && at > (lastUse.get(clientId) ?? -Infinity)) lastUse.set(clientId, at);
    };
    for (const secret of snapshot.secrets) later(secret.clientId, secret.lastUsedAt);
    for (const [subject, at] of keyUses) later(subject.slice(0, subject.indexOf(SUBJECT_SEPARATOR)), at);
    const dormant = (createdAt: number, lastUsedAt: number | null) => createdAt <= since && (lastUsedAt === null || lastUsedAt < since);
    return {
      days,
      clients: snapshot.clients
        .map((c) => ({ clientId: c.clientId, name: c.name, lastUsedAt: lastUse.get(c.clientId) ?? null, createdAt: c.createdAt }))
        .filter((c) => dormant(c.createdAt, c.lastUsedAt))
        .map(({ createdAt: _createdAt, ...c }) => c),
      secrets: snapshot.secrets
        .filter((s) => dormant(s.createdAt, s.lastUsedAt))
        .map((s) => ({ clientId: s.clientId, secretId: s.id, lastUsedAt: s.lastUsedAt })),
    };
  }

  /**
   * Per client × API × scope set over the last `days`: tokens issued against the most a
   * client that reuses each token until it expires would need (expectedMax). Time
   * counts as active from each bucket with issuance until a token issued at its end
   * would expire; expectedMax is the active time in token lifetimes, rounded up per
   * stretch of activity. Flagged when tokens / expectedMax exceeds `threshold`.
   * With `clientId`, that client's findings only.
   */
  async waste(tenantId: string, days: number, threshold: number, clientId?: string): Promise<WasteFinding[]> {
    const snapshot = await this.#snapshot(tenantId);
    const now = this.deps.now();
    const { retention } = this.deps;
    const span = days * DAY;
    const granularity: Granularity = span <= retention.minutes ? 'minute' : span <= retention.hours ? 'hour' : 'day';
    const size = BUCKET_MS[granularity];
    const rows = await this.deps.usage.issued(tenantId, granularity, floorTo(now - span, size), now + 1, clientId);
    const clients = new Map(snapshot.clients.map((c) => [c.clientId, c]));
    const apis = new Map(snapshot.apis.map((a) => [a.identifier, a]));
    const findings: WasteFinding[] = [];
    let i = 0;
    while (i < rows.length) {
      const first = rows[i]!;
      let tokens = 0;
      let expectedMax = 0;
      let runEnd = -Infinity;
      let runStart = 0;
      const client = clients.get(first.clientId);
      const api = apis.get(first.audience);
      const lifetime = client !== undefined && api !== undefined ? this.deps.issuer.lifetimeOf(snapshot, client, api) : null;
      for (; i < rows.length; i++) {
        const row = rows[i]!;
        if (row.clientId !== first.clientId || row.audience !== first.audience || row.scope !== first.scope) break;
        tokens += row.count;
        if (lifetime === null) continue;
        const end = row.bucketStart + size + lifetime * 1000;
        if (row.bucketStart > runEnd) {
          if (runEnd > -Infinity) expectedMax += Math.ceil((runEnd - runStart) / (lifetime * 1000));
          runStart = row.bucketStart;
        }
        runEnd = Math.max(runEnd, end);
      }
      // A deleted client or API: nothing to tell its owner.
      if (lifetime === null) continue;
      expectedMax += Math.ceil((runEnd - runStart) / (lifetime * 1000));
      const ratio = Math.round((tokens / expectedMax) * 100) / 100;
      if (ratio > threshold) {
        findings.push({ clientId: first.clientId, audience: first.audience, scope: first.scope, tokens, tokenLifetime: lifetime, expectedMax, ratio });
      }
    }
    return findings.sort((a, b) => b.ratio - a.ratio);
  }

  async #unused(tenantId: string, grants: readonly Grant[], days: number): Promise<UnusedGrant[]> {
    const since = this.deps.now() - days * DAY;
    // The last uses of these grants and their scopes only: a page costs the same however large the tenant.
    const [grantUses, scopeUses] = await Promise.all([
      this.deps.usage.lastUsesOf(tenantId, 'grant', grants.map((g) => join(g.clientId, g.audience))),
      this.deps.usage.lastUsesOf(tenantId, 'scope', grants.flatMap((g) => g.scopes.map((scope) => join(g.clientId, g.audience, scope)))),
    ]);
    const findings: UnusedGrant[] = [];
    for (const grant of grants) {
      // A grant younger than the window has not had the chance to be used.
      if (grant.createdAt > since) continue;
      const lastUsedAt = grantUses.get(join(grant.clientId, grant.audience)) ?? null;
      const used = grant.scopes.filter((scope) => (scopeUses.get(join(grant.clientId, grant.audience, scope)) ?? -Infinity) >= since);
      const unused = grant.scopes.filter((scope) => !used.includes(scope));
      const grantUsed = lastUsedAt !== null && lastUsedAt >= since;
      if (grantUsed && unused.length === 0) continue;
      findings.push({
        grantId: grant.id,
        clientId: grant.clientId,
        audience: grant.audience,
        grantedScopes: grant.scopes,
        usedScopes: used,
        unusedScopes: unused,
        lastUsedAt,
        suggestion: grantUsed ? { action: 'narrow', scopes: used } : { action: 'revoke' },
      });
    }
    return findings;
  }

  async #requireTenant(tenantId: string): Promise<void> {
    if ((await this.deps.store.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
  }

  async #snapshot(tenantId: string): Promise<TenantInventory> {
    const store = this.deps.store;
    const tenant = await store.getTenant(tenantId);
    if (tenant === null) throw new NotFoundError('tenant', tenantId);
    const clients = await readAll((page) => store.listClients(tenantId, page));
    const secrets: ClientSecret[] = [];
    for (let i = 0; i < clients.length; i += PAGE) {
      secrets.push(...(await store.listSecretsOfClients(tenantId, clients.slice(i, i + PAGE).map((c) => c.clientId))));
    }
    const apis = await readAll((page) => store.listApis(tenantId, page));
    const grants = await readAll((page) => store.listGrants(tenantId, {}, page));
    return { tenant, clients, secrets, apis, grants };
  }
}
