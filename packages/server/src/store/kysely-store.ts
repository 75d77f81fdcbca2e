import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Expression, ExpressionBuilder, Kysely, RawBuilder, SqlBool } from 'kysely';
import { StoreInvalidCursorError, toStoreError } from './errors.js';
import { migrateToLatest } from './migrations/runner.js';
import type {
  ApisTable,
  AuditLogTable,
  ClientSecretsTable,
  ClientsTable,
  ConsoleUsersTable,
  Database,
  FederationsTable,
  GrantsTable,
  SigningKeysTable,
  TenantsTable,
} from './schema.js';
import type {
  Api,
  AuditEntry,
  AuditQuery,
  Change,
  ChangeKind,
  ChangeListener,
  ChangeRef,
  Client,
  ClientListItem,
  ClientListRequest,
  ClientRecord,
  ClientSecret,
  ConsoleUser,
  CustomClaims,
  ApiSort,
  Federation,
  FederationKind,
  Grant,
  GrantFilter,
  GrantSort,
  ListRequest,
  KeyStatus,
  LockWaitListener,
  NewAuditEntry,
  Page,
  ReplayProtection,
  SigningAlg,
  RegistryStore,
  SigningKey,
  SortOrder,
  Store,
  Tenant,
  TenantRecord,
  TokenEndpointAuthMethod,
  TokenFormat,
} from './types.js';
import { KyselyUsageStore, type UsageStore } from './usage-store.js';
import type { StateStore } from './state/types.js';

export type StoreKind = RegistryStore['kind'];

const BOOTSTRAP_MARKER = 'bootstrapped';
const BOOTSTRAP_LOCK = 'tessera:bootstrap';
/** Serialises the last statement of every changing transaction, so feed order is commit order. */
const FEED_LOCK = 'tessera:changes';
/** The PostgreSQL channel every changing commit notifies (NOTIFY is delivered at commit). */
export const CHANGES_CHANNEL = 'tessera_changes';
/** Meta key: the highest sequence number trimming has removed. */
const TRIMMED_THROUGH = 'changes_trimmed_through';

export type ListenFactory = (onNotify: () => void, onError: (error: unknown) => void) => Promise<ChangeListener>;

export interface KyselyStoreOptions {
  listen?: ListenFactory;
  /** Opens the state store in this database (state/sql.ts), on first use. */
  openState?: () => StateStore;
  /** SQLite: where its connections report their lock waits (sqlite.ts). */
  lockWaits?: { listen(listener: LockWaitListener): void };
}

/** What the root store and the stores bound to its transactions share. */
interface Shared {
  listeners: ((changes: Change[]) => Promise<void> | void)[];
  listen: ListenFactory | null;
  openState: (() => StateStore) | null;
  state: StateStore | null;
  lockWaits: { listen(listener: LockWaitListener): void } | null;
  /** SQLite: the columns of the tables loadTenantRecord and loadClientRecord read, as of the first load. */
  sqliteColumns: Map<string, string[]> | null;
}

type RecordChange = (kind: ChangeKind, tenantId: string, entityId: string) => void;

/** Secrets per `touchClientSecrets` statement: two parameters each, far below SQLite's and PostgreSQL's limits. */
const TOUCH_BATCH = 500;

/**
 * The one query layer behind both databases. An instance is either bound to the
 * connection pool (root) or to one open transaction (`transaction`, `withLock`,
 * `bootstrapOnce` hand that one to their callback); the methods are the same.
 *
 * Inside a transaction, use only the Store passed to the callback: on SQLite the
 * root store waits for the single connection that the transaction holds.
 */
export class KyselyStore implements RegistryStore {
  readonly kind: StoreKind;
  readonly #db: Kysely<Database>;
  readonly #inTransaction: boolean;
  readonly #shared: Shared;
  /** Changes made in this transaction: written to the feed at its end, once each. */
  readonly #pending = new Map<string, ChangeRef>();
  #usage: UsageStore | undefined;

  /** `transactionOf` is internal: the store whose transaction this instance is bound to. */
  constructor(kind: StoreKind, db: Kysely<Database>, options: KyselyStoreOptions = {}, transactionOf?: KyselyStore) {
    this.kind = kind;
    this.#db = db;
    this.#inTransaction = transactionOf !== undefined;
    this.#shared = transactionOf !== undefined ? transactionOf.#shared : { listeners: [], listen: options.listen ?? null, openState: options.openState ?? null, state: null, lockWaits: options.lockWaits ?? null, sqliteColumns: null };
  }

  // ---------------------------------------------------------------- lifecycle

  async migrate(): Promise<void> {
    // One transaction per migration and its bookkeeping row; replicas take turns.
    await this.#run(() => migrateToLatest(this.#db, this.kind));
  }

  async ping(): Promise<void> {
    await this.#run(() => sql`select 1`.execute(this.#db));
  }

  async close(): Promise<void> {
    if (this.#inTransaction) throw new Error('close() called on a transaction-bound store');
    await this.#shared.state?.close();
    await this.#db.destroy();
  }

  state(): StateStore {
    if (this.#shared.state === null) {
      if (this.#shared.openState === null) throw new Error('this store has no state store of its own');
      this.#shared.state = this.#shared.openState();
    }
    return this.#shared.state;
  }

  observeLockWaits(listener: LockWaitListener): void {
    this.#shared.lockWaits?.listen(listener);
  }

  usage(): UsageStore {
    this.#usage ??= new KyselyUsageStore(this.#db);
    return this.#usage;
  }

  // -------------------------------------------------------------- change feed

  async latestChangeSeq(): Promise<number> {
    const row = await this.#run(() => this.#db.selectFrom('changes').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst());
    return Number(row?.seq ?? 0);
  }

  async readChanges(afterSeq: number, limit: number): Promise<{ changes: Change[]; trimmedThrough: number }> {
    const rows = await this.#run(() =>
      this.#db.selectFrom('changes').selectAll().where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute(),
    );
    const changes = rows.map(toChange);
    // Numbers are skipped by trimming, and (PostgreSQL) by a transaction that failed at
    // commit: only a gap makes the trim marker worth reading.
    const first = changes[0];
    const gap = first !== undefined && first.seq !== afterSeq + 1;
    const trimmedThrough = gap ? Number((await this.getMeta(TRIMMED_THROUGH)) ?? 0) : 0;
    return { changes, trimmedThrough };
  }

  async trimChanges(before: number): Promise<number> {
    return this.#transaction(async (tx) => {
      const newest = await tx.latestChangeSeq();
      const doomed = await tx.#db
        .selectFrom('changes')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .where('at', '<', before)
        .where('seq', '<', newest)
        .executeTakeFirst();
      const through = Number(doomed?.seq ?? 0);
      if (through === 0) return 0;
      const result = await tx.#db.deleteFrom('changes').where('seq', '<=', through).executeTakeFirst();
      const marked = Number((await tx.getMeta(TRIMMED_THROUGH)) ?? 0);
      if (through > marked) await tx.setMeta(TRIMMED_THROUGH, String(through));
      return affected(result.numDeletedRows);
    });
  }

  onCommit(listener: (changes: Change[]) => Promise<void> | void): void {
    this.#shared.listeners.push(listener);
  }

  listenForChanges(onNotify: () => void, onError: (error: unknown) => void): Promise<ChangeListener> | null {
    return this.#shared.listen === null ? null : this.#shared.listen(onNotify, onError);
  }

  /** Writes this transaction's changes to the feed, as its last statements. */
  async #writeFeed(): Promise<Change[]> {
    if (this.#pending.size === 0) return [];
    const at = Date.now();
    // Taken last and held only for the commit: writers never wait on each other for longer.
    await this.#lock(FEED_LOCK);
    const rows = await this.#db
      .insertInto('changes')
      .values([...this.#pending.values()].map((c) => ({ tenant_id: c.tenantId, kind: c.kind, entity_id: c.entityId, at })))
      .returningAll()
      .execute();
    if (this.kind === 'postgres') await sql`select pg_notify(${CHANGES_CHANNEL}, '')`.execute(this.#db);
    return rows.map(toChange);
  }

  async #announce(changes: Change[]): Promise<void> {
    for (const listener of this.#shared.listeners) {
      try {
        await listener(changes);
      } catch {
        // A cache that could not refresh is the cache's business; the change is committed.
      }
    }
  }

  // ------------------------------------------------------------- transactions

  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    return this.#transaction(fn);
  }

  withLock<T>(name: string, fn: (tx: Store) => Promise<T>): Promise<T> {
    return this.#transaction(async (tx) => {
      await tx.#lock(name);
      return fn(tx);
    });
  }

  bootstrapOnce<T>(fn: (tx: Store) => Promise<T>): Promise<T | null> {
    return this.#transaction(async (tx) => {
      // The advisory lock makes concurrent callers wait for the first one to commit;
      // the insert-or-nothing on the marker alone would also decide the race (it
      // blocks on the unique key), the lock keeps the losers from doing any work.
      await tx.#lock(BOOTSTRAP_LOCK);
      const marked = await tx.#db
        .insertInto('meta')
        .values({ key: BOOTSTRAP_MARKER, value: String(Date.now()) })
        .onConflict((oc) => oc.column('key').doNothing())
        .executeTakeFirst();
      if (affected(marked.numInsertedOrUpdatedRows) === 0) return null;
      return fn(tx);
    });
  }

  async #transaction<T>(fn: (tx: KyselyStore) => Promise<T>): Promise<T> {
    if (this.#inTransaction) return this.#run(() => fn(this));
    let committed: Change[] = [];
    const result = await this.#run(() =>
      this.#db.transaction().execute(async (trx) => {
        const tx = new KyselyStore(this.kind, trx, {}, this);
        const result = await fn(tx);
        committed = await tx.#writeFeed();
        return result;
      }),
    );
    if (committed.length > 0) await this.#announce(committed);
    return result;
  }

  /** A lock held until the surrounding transaction ends (SQLite: the transaction is the lock). */
  async #lock(name: string): Promise<void> {
    if (this.kind === 'postgres') {
      await sql`select pg_advisory_xact_lock(hashtext(${name}))`.execute(this.#db);
    }
  }

  /**
   * Runs a change in one transaction; when it changed something, writes the audit
   * entry and queues what `change` recorded for the change feed (written at the end
   * of the transaction). Services never have to remember to invalidate anything.
   */
  #mutate<T>(
    audit: NewAuditEntry | undefined,
    change: (db: Kysely<Database>, record: RecordChange) => Promise<T>,
    changed: (result: T) => boolean = () => true,
  ): Promise<T> {
    return this.#transaction(async (tx) => {
      const recorded: ChangeRef[] = [];
      const result = await change(tx.#db, (kind, tenantId, entityId) => recorded.push({ kind, tenantId, entityId }));
      if (changed(result)) {
        if (audit !== undefined) await tx.#db.insertInto('audit_log').values(auditRow(audit)).execute();
        for (const ref of recorded) tx.#pending.set(`${ref.tenantId}\n${ref.kind}\n${ref.entityId}`, ref);
      }
      return result;
    });
  }

  /** Maps driver errors to typed store errors. */
  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toStoreError(error);
    }
  }

  // ------------------------------------------------------------------ tenants

  async createTenant(tenant: Tenant, audit?: NewAuditEntry): Promise<void> {
    await this.#mutate(audit, (db, record) => {
      record('tenant', tenant.id, tenant.id);
      return db.insertInto('tenants').values(tenantRow(tenant)).execute();
    });
  }

  async getTenant(id: string): Promise<Tenant | null> {
    const row = await this.#run(() => this.#db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst());
    return row ? toTenant(row) : null;
  }

  async listTenants(): Promise<Tenant[]> {
    const rows = await this.#run(() => this.#db.selectFrom('tenants').selectAll().orderBy('created_at').orderBy('id').execute());
    return rows.map(toTenant);
  }

  async listTenantIds(afterId: string | null, limit: number): Promise<string[]> {
    // Byte order (PostgreSQL's "C" collation, SQLite's default BINARY): for tenant ids, JavaScript's string order.
    const id = this.kind === 'postgres' ? sql<string>`id collate "C"` : sql<string>`id`;
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('tenants')
        .select('id')
        .$if(afterId !== null, (q) => q.where(id, '>', afterId as string))
        .orderBy(id)
        .limit(limit)
        .execute(),
    );
    return rows.map((row) => row.id);
  }

  async updateTenant(
    id: string,
    patch: Partial<Omit<Tenant, 'id' | 'createdAt'>>,
    audit?: NewAuditEntry,
  ): Promise<Tenant | null> {
    const set = definedOnly<TenantsTable>({
      name: patch.name,
      signing_alg: patch.signingAlg,
      access_token_lifetime: patch.accessTokenLifetime,
      token_quota_per_minute: patch.tokenQuotaPerMinute,
      trust_domain: patch.trustDomain,
      dpop_nonce_required: patch.dpopNonceRequired === undefined ? undefined : toFlag(patch.dpopNonceRequired),
    });
    return this.#mutate(
      audit,
      async (db, record) => {
        record('tenant', id, id);
        if (Object.keys(set).length > 0) await db.updateTable('tenants').set(set).where('id', '=', id).execute();
        const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
        return row ? toTenant(row) : null;
      },
      (tenant) => tenant !== null,
    );
  }

  async deleteTenant(id: string, audit?: NewAuditEntry): Promise<boolean> {
    return this.#mutate(
      audit,
      async (db, record) => {
        record('tenant', id, id);
        // Children first, explicitly: correct even where foreign keys are not enforced.
        await db.deleteFrom('grants').where('tenant_id', '=', id).execute();
        await db.deleteFrom('client_secrets').where('tenant_id', '=', id).execute();
        await db.deleteFrom('clients').where('tenant_id', '=', id).execute();
        await db.deleteFrom('apis').where('tenant_id', '=', id).execute();
        await db.deleteFrom('signing_keys').where('tenant_id', '=', id).execute();
        await db.deleteFrom('federations').where('tenant_id', '=', id).execute();
        // The tenant's audit history goes with it; the entry recording this deletion
        // is written afterwards, so it survives even when filed under the tenant.
        await db.deleteFrom('audit_log').where('tenant_id', '=', id).execute();
        const result = await db.deleteFrom('tenants').where('id', '=', id).executeTakeFirst();
        return affected(result.numDeletedRows) > 0;
      },
      (deleted) => deleted,
    );
  }

  async loadTenantRecord(id: string): Promise<TenantRecord | null> {
    // One query (a miss of the tenant cache costs one round trip): the tenant row, its
    // APIs, signing keys and federations, each row as JSON, in their list order.
    const parts = await this.#run(async () => {
      const json = await this.#rowJson();
      return sql<{ part: number; row: string }>`
        select 0 as part, ${sql.raw(json('tenants'))} as row, created_at as c, id as i from tenants where id = ${id}
        union all select 1, ${sql.raw(json('apis'))}, created_at, id from apis where tenant_id = ${id}
        union all select 2, ${sql.raw(json('signing_keys'))}, created_at, kid from signing_keys where tenant_id = ${id}
        union all select 3, ${sql.raw(json('federations'))}, created_at, id from federations where tenant_id = ${id}
        order by part, c, i`.execute(this.#db);
    });
    const rows = parts.rows.map((r) => ({ part: Number(r.part), row: JSON.parse(r.row) as Record<string, unknown> }));
    const tenant = rows.find((r) => r.part === 0);
    if (tenant === undefined) return null;
    const of = <Row>(part: number) => rows.filter((r) => r.part === part).map((r) => r.row as unknown as Row);
    return {
      tenant: toTenant(tenant.row as unknown as TenantsTable),
      apis: of<ApisTable>(1).map(toApi),
      keys: of<SigningKeysTable>(2).map(toSigningKey),
      federations: of<FederationsTable>(3).map(toFederation),
    };
  }

  /**
   * How a row of one table the registry loads reads as JSON text: PostgreSQL's `row_to_json`; on SQLite a
   * `json_object` of the table's columns as they are (read once), so a column added by
   * a later migration is included without a change here.
   */
  async #rowJson(): Promise<(table: string) => string> {
    if (this.kind === 'postgres') return (table) => `row_to_json(${table})::text`;
    if (this.#shared.sqliteColumns === null) {
      const columns = new Map<string, string[]>();
      for (const table of ['tenants', 'apis', 'signing_keys', 'federations', 'clients', 'client_secrets', 'grants']) {
        const info = await sql<{ name: string }>`select name from pragma_table_info(${table})`.execute(this.#db);
        columns.set(table, info.rows.map((r) => r.name));
      }
      this.#shared.sqliteColumns = columns;
    }
    const columns = this.#shared.sqliteColumns;
    return (table) => `json_object(${(columns.get(table) ?? []).map((c) => `'${c}', "${c}"`).join(', ')})`;
  }

  // ------------------------------------------------------------------ clients

  async createClient(client: Client, secrets: ClientSecret[], audit?: NewAuditEntry): Promise<void> {
    await this.#mutate(audit, async (db, record) => {
      record('client', client.tenantId, client.clientId);
      await db.insertInto('clients').values(clientRow(client)).execute();
      if (secrets.length > 0) await db.insertInto('client_secrets').values(secrets.map(clientSecretRow)).execute();
    });
  }

  async getClient(tenantId: string, clientId: string): Promise<Client | null> {
    const row = await this.#run(() =>
      this.#db
        .selectFrom('clients')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('client_id', '=', clientId)
        .executeTakeFirst(),
    );
    return row ? toClient(row) : null;
  }

  async listClients(tenantId: string, request: ClientListRequest): Promise<Page<ClientListItem>> {
    const sort = request.sort ?? 'createdAt';
    const order = request.order ?? 'asc';
    const limit = pageLimit(request.limit);
    if (sort === 'lastUsedAt') return this.#clientsByLastUse(tenantId, request, order, limit);
    const key = sort === 'name' ? lowerName('c.name') : sql.ref<SortValue>(sort === 'clientId' ? 'c.client_id' : 'c.created_at');
    const tag = sort === 'createdAt' && order === 'asc' ? DEFAULT_ORDER : `${sort}:${order}`;
    const after = decodeCursor(request.cursor, [tag]);
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('clients as c')
        .selectAll('c')
        .select([CLIENT_LAST_USE.as('last_used_at'), key.as('sort_key')])
        .where('c.tenant_id', '=', tenantId)
        .where((eb) => clientFilters(eb, request, CLIENT_LAST_USE))
        .$if(after !== null, (qb) => qb.where((eb) => afterKey(eb, sort === 'clientId' ? null : key, sql.ref('c.client_id'), after!, order)))
        .$if(sort !== 'clientId', (qb) => qb.orderBy(key, order))
        .orderBy('c.client_id', order)
        .limit(limit + 1)
        .execute(),
    );
    return toPage(rows, limit, toClientListItem, (row) => [tag, sortValueOf(row.sort_key, sort === 'createdAt'), row.client_id]);
  }

  /**
   * Clients by last use: the used ones walk the last-use index by time (joined to the
   * clients that still exist), the never-used ones walk the clients by id; most recent
   * first puts the never-used last, the reverse order first. A page may span both.
   */
  async #clientsByLastUse(tenantId: string, request: ClientListRequest, order: SortOrder, limit: number): Promise<Page<ClientListItem>> {
    const parts = order === 'desc' ? (['used', 'never'] as const) : (['never', 'used'] as const);
    const tags = parts.map((part) => `lastUsedAt:${order}:${part}`);
    const after = decodeCursor(request.cursor, tags);
    const first = after === null ? 0 : tags.indexOf(after.tag);
    const rows: { part: number; row: ClientsTable & { last_used_at: number | null } }[] = [];
    for (let part = first; part < parts.length && rows.length <= limit; part++) {
      const from = part === first ? after : null;
      const want = limit + 1 - rows.length;
      const found = await this.#run(() =>
        parts[part] === 'used'
          ? this.#db
              .selectFrom('usage_last_used as u')
              .innerJoin('clients as c', (join) => join.onRef('c.tenant_id', '=', 'u.tenant_id').onRef('c.client_id', '=', 'u.subject'))
              .selectAll('c')
              .select('u.last_used_at')
              .where('u.tenant_id', '=', tenantId)
              .where('u.kind', '=', 'client')
              .where((eb) => clientFilters(eb, request, sql.ref('u.last_used_at')))
              .$if(from !== null, (qb) => qb.where((eb) => afterKey(eb, sql.ref('u.last_used_at'), sql.ref('u.subject'), from!, order)))
              .orderBy('u.last_used_at', order)
              .orderBy('u.subject', order)
              .limit(want)
              .execute()
          : this.#db
              .selectFrom('clients as c')
              .selectAll('c')
              .select(sql<number | null>`null`.as('last_used_at'))
              .where('c.tenant_id', '=', tenantId)
              .where(sql<SqlBool>`${CLIENT_LAST_USE} is null`)
              .where((eb) => clientFilters(eb, request, null))
              .$if(from !== null, (qb) => qb.where((eb) => afterKey(eb, null, sql.ref('c.client_id'), from!, 'asc')))
              .orderBy('c.client_id', 'asc')
              .limit(want)
              .execute(),
      );
      rows.push(...found.map((row) => ({ part, row })));
    }
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    const nextCursor =
      rows.length > limit && last !== undefined
        ? encodeCursor([tags[last.part]!, parts[last.part] === 'used' ? Number(last.row.last_used_at) : 0, last.row.client_id])
        : null;
    return { items: items.map(({ row }) => toClientListItem(row)), nextCursor };
  }

  async updateClient(
    tenantId: string,
    clientId: string,
    patch: Partial<Omit<Client, 'tenantId' | 'clientId' | 'createdAt'>>,
    audit?: NewAuditEntry,
  ): Promise<Client | null> {
    const set = definedOnly<ClientsTable>({
      name: patch.name,
      token_endpoint_auth_method: patch.tokenEndpointAuthMethod,
      jwks: patch.jwks === undefined ? undefined : jsonOrNull(patch.jwks),
      jwks_uri: patch.jwksUri,
      tls_client_auth_subject_dn: patch.tlsClientAuthSubjectDn,
      access_token_lifetime: patch.accessTokenLifetime,
      token_quota_per_minute: patch.tokenQuotaPerMinute,
      dpop_bound_access_tokens: patch.dpopBoundAccessTokens === undefined ? undefined : toFlag(patch.dpopBoundAccessTokens),
      txn_token_service: patch.txnTokenService === undefined ? undefined : toFlag(patch.txnTokenService),
      disabled: patch.disabled === undefined ? undefined : toFlag(patch.disabled),
      custom_claims: patch.customClaims === undefined ? undefined : claimsColumn(patch.customClaims),
      updated_at: patch.updatedAt ?? Date.now(),
    });
    return this.#mutate(
      audit,
      async (db, record) => {
        record('client', tenantId, clientId);
        await db.updateTable('clients').set(set).where('tenant_id', '=', tenantId).where('client_id', '=', clientId).execute();
        const row = await db
          .selectFrom('clients')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('client_id', '=', clientId)
          .executeTakeFirst();
        return row ? toClient(row) : null;
      },
      (client) => client !== null,
    );
  }

  async deleteClient(tenantId: string, clientId: string, audit?: NewAuditEntry): Promise<boolean> {
    return this.#mutate(
      audit,
      async (db, record) => {
        record('client', tenantId, clientId);
        await db.deleteFrom('grants').where('tenant_id', '=', tenantId).where('client_id', '=', clientId).execute();
        await db.deleteFrom('client_secrets').where('tenant_id', '=', tenantId).where('client_id', '=', clientId).execute();
        const result = await db
          .deleteFrom('clients')
          .where('tenant_id', '=', tenantId)
          .where('client_id', '=', clientId)
          .executeTakeFirst();
        return affected(result.numDeletedRows) > 0;
      },
      (deleted) => deleted,
    );
  }

  async listClientSecrets(tenantId: string, clientId: string): Promise<ClientSecret[]> {
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('client_secrets')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('client_id', '=', clientId)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    );
    return rows.map(toClientSecret);
  }

  async listSecretsOfClients(tenantId: string, clientIds: string[]): Promise<ClientSecret[]> {
    if (clientIds.length === 0) return [];
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('client_secrets')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('client_id', 'in', clientIds)
        .orderBy('created_at')
        .orderBy('id')
        .execute(),
    );
    return rows.map(toClientSecret);
  }

  async loadClientRecord(tenantId: string, clientId: string): Promise<ClientRecord | null> {
    // One query, as for a tenant: the client row, its secrets and its grants, each row as
    // JSON, in their list order, from one snapshot of the database (a change committed
    // meanwhile is in the feed and makes the registry load again).
    const parts = await this.#run(async () => {
      const json = await this.#rowJson();
      return sql<{ part: number; row: string }>`
        select 0 as part, ${sql.raw(json('clients'))} as row, created_at as c, client_id as i from clients where tenant_id = ${tenantId} and client_id = ${clientId}
        union all select 1, ${sql.raw(json('client_secrets'))}, created_at, id from client_secrets where tenant_id = ${tenantId} and client_id = ${clientId}
        union all select 2, ${sql.raw(json('grants'))}, created_at, id from grants where tenant_id = ${tenantId} and client_id = ${clientId}
        order by part, c, i`.execute(this.#db);
    });
    const rows = parts.rows.map((r) => ({ part: Number(r.part), row: JSON.parse(r.row) as Record<string, unknown> }));
    const client = rows.find((r) => r.part === 0);
    if (client === undefined) return null;
    const of = <Row>(part: number) => rows.filter((r) => r.part === part).map((r) => r.row as unknown as Row);
    return { client: toClient(client.row as unknown as ClientsTable), secrets: of<ClientSecretsTable>(1).map(toClientSecret), grants: of<GrantsTable>(2).map(toGrant) };
  }

  async addClientSecret(secret: ClientSecret, audit?: NewAuditEntry): Promise<void> {
    await this.#mutate(audit, (db, record) => {
      record('client', secret.tenantId, secret.clientId);
      return db.insertInto('client_secrets').values(clientSecretRow(secret)).execute();
    });
  }

  async deleteClientSecret(tenantId: string, clientId: string, secretId: string, audit?: NewAuditEntry): Promise<boolean> {
    return this.#mutate(
      audit,
      async (db, record) => {
        record('client', tenantId, clientId);
        const result = await db
          .deleteFrom('client_secrets')
          .where('tenant_id', '=', tenantId)
          .where('client_id', '=', clientId)
          .where('id', '=', secretId)
          .executeTakeFirst();
        return affected(result.numDeletedRows) > 0;
      },
      (deleted) => deleted,
    );
  }

  async touchClientSecrets(used: { secretId: string; at: number }[]): Promise<void> {
    if (used.length === 0) return;
    // One statement per slice, not one per secret: with requests spread over many
    // tenants nearly every token is a secret of its own to touch (docs/performance.md).
    await this.#transaction(async (tx) => {
      for (let i = 0; i < used.length; i += TOUCH_BATCH) {
        const rows = used.slice(i, i + TOUCH_BATCH).map(({ secretId, at }) => sql`(${secretId}, cast(${at} as bigint))`);
        // Only ever moves forward, so batches flushed out of order do no harm. A VALUES
        // list names its columns column1, column2 on SQLite and PostgreSQL alike.
        await sql`update client_secrets set last_used_at = u.column2
          from (values ${sql.join(rows)}) as u
          where client_secrets.id = u.column1 and (client_secrets.last_used_at is null or client_secrets.last_used_at < u.column2)`.execute(tx.#db);
      }
    });
  }

  // --------------------------------------------------------------------- APIs

  async createApi(api: Api, audit?: NewAuditEntry): Promise<void> {
    await this.#mutate(audit, (db, record) => {
      record('api', api.tenantId, api.id);
      return db.insertInto('apis').values(apiRow(api)).execute();
    });
  }

  async getApi(tenantId: string, id: string): Promise<Api | null> {
    const row = await this.#run(() =>
      this.#db.selectFrom('apis').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst(),
    );
    return row ? toApi(row) : null;
  }

  async getApiByIdentifier(tenantId: string, identifier: string): Promise<Api | null> {
    const row = await this.#run(() =>
      this.#db
        .selectFrom('apis')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('identifier', '=', identifier)
        .executeTakeFirst(),
    );
    return row ? toApi(row) : null;
  }

  async listApis(tenantId: string, request: ListRequest<ApiSort>): Promise<Page<Api>> {
    const sort = request.sort ?? 'createdAt';
    const order = request.order ?? 'asc';
    const limit = pageLimit(request.limit);
    const key = sort === 'name' ? lowerName('name') : sql.ref<SortValue>(sort === 'identifier' ? 'identifier' : 'created_at');
    const tag = sort === 'createdAt' && order === 'asc' ? DEFAULT_ORDER : `${sort}:${order}`;
    const after = decodeCursor(request.cursor, [tag]);
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('apis')
        .selectAll()
        .select(key.as('sort_key'))
        .where('tenant_id', '=', tenantId)
        .$if(request.q !== undefined && request.q !== '', (qb) => qb.where((eb) => eb.or([contains('identifier', request.q!), contains('name', request.q!)])))
        .$if(after !== null, (qb) => qb.where((eb) => afterKey(eb, key, sql.ref('id'), after!, order)))
        .orderBy(key, order)
        .orderBy('id', order)
        .limit(limit + 1)
        .execute(),
    );
    return toPage(rows, limit, toApi, (row) => [tag, sortValueOf(row.sort_key, sort === 'createdAt'), row.id]);
  }

  async updateApi(
    tenantId: string,
    id: string,
    patch: Partial<Omit<Api, 'id' | 'tenantId' | 'createdAt'>>,
    audit?: NewAuditEntry,
  ): Promise<Api | null> {
    const set = definedOnly<ApisTable>({
      identifier: patch.identifier,
      name: patch.name,
      scopes: patch.scopes === undefined ? undefined : JSON.stringify(patch.scopes),
      access_token_lifetime: patch.accessTokenLifetime,
      token_format: patch.tokenFormat,
      introspectors: patch.introspectors === undefined ? undefined : JSON.stringify(patch.introspectors),
      updated_at: patch.updatedAt ?? Date.now(),
    });
    return this.#mutate(
      audit,
      async (db, record) => {
        record('api', tenantId, id);
        await db.updateTable('apis').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
        if (patch.identifier !== undefined) {
          // grants.audience is a denormalised copy of the identifier.
          await db
            .updateTable('grants')
            .set({ audience: patch.identifier })
            .where('tenant_id', '=', tenantId)
            .where('api_id', '=', id)
            .execute();
        }
        const row = await db.selectFrom('apis').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
        return row ? toApi(row) : null;
      },
      (api) => api !== null,
    );
  }

  async deleteApi(tenantId: string, id: string, audit?: NewAuditEntry): Promise<boolean> {
    return this.#mutate(
      audit,
      async (db, record) => {
        // The clients' cached grants of this API lapse with it: the registry reads a
        // grant only together with its API (docs/storage.md).
        record('api', tenantId, id);
        await db.deleteFrom('grants').where('tenant_id', '=', tenantId).where('api_id', '=', id).execute();
        const result = await db.deleteFrom('apis').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
        return affected(result.numDeletedRows) > 0;
      },
      (deleted) => deleted,
    );
  }

  // ------------------------------------------------------------------- grants

  async createGrant(grant: Grant, audit?: NewAuditEntry): Promise<void> {
    await this.#mutate(audit, (db, record) => {
      record('grant', grant.tenantId, grant.clientId);
      return db.insertInto('grants').values(grantRow(grant)).execute();
    });
  }

  async getGrant(tenantId: string, id: string): Promise<Grant | null> {
    const row = await this.#run(() =>
      this.#db.selectFrom('grants').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst(),
    );
    return row ? toGrant(row) : null;
  }

  async listGrants(tenantId: string, filter: GrantFilter, request: ListRequest<GrantSort>): Promise<Page<Grant>> {
    const sort = request.sort ?? 'createdAt';
    const order = request.order ?? 'asc';
    const limit = pageLimit(request.limit);
    const key = sql.ref<SortValue>(sort === 'clientId' ? 'client_id' : sort === 'audience' ? 'audience' : 'created_at');
    const tag = sort === 'createdAt' && order === 'asc' ? DEFAULT_ORDER : `${sort}:${order}`;
    const after = decodeCursor(request.cursor, [tag]);
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('grants')
        .selectAll()
        .select(key.as('sort_key'))
        .where('tenant_id', '=', tenantId)
        .$if(filter.clientId !== undefined, (qb) => qb.where('client_id', '=', filter.clientId!))
        .$if(filter.audience !== undefined, (qb) => qb.where('audience', '=', filter.audience!))
        .$if(filter.createdBefore !== undefined, (qb) => qb.where('created_at', '<=', filter.createdBefore!))
        .$if(request.q !== undefined && request.q !== '', (qb) => qb.where((eb) => eb.or([contains('client_id', request.q!), contains('audience', request.q!)])))
        .$if(after !== null, (qb) => qb.where((eb) => afterKey(eb, key, sql.ref('id'), after!, order)))
        .orderBy(key, order)
        .orderBy('id', order)
        .limit(limit + 1)
        .execute(),
    );
    return toPage(rows, limit, toGrant, (row) => [tag, sortValueOf(row.sort_key, sort === 'createdAt'), row.id]);
  }

  async updateGrant(tenantId: string, id: string, patch: Partial<Pick<Grant, 'scopes' | 'customClaims'>>, audit?: NewAuditEntry): Promise<Grant | null> {
    return this.#mutate(
      audit,
      async (db, record) => {
        const grant = await db.selectFrom('grants').select('client_id').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
        if (grant === undefined) return null;
        record('grant', tenantId, grant.client_id);
        const set = definedOnly<GrantsTable>({
          scopes: patch.scopes === undefined ? undefined : JSON.stringify(patch.scopes),
          custom_claims: patch.customClaims === undefined ? undefined : claimsColumn(patch.customClaims),
        });
        if (Object.keys(set).length > 0) await db.updateTable('grants').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
        const row = await db.selectFrom('grants').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
        return row ? toGrant(row) : null;
      },
      (updated) => updated !== null,
    );
  }

  async deleteGrant(tenantId: string, id: string, audit?: NewAuditEntry): Promise<boolean> {
    return this.#mutate(
      audit,
      async (db, record) => {
        const grant = await db.selectFrom('grants').select('client_id').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
        if (grant === undefined) return false;
        record('grant', tenantId, grant.client_id);
        const result = await db.deleteFrom('grants').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
        return affected(result.numDeletedRows) > 0;
      },
      (deleted) => deleted,
    );
  }

  // ------------------------------------------------------------- signing keys

  async listSigningKeys(tenantId: string): Promise<SigningKey[]> {
    const rows = await this.#run(() =>
      this.#db.selectFrom('signing_keys').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('kid').execute(),
    );
    return rows.map(toSigningKey);
  }

  async insertSigningKey(key: SigningKey, audit?: NewAuditEntry): Promise<void> {
    await this.#mutate(audit, (db, record) => {
      record('key', key.tenantId, key.kid);
      return db.insertInto('signing_keys').values(signingKeyRow(key)).execute();
    });
  }

  async updateSigningKey(
    tenantId: string,
    kid: string,
    patch: Partial<Pick<SigningKey, 'status' | 'activatedAt' | 'retiredAt' | 'publishUntil' | 'privateKeyEncrypted'>>,
    audit?: NewAuditEntry,
  ): Promise<void> {
    const set = definedOnly<SigningKeysTable>({
      status: patch.status,
      private_key_encrypted: patch.privateKeyEncrypted,
      activated_at: patch.activatedAt,
      retired_at: patch.retiredAt,
      publish_until: patch.publishUntil,
    });
    if (Object.keys(set).length === 0) return;
    await this.#mutate(
      audit,
      async (db, record) => {
        record('key', tenantId, kid);
        const result = await db.updateTable('signing_keys').set(set).where('tenant_id', '=', tenantId).where('kid', '=', kid).executeTakeFirst();
        return affected(result.numUpdatedRows) > 0;
      },
      (updated) => updated,
    );
  }

  async deleteSigningKey(tenantId: string, kid: string, audit?: NewAuditEntry): Promise<void> {
    await this.#mutate(
      audit,
      async (db, record) => {
        record('key', tenantId, kid);
        const result = await db.deleteFrom('signing_keys').where('tenant_id', '=', tenantId).where('kid', '=', kid).executeTakeFirst();
        return affected(result.numDeletedRows) > 0;
      },
      (deleted) => deleted,
    );
  }

  async tenantsWithKeyWork(now: number, activatedBefore: number): Promise<string[]> {
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('tenants')
        .select('id')
        .where((eb) =>
          eb.or([
            eb.exists(
              eb
                .selectFrom('signing_keys')
                .select('kid')
                .whereRef('signing_keys.tenant_id', '=', 'tenants.id')
                .where((k) =>
                  k.or([
                    k.and([k('status', '=', 'active'), k(k.fn.coalesce('activated_at', 'created_at'), '<=', activatedBefore)]),
                    k.and([k('status', '=', 'retired'), k('publish_until', '<=', now)]),
                  ]),
                ),
            ),
            eb.not(
              eb.exists(
                eb.selectFrom('signing_keys').select('kid').whereRef('signing_keys.tenant_id', '=', 'tenants.id').where('status', '=', 'active'),
              ),
            ),
          ]),
        )
        .orderBy('id')
        .execute(),
    );
    return rows.map((r) => r.id);
  }

  async listActiveKeyActivations(): Promise<{ tenantId: string; activatedAt: number | null }[]> {
    const rows = await this.#run(() =>
      this.#db.selectFrom('signing_keys').select(['tenant_id', 'activated_at']).where('status', '=', 'active').orderBy('tenant_id').execute(),
    );
    return rows.map((r) => ({ tenantId: r.tenant_id, activatedAt: numberOrNull(r.activated_at) }));
  }

  // -------------------------------------------------------------- federations

  async createFederation(federation: Federation, audit?: NewAuditEntry): Promise<void> {
    await this.#mutate(audit, (db, record) => {
      record('federation', federation.tenantId, federation.id);
      return db.insertInto('federations').values(federationRow(federation)).execute();
    });
  }

  async getFederation(tenantId: string, id: string): Promise<Federation | null> {
    const row = await this.#run(() =>
      this.#db.selectFrom('federations').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst(),
    );
    return row ? toFederation(row) : null;
  }

  async listFederations(tenantId: string): Promise<Federation[]> {
    const rows = await this.#run(() =>
      this.#db.selectFrom('federations').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('id').execute(),
    );
    return rows.map(toFederation);
  }

  async updateFederation(federation: Federation, audit?: NewAuditEntry): Promise<Federation | null> {
    return this.#mutate(
      audit,
      async (db, record) => {
        record('federation', federation.tenantId, federation.id);
        const { tenant_id: _t, id: _id, created_at: _c, ...set } = federationRow(federation);
        const result = await db.updateTable('federations').set(set).where('tenant_id', '=', federation.tenantId).where('id', '=', federation.id).executeTakeFirst();
        if (affected(result.numUpdatedRows) === 0) return null;
        const row = await db.selectFrom('federations').selectAll().where('tenant_id', '=', federation.tenantId).where('id', '=', federation.id).executeTakeFirst();
        return row ? toFederation(row) : null;
      },
      (updated) => updated !== null,
    );
  }

  async deleteFederation(tenantId: string, id: string, audit?: NewAuditEntry): Promise<boolean> {
    return this.#mutate(
      audit,
      async (db, record) => {
        record('federation', tenantId, id);
        const result = await db.deleteFrom('federations').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
        return affected(result.numDeletedRows) > 0;
      },
      (deleted) => deleted,
    );
  }

  // -------------------------------------------------------------------- audit

  /** Newest first unless `order` is asc. `since` is inclusive, `until` exclusive. */
  async listAudit(tenantId: string, query: AuditQuery): Promise<Page<AuditEntry>> {
    const order = query.order ?? 'desc';
    const tag = order === 'desc' ? DEFAULT_ORDER : 'at:asc';
    const after = decodeCursor(query.cursor, [tag]);
    const limit = pageLimit(query.limit);
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('audit_log')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .$if(query.action !== undefined, (qb) => qb.where('action', '=', query.action!))
        .$if(query.actor !== undefined, (qb) => qb.where('actor', '=', query.actor!))
        .$if(query.targetType !== undefined, (qb) => qb.where('target_type', '=', query.targetType!))
        .$if(query.targetId !== undefined, (qb) => qb.where('target_id', '=', query.targetId!))
        .$if(query.since !== undefined, (qb) => qb.where('at', '>=', query.since!))
        .$if(query.until !== undefined, (qb) => qb.where('at', '<', query.until!))
        .$if(after !== null, (qb) => qb.where((eb) => afterKey(eb, sql.ref('at'), sql.ref('id'), after!, order)))
        .orderBy('at', order)
        .orderBy('id', order)
        .limit(limit + 1)
        .execute(),
    );
    return toPage(rows, limit, toAuditEntry, (row) => [tag, Number(row.at), row.id]);
  }

  // ------------------------------------------------------------ console users

  async createConsoleUser(user: ConsoleUser, audit?: NewAuditEntry): Promise<void> {
    await this.#mutate(audit, (db) =>
      db
        .insertInto('console_users')
        .values({
          username: user.username,
          password_hash: user.passwordHash,
          role: user.role,
          tenants: user.tenants === null ? null : JSON.stringify(user.tenants),
          created_at: user.createdAt,
          updated_at: user.updatedAt,
          password_changed_at: user.passwordChangedAt,
        })
        .execute(),
    );
  }

  async getConsoleUser(username: string): Promise<ConsoleUser | null> {
    const row = await this.#run(() =>
      this.#db.selectFrom('console_users').selectAll().where('username', '=', username).executeTakeFirst(),
    );
    return row ? toConsoleUser(row) : null;
  }

  async listConsoleUsers(): Promise<ConsoleUser[]> {
    const rows = await this.#run(() => this.#db.selectFrom('console_users').selectAll().orderBy('username').execute());
    return rows.map(toConsoleUser);
  }

  async updateConsoleUser(
    username: string,
    patch: Partial<Pick<ConsoleUser, 'role' | 'tenants' | 'passwordHash' | 'passwordChangedAt'>>,
    audit?: NewAuditEntry,
  ): Promise<ConsoleUser | null> {
    const set = definedOnly<ConsoleUsersTable>({
      role: patch.role,
      tenants: patch.tenants === undefined ? undefined : patch.tenants === null ? null : JSON.stringify(patch.tenants),
      password_hash: patch.passwordHash,
      password_changed_at: patch.passwordChangedAt,
      updated_at: Date.now(),
    });
    return this.#mutate(
      audit,
      async (db) => {
        await db.updateTable('console_users').set(set).where('username', '=', username).execute();
        const row = await db.selectFrom('console_users').selectAll().where('username', '=', username).executeTakeFirst();
        return row ? toConsoleUser(row) : null;
      },
      (user) => user !== null,
    );
  }

  async deleteConsoleUser(username: string, audit?: NewAuditEntry): Promise<boolean> {
    return this.#mutate(
      audit,
      async (db) => affected((await db.deleteFrom('console_users').where('username', '=', username).executeTakeFirst()).numDeletedRows) > 0,
      (deleted) => deleted,
    );
  }

  // --------------------------------------------------------------------- meta

  async getMeta(key: string): Promise<string | null> {
    const row = await this.#run(() => this.#db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst());
    return row?.value ?? null;
  }

  async setMeta(key: string, value: string, audit?: NewAuditEntry): Promise<void> {
    const upsert = (db: Kysely<Database>) => db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
    // Deployment settings changed by hand (the public URL) are audited; internal markers are not.
    if (audit !== undefined) await this.#mutate(audit, upsert);
    else await this.#run(() => upsert(this.#db));
  }
}

// ------------------------------------------------------------------- helpers

function affected(count: bigint | undefined): number {
  return Number(count ?? 0n);
}

function toFlag(value: boolean): number {
  return value ? 1 : 0;
}

function jsonOrNull(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value);
}

function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

function parseJsonOrNull<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

function numberOrNull(value: number | null): number | null {
  return value === null ? null : Number(value);
}

/** Drops undefined properties so a patch only sets what it names. */
function definedOnly<Row>(values: { [K in keyof Row]?: Row[K] | undefined }): Partial<Row> {
  const out: Partial<Row> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}

function auditRow(audit: NewAuditEntry): AuditLogTable {
  return {
    id: randomUUID(),
    tenant_id: audit.tenantId,
    actor: audit.actor,
    action: audit.action,
    target_type: audit.targetType,
    target_id: audit.targetId,
    details: JSON.stringify(audit.details),
    at: Date.now(),
  };
}

// Paging. A cursor is base64url(JSON) of where the walk stopped: [sortValue, id] in a
// list's default order (as cursors always were), [tag, sortValue, id] in any other,
// where the tag names the sort and order, so a cursor of one order is refused by another.

type SortValue = number | string;
/** The tag of a list's default order: the two-element cursor. */
const DEFAULT_ORDER = '';
interface CursorKey {
  tag: string;
  value: SortValue;
  id: string;
}

function pageLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(1, Math.floor(limit)) : 1;
}

function encodeCursor([tag, value, id]: [string, SortValue, string]): string {
  return Buffer.from(JSON.stringify(tag === DEFAULT_ORDER ? [value, id] : [tag, value, id])).toString('base64url');
}

/** The cursor's key, if it was issued for one of `tags`; else StoreInvalidCursorError. */
function decodeCursor(cursor: string | null | undefined, tags: readonly string[]): CursorKey | null {
  if (cursor === undefined || cursor === null || cursor === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new StoreInvalidCursorError();
  }
  if (!Array.isArray(parsed) || (parsed.length !== 2 && parsed.length !== 3)) throw new StoreInvalidCursorError();
  const [tag, value, id] = parsed.length === 2 ? [DEFAULT_ORDER, parsed[0], parsed[1]] : parsed;
  const validValue = (typeof value === 'number' && Number.isSafeInteger(value)) || (typeof value === 'string' && value.length <= 1024);
  if (typeof tag !== 'string' || !tags.includes(tag) || !validValue || typeof id !== 'string') throw new StoreInvalidCursorError();
  return { tag, value, id };
}

/**
 * Rows strictly after the cursor's (sort, id) in the walk's direction. The bound on the
 * sort key alone (>= or <=) lets both databases seek into the index instead of
 * filtering from its start. `sort` null: the id is the sort key.
 */
function afterKey<DB, TB extends keyof DB>(
  eb: ExpressionBuilder<DB, TB>,
  sort: RawBuilder<SortValue> | null,
  id: RawBuilder<unknown>,
  after: CursorKey,
  order: SortOrder,
): Expression<SqlBool> {
  const op = order === 'asc' ? '>' : '<';
  if (sort === null) return eb(id as never, op, after.id as never);
  return eb.and([
    eb(sort as never, order === 'asc' ? '>=' : '<=', after.value as never),
    eb.or([eb(sort as never, op, after.value as never), eb(id as never, op, after.id as never)]),
  ]);
}

function toPage<Row, T>(rows: Row[], limit: number, map: (row: Row) => T, key: (row: Row) => [string, SortValue, string]): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(map), nextCursor: rows.length > limit && last !== undefined ? encodeCursor(key(last)) : null };
}

/** A sort key as the cursor keeps it: numbers through Number() (PostgreSQL int8 may surface as text). */
function sortValueOf(value: unknown, numeric: boolean): SortValue {
  return numeric ? Number(value) : String(value);
}

/** lower(column): names sort and match case-insensitively, through an index on the expression (migration 015). */
function lowerName(column: string): RawBuilder<string> {
  return sql<string>`lower(${sql.ref(column)})`;
}

/** A case-insensitive substring match, with LIKE's wildcards in the needle taken literally. */
function contains(column: string, needle: string): RawBuilder<SqlBool> {
  const pattern = `%${needle.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<SqlBool>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
}

/**
 * A client's last use (alias c), as a scalar subquery: one probe of the last-use primary
 * key per row the walk reads, whatever the planner's statistics say. (As a join, a
 * freshly loaded PostgreSQL table estimated at one row could be scanned whole per client.)
 */
const CLIENT_LAST_USE = sql<number | null>`(select u.last_used_at from usage_last_used as u where u.tenant_id = c.tenant_id and u.kind = 'client' and u.subject = c.client_id)`;

/** The client list's search and dormant filter on alias c; `lastUse`: the row's last use (null: known to be never). */
function clientFilters(eb: ExpressionBuilder<any, any>, request: ClientListRequest, lastUse: RawBuilder<unknown> | null): Expression<SqlBool> {
  const conditions: Expression<SqlBool>[] = [];
  if (request.q !== undefined && request.q !== '') conditions.push(eb.or([contains('c.client_id', request.q), contains('c.name', request.q)]));
  if (request.dormantSince !== undefined) {
    conditions.push(eb('c.created_at', '<=', request.dormantSince));
    // Never used, or not since.
    if (lastUse !== null) conditions.push(sql<SqlBool>`coalesce(${lastUse}, -1) < ${request.dormantSince}`);
  }
  return conditions.length === 0 ? sql<SqlBool>`true` : eb.and(conditions);
}

// Row <-> entity mapping. Numbers go through Number() because PostgreSQL int8 could
// surface as strings if a pool were configured without the int8 parser.

function tenantRow(t: Tenant): TenantsTable {
  return {
    id: t.id,
    name: t.name,
    signing_alg: t.signingAlg,
    access_token_lifetime: t.accessTokenLifetime,
    token_quota_per_minute: t.tokenQuotaPerMinute ?? null,
    trust_domain: t.trustDomain ?? null,
    dpop_nonce_required: toFlag(t.dpopNonceRequired ?? false),
    created_at: t.createdAt,
  };
}

function toTenant(r: TenantsTable): Tenant {
  return {
    id: r.id,
    name: r.name,
    signingAlg: r.signing_alg as SigningAlg,
    accessTokenLifetime: numberOrNull(r.access_token_lifetime),
    tokenQuotaPerMinute: numberOrNull(r.token_quota_per_minute),
    trustDomain: r.trust_domain ?? null,
    dpopNonceRequired: Number(r.dpop_nonce_required ?? 0) !== 0,
    createdAt: Number(r.created_at),
  };
}

function clientRow(c: Client): ClientsTable {
  return {
    tenant_id: c.tenantId,
    client_id: c.clientId,
    name: c.name,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    jwks: jsonOrNull(c.jwks),
    jwks_uri: c.jwksUri,
    tls_client_auth_subject_dn: c.tlsClientAuthSubjectDn,
    access_token_lifetime: c.accessTokenLifetime,
    token_quota_per_minute: c.tokenQuotaPerMinute ?? null,
    dpop_bound_access_tokens: toFlag(c.dpopBoundAccessTokens ?? false),
    txn_token_service: toFlag(c.txnTokenService ?? false),
    disabled: toFlag(c.disabled),
    created_at: c.createdAt,
    updated_at: c.updatedAt,
    custom_claims: claimsColumn(c.customClaims),
  };
}

function toClientListItem(r: ClientsTable & { last_used_at: number | null }): ClientListItem {
  return { ...toClient(r), lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at) };
}

function toClient(r: ClientsTable): Client {
  return {
    tenantId: r.tenant_id,
    clientId: r.client_id,
    name: r.name,
    tokenEndpointAuthMethod: r.token_endpoint_auth_method as TokenEndpointAuthMethod,
    jwks: parseJsonOrNull<Client['jwks']>(r.jwks),
    jwksUri: r.jwks_uri,
    tlsClientAuthSubjectDn: r.tls_client_auth_subject_dn,
    accessTokenLifetime: numberOrNull(r.access_token_lifetime),
    tokenQuotaPerMinute: numberOrNull(r.token_quota_per_minute),
    dpopBoundAccessTokens: Number(r.dpop_bound_access_tokens ?? 0) !== 0,
    txnTokenService: Number(r.txn_token_service ?? 0) !== 0,
    disabled: Number(r.disabled) !== 0,
    customClaims: parseJsonOrNull<CustomClaims>(r.custom_claims) ?? {},
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function clientSecretRow(s: ClientSecret): ClientSecretsTable {
  return {
    id: s.id,
    tenant_id: s.tenantId,
    client_id: s.clientId,
    hash: s.hash,
    created_at: s.createdAt,
    last_used_at: s.lastUsedAt,
  };
}

function toConsoleUser(r: ConsoleUsersTable): ConsoleUser {
  return {
    username: r.username,
    passwordHash: r.password_hash,
    role: r.role === 'admin' ? 'admin' : 'viewer',
    tenants: r.tenants === null ? null : (JSON.parse(r.tenants) as string[]),
    createdAt: Number(r.created_at),
    updatedAt: r.updated_at === null ? null : Number(r.updated_at),
    passwordChangedAt: Number(r.password_changed_at ?? r.created_at),
  };
}

function toClientSecret(r: ClientSecretsTable): ClientSecret {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    clientId: r.client_id,
    hash: r.hash,
    createdAt: Number(r.created_at),
    lastUsedAt: numberOrNull(r.last_used_at),
  };
}

function apiRow(a: Api): ApisTable {
  return {
    tenant_id: a.tenantId,
    id: a.id,
    identifier: a.identifier,
    name: a.name,
    scopes: JSON.stringify(a.scopes),
    access_token_lifetime: a.accessTokenLifetime,
    token_format: a.tokenFormat,
    introspectors: JSON.stringify(a.introspectors),
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  };
}

function toApi(r: ApisTable): Api {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    identifier: r.identifier,
    name: r.name,
    scopes: parseJson<Api['scopes']>(r.scopes),
    accessTokenLifetime: numberOrNull(r.access_token_lifetime),
    tokenFormat: r.token_format as TokenFormat,
    introspectors: parseJson<string[]>(r.introspectors),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function grantRow(g: Grant): GrantsTable {
  return {
    tenant_id: g.tenantId,
    id: g.id,
    client_id: g.clientId,
    api_id: g.apiId,
    audience: g.audience,
    scopes: JSON.stringify(g.scopes),
    created_at: g.createdAt,
    custom_claims: claimsColumn(g.customClaims),
  };
}

function toGrant(r: GrantsTable): Grant {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    clientId: r.client_id,
    apiId: r.api_id,
    audience: r.audience,
    scopes: parseJson<string[]>(r.scopes),
    customClaims: parseJsonOrNull<CustomClaims>(r.custom_claims) ?? {},
    createdAt: Number(r.created_at),
  };
}

/** No claims are stored as NULL, so rows written before migration 009 read the same. */
function claimsColumn(claims: CustomClaims): string | null {
  return Object.keys(claims).length === 0 ? null : JSON.stringify(claims);
}

function signingKeyRow(k: SigningKey): SigningKeysTable {
  return {
    tenant_id: k.tenantId,
    kid: k.kid,
    alg: k.alg,
    status: k.status,
    public_jwk: JSON.stringify(k.publicJwk),
    private_key_encrypted: k.privateKeyEncrypted,
    created_at: k.createdAt,
    activated_at: k.activatedAt,
    retired_at: k.retiredAt,
    publish_until: k.publishUntil,
  };
}

function toSigningKey(r: SigningKeysTable): SigningKey {
  return {
    kid: r.kid,
    tenantId: r.tenant_id,
    alg: r.alg as SigningAlg,
    status: r.status as KeyStatus,
    publicJwk: parseJson<Record<string, unknown>>(r.public_jwk),
    privateKeyEncrypted: r.private_key_encrypted,
    createdAt: Number(r.created_at),
    activatedAt: numberOrNull(r.activated_at),
    retiredAt: numberOrNull(r.retired_at),
    publishUntil: numberOrNull(r.publish_until),
  };
}

function federationRow(f: Federation): FederationsTable {
  return {
    tenant_id: f.tenantId,
    id: f.id,
    name: f.name,
    issuer: f.issuer,
    jwks_uri: f.jwksUri,
    jwks: jsonOrNull(f.jwks),
    audience: f.audience,
    rules: JSON.stringify(f.rules),
    created_at: f.createdAt,
    kind: f.kind,
    claim_mappings: Object.keys(f.claimMappings).length === 0 ? null : JSON.stringify(f.claimMappings),
    replay_protection: f.replayProtection.mode === 'off' ? null : JSON.stringify(f.replayProtection),
    exchange_rules: f.exchangeRules.length === 0 ? null : JSON.stringify(f.exchangeRules),
  };
}

function toFederation(r: FederationsTable): Federation {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    kind: r.kind as FederationKind,
    issuer: r.issuer,
    jwksUri: r.jwks_uri,
    jwks: parseJsonOrNull<Federation['jwks']>(r.jwks),
    audience: r.audience,
    rules: parseJson<Federation['rules']>(r.rules),
    exchangeRules: parseJsonOrNull<Federation['exchangeRules']>(r.exchange_rules) ?? [],
    claimMappings: parseJsonOrNull<Federation['claimMappings']>(r.claim_mappings) ?? {},
    replayProtection: parseJsonOrNull<ReplayProtection>(r.replay_protection) ?? { mode: 'off' },
    createdAt: Number(r.created_at),
  };
}

function toChange(r: { seq: number; tenant_id: string; kind: string; entity_id: string; at: number }): Change {
  return { seq: Number(r.seq), tenantId: r.tenant_id, kind: r.kind as ChangeKind, entityId: r.entity_id, at: Number(r.at) };
}

function toAuditEntry(r: AuditLogTable): AuditEntry {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    actor: r.actor,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    details: parseJson<Record<string, unknown>>(r.details),
    at: Number(r.at),
  };
}
