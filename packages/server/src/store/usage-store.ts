/**
 * The usage store: hot counters of tokens issued and refused, and last-use times.
 * A store of its own (STYLE.md: hot tables and audited configuration are different
 * stores): written in batches by every replica, never audited, never part of the
 * state version that invalidates caches. Same database as the registry, through the
 * same Kysely layer, on SQLite and PostgreSQL alike.
 */
import { type Kysely, sql } from 'kysely';
import { toStoreError } from './errors.js';

export type Granularity = 'minute' | 'hour' | 'day';

export const BUCKET_MS: Readonly<Record<Granularity, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Outcome of a token request: issued, or the OAuth error code of the refusal. */
export const ISSUED = 'issued';

export interface UsageCount {
  tenantId: string;
  bucketStart: number;
  clientId: string;
  /** The API identifier; '' when a refusal named no known API. */
  audience: string;
  /** The token's scopes, sorted, space-separated ('' for none, and for refusals). */
  scope: string;
  /** ISSUED, or an error code. */
  outcome: string;
  count: number;
}

export type LastUseKind = 'client' | 'grant' | 'scope' | 'key';

export interface LastUse {
  tenantId: string;
  kind: LastUseKind;
  /** client: clientId; grant: clientId + SUBJECT_SEPARATOR + audience; scope: + scope; key: clientId + kid. */
  subject: string;
  at: number;
}

/** Between the parts of a last-use subject: a character no id, identifier or scope contains. */
export const SUBJECT_SEPARATOR = '\n';

export interface SeriesQuery {
  /** The buckets read. */
  source: Granularity;
  /** The buckets answered, in ms: `source`'s size or a multiple (minutes summed into hours, say). */
  bucketSize: number;
  /** Inclusive, aligned to bucketSize. */
  from: number;
  /** Exclusive. */
  to: number;
  clientId?: string;
  audience?: string;
}

export interface SeriesPoint {
  start: number;
  issued: number;
  refused: number;
}

export interface IssuedRow {
  clientId: string;
  audience: string;
  scope: string;
  bucketStart: number;
  count: number;
}

/** Tokens issued and refused in a range, per client or per API. */
export interface TotalsQuery {
  source: Granularity;
  /** Inclusive, aligned to the source's buckets. */
  from: number;
  /** Exclusive. */
  to: number;
  by: 'client' | 'api';
  /** Only this client's tokens. */
  clientId?: string;
}

export interface TotalsRow {
  /** The client id, or the API identifier. */
  key: string;
  issued: number;
  refused: number;
}

export interface UsageStore {
  /** Adds counts (from every replica: they add up) and moves last uses forward, in one transaction. */
  record(counts: readonly UsageCount[], lastUses: readonly LastUse[]): Promise<void>;
  /** Tokens issued and refused per bucket of the tenant (non-empty buckets only, in order of start). */
  series(tenantId: string, query: SeriesQuery): Promise<SeriesPoint[]>;
  /** Tokens issued per client, API, scope set and bucket, ordered by those (of one client when `clientId` is given). */
  issued(tenantId: string, granularity: Granularity, from: number, to: number, clientId?: string): Promise<IssuedRow[]>;
  /** Tokens issued and refused per client or API over a range of one granularity's buckets. */
  totals(tenantId: string, query: TotalsQuery): Promise<TotalsRow[]>;
  /** Last uses of one kind in a tenant, by subject. */
  lastUses(tenantId: string, kind: LastUseKind): Promise<Map<string, number>>;
  /** Last uses of some subjects of one kind (a page of a report), by subject; absent: never. */
  lastUsesOf(tenantId: string, kind: LastUseKind, subjects: readonly string[]): Promise<Map<string, number>>;
  /**
   * Recomputes the `into` buckets that start in [from, to) as sums of the finer
   * `source` buckets: a replacement, not an addition, so it is idempotent and any
   * number of replicas may run it.
   */
  rollUp(source: Granularity, into: Granularity, from: number, to: number): Promise<void>;
  /** Deletes buckets of one granularity that start before `before`; returns rows removed. */
  purge(granularity: Granularity, before: number): Promise<number>;
  /** Deletes last uses older than `before`. */
  purgeLastUses(before: number): Promise<number>;
  /** Deletes every count and last use of a deleted tenant. */
  deleteTenant(tenantId: string): Promise<void>;
}

interface UsageCountsTable {
  tenant_id: string;
  granularity: string;
  bucket_start: number;
  client_id: string;
  audience: string;
  scope: string;
  outcome: string;
  count: number;
}

interface UsageLastUsedTable {
  tenant_id: string;
  kind: string;
  subject: string;
  last_used_at: number;
}

interface UsageDatabase {
  usage_counts: UsageCountsTable;
  usage_last_used: UsageLastUsedTable;
}

/** Rows per INSERT: 8 parameters each stays far below SQLite's and PostgreSQL's limits. */
const BATCH = 500;

export class KyselyUsageStore implements UsageStore {
  readonly #db: Kysely<UsageDatabase>;

  /** `db` is the registry's Kysely instance (any schema type): the usage tables live beside it. */
  constructor(db: Kysely<any>) {
    this.#db = db as Kysely<UsageDatabase>;
  }

  async record(counts: readonly UsageCount[], lastUses: readonly LastUse[]): Promise<void> {
    if (counts.length === 0 && lastUses.length === 0) return;
    await this.#run(() =>
      this.#db.transaction().execute(async (trx) => {
        for (let i = 0; i < counts.length; i += BATCH) {
          await trx
            .insertInto('usage_counts')
            .values(
              counts.slice(i, i + BATCH).map((c) => ({
                tenant_id: c.tenantId,
                granularity: 'minute',
                bucket_start: c.bucketStart,
                client_id: c.clientId,
                audience: c.audience,
                scope: c.scope,
                outcome: c.outcome,
                count: c.count,
              })),
            )
            .onConflict((oc) =>
              oc
                .columns(['tenant_id', 'granularity', 'bucket_start', 'client_id', 'audience', 'scope', 'outcome'])
                .doUpdateSet({ count: sql<number>`usage_counts.count + excluded.count` }),
            )
            .execute();
        }
        for (let i = 0; i < lastUses.length; i += BATCH) {
          await trx
            .insertInto('usage_last_used')
            .values(lastUses.slice(i, i + BATCH).map((u) => ({ tenant_id: u.tenantId, kind: u.kind, subject: u.subject, last_used_at: u.at })))
            .onConflict((oc) =>
              oc.columns(['tenant_id', 'kind', 'subject']).doUpdateSet({
                // Only ever forward, so replicas flushing out of order do no harm.
                last_used_at: sql<number>`case when excluded.last_used_at > usage_last_used.last_used_at then excluded.last_used_at else usage_last_used.last_used_at end`,
              }),
            )
            .execute();
        }
      }),
    );
  }

  async series(tenantId: string, query: SeriesQuery): Promise<SeriesPoint[]> {
    // A literal, not a parameter: PostgreSQL must see the select and group-by expressions as equal.
    const start = sql<number>`bucket_start - (bucket_start % ${sql.lit(query.bucketSize)})`;
    const rows = await this.#run(() => {
      let select = this.#db
        .selectFrom('usage_counts')
        .select([
          start.as('start'),
          sql<string | number>`sum(case when outcome = ${ISSUED} then count else 0 end)`.as('issued'),
          sql<string | number>`sum(case when outcome = ${ISSUED} then 0 else count end)`.as('refused'),
        ])
        .where('tenant_id', '=', tenantId)
        .where('granularity', '=', query.source)
        .where('bucket_start', '>=', query.from)
        .where('bucket_start', '<', query.to);
      if (query.clientId !== undefined) select = select.where('client_id', '=', query.clientId);
      if (query.audience !== undefined) select = select.where('audience', '=', query.audience);
      return select.groupBy(start).orderBy(start).execute();
    });
    // PostgreSQL's sum(bigint) is numeric, which pg returns as text.
    return rows.map((r) => ({ start: Number(r.start), issued: Number(r.issued), refused: Number(r.refused) }));
  }

  async issued(tenantId: string, granularity: Granularity, from: number, to: number, clientId?: string): Promise<IssuedRow[]> {
    const rows = await this.#run(() => {
      let select = this.#db
        .selectFrom('usage_counts')
        .select(['client_id', 'audience', 'scope', 'bucket_start', sql<string | number>`sum(count)`.as('count')])
        .where('tenant_id', '=', tenantId)
        .where('granularity', '=', granularity)
        .where('outcome', '=', ISSUED)
        .where('bucket_start', '>=', from)
        .where('bucket_start', '<', to);
      if (clientId !== undefined) select = select.where('client_id', '=', clientId);
      return select
        .groupBy(['client_id', 'audience', 'scope', 'bucket_start'])
        .orderBy('client_id')
        .orderBy('audience')
        .orderBy('scope')
        .orderBy('bucket_start')
        .execute();
    });
    return rows.map((r) => ({ clientId: r.client_id, audience: r.audience, scope: r.scope, bucketStart: Number(r.bucket_start), count: Number(r.count) }));
  }

  async totals(tenantId: string, query: TotalsQuery): Promise<TotalsRow[]> {
    const column = query.by === 'client' ? 'client_id' : 'audience';
    const rows = await this.#run(() => {
      let select = this.#db
        .selectFrom('usage_counts')
        .select([
          `${column} as key`,
          sql<string | number>`sum(case when outcome = ${ISSUED} then count else 0 end)`.as('issued'),
          sql<string | number>`sum(case when outcome = ${ISSUED} then 0 else count end)`.as('refused'),
        ])
        .where('tenant_id', '=', tenantId)
        .where('granularity', '=', query.source)
        .where('bucket_start', '>=', query.from)
        .where('bucket_start', '<', query.to);
      // A refusal that named no known API counts for its client, not for an API.
      if (query.by === 'api') select = select.where('audience', '!=', '');
      if (query.clientId !== undefined) select = select.where('client_id', '=', query.clientId);
      return select.groupBy(column).execute();
    });
    return rows.map((r) => ({ key: r.key, issued: Number(r.issued), refused: Number(r.refused) }));
  }

  async lastUses(tenantId: string, kind: LastUseKind): Promise<Map<string, number>> {
    const rows = await this.#run(() =>
      this.#db.selectFrom('usage_last_used').select(['subject', 'last_used_at']).where('tenant_id', '=', tenantId).where('kind', '=', kind).execute(),
    );
    return new Map(rows.map((r) => [r.subject, Number(r.last_used_at)]));
  }

  async lastUsesOf(tenantId: string, kind: LastUseKind, subjects: readonly string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    for (let i = 0; i < subjects.length; i += BATCH) {
      const batch = subjects.slice(i, i + BATCH);
      const rows = await this.#run(() =>
        this.#db
          .selectFrom('usage_last_used')
          .select(['subject', 'last_used_at'])
          .where('tenant_id', '=', tenantId)
          .where('kind', '=', kind)
          .where('subject', 'in', batch)
          .execute(),
      );
      for (const r of rows) found.set(r.subject, Number(r.last_used_at));
    }
    return found;
  }

  async rollUp(source: Granularity, into: Granularity, from: number, to: number): Promise<void> {
    if (from >= to) return;
    // Literals, not parameters: PostgreSQL must see the select and group-by expressions as equal.
    const size = sql.lit(BUCKET_MS[into]);
    const granularity = sql.lit(into);
    await this.#run(() =>
      sql`
        insert into usage_counts (tenant_id, granularity, bucket_start, client_id, audience, scope, outcome, count)
        select tenant_id, ${granularity}, bucket_start - (bucket_start % ${size}), client_id, audience, scope, outcome, sum(count)
        from usage_counts
        where granularity = ${source} and bucket_start >= ${from} and bucket_start < ${to}
        group by tenant_id, bucket_start - (bucket_start % ${size}), client_id, audience, scope, outcome
        on conflict (tenant_id, granularity, bucket_start, client_id, audience, scope, outcome)
        do update set count = excluded.count
      `.execute(this.#db),
    );
  }

  async purge(granularity: Granularity, before: number): Promise<number> {
    const result = await this.#run(() =>
      this.#db.deleteFrom('usage_counts').where('granularity', '=', granularity).where('bucket_start', '<', before).executeTakeFirst(),
    );
    return Number(result.numDeletedRows);
  }

  async purgeLastUses(before: number): Promise<number> {
    const result = await this.#run(() => this.#db.deleteFrom('usage_last_used').where('last_used_at', '<', before).executeTakeFirst());
    return Number(result.numDeletedRows);
  }

  async deleteTenant(tenantId: string): Promise<void> {
    await this.#run(async () => {
      await this.#db.deleteFrom('usage_counts').where('tenant_id', '=', tenantId).execute();
      await this.#db.deleteFrom('usage_last_used').where('tenant_id', '=', tenantId).execute();
    });
  }

  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toStoreError(error);
    }
  }
}
