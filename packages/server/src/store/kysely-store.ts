import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
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
  ClientRecord,
  ClientSecret,
  ConsoleUser,
  CustomClaims,
  Federation,
  FederationKind,
  Grant,
  KeyStatus,
  NewAuditEntry,
  Page,
  PageRequest,
  ReplayProtection,
  SigningAlg,
  RegistryStore,
  SigningKey,
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
}

/** What the root store and the stores bound to its transactions share. */
interface Shared {
  listeners: ((changes: Change[]) => Promise<void> | void)[];
  listen: ListenFactory | null;
  openState: (() => StateStore) | null;
  state: StateStore | null;
  /** SQLite: the columns of the tables loadTenantRecord and loadClientRecord read, as of the first load. */
  sqliteColumns: Map<string, string[]> | null;
}

type RecordChange = (kind: ChangeKind, tenantId: string, entityId: string) => void;

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
    this.#shared = transactionOf !== undefined ? transactionOf.#shared : { listeners: [], listen: options.listen ?? null, openState: options.openState ?? null, state: null, sqliteColumns: null };
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

  async listClients(tenantId: string, page: PageRequest): Promise<Page<Client>> {
    const after = decodeCursor(page.cursor);
    const limit = pageLimit(page.limit);
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('clients')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .$if(after !== null, (qb) => qb.where((eb) => afterKey(eb, 'created_at', 'client_id', after!, '>')))
        .orderBy('created_at')
        .orderBy('client_id')
        .limit(limit + 1)
        .execute(),
    );
    return toPage(rows, limit, toClient, (row) => [row.created_at, row.client_id]);
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
    await this.#transaction(async (tx) => {
      for (const { secretId, at } of used) {
        // Only ever moves forward, so batches flushed out of order do no harm.
        await tx.#db
          .updateTable('client_secrets')
          .set({ last_used_at: at })
          .where('id', '=', secretId)
          .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
          .execute();
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

  async listApis(tenantId: string, page: PageRequest): Promise<Page<Api>> {
    const after = decodeCursor(page.cursor);
    const limit = pageLimit(page.limit);
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('apis')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .$if(after !== null, (qb) => qb.where((eb) => afterKey(eb, 'created_at', 'id', after!, '>')))
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit + 1)
        .execute(),
    );
    return toPage(rows, limit, toApi, (row) => [row.created_at, row.id]);
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

  async listGrants(
    tenantId: string,
    filter: { clientId?: string; audience?: string },
    page: PageRequest,
  ): Promise<Page<Grant>> {
    const after = decodeCursor(page.cursor);
    const limit = pageLimit(page.limit);
    const rows = await this.#run(() =>
      this.#db
        .selectFrom('grants')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .$if(filter.clientId !== undefined, (qb) => qb.where('client_id', '=', filter.clientId!))
        .$if(filter.audience !== undefined, (qb) => qb.where('audience', '=', filter.audience!))
        .$if(after !== null, (qb) => qb.where((eb) => afterKey(eb, 'created_at', 'id', after!, '>')))
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit + 1)
        .execute(),
    );
    return toPage(rows, limit, toGrant, (row) => [row.created_at, row.id]);
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

  /** Newest first. `since` is inclusive, `until` exclusive. */
  async listAudit(tenantId: string, query: AuditQuery): Promise<Page<AuditEntry>> {
    const after = decodeCursor(query.cursor);
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
        .$if(after !== null, (qb) => qb.where((eb) => afterKey(eb, 'at', 'id', after!, '<')))
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute(),
    );
    return toPage(rows, limit, toAuditEntry, (row) => [row.at, row.id]);
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

  async setMeta(key: string, value: string): Promise<void> {
    await this.#run(() =>
      this.#db
        .insertInto('meta')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute(),
    );
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

// Paging: the cursor is base64url(JSON [sortValue, id]) of the last row returned.

type CursorKey = [number, string];

function pageLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(1, Math.floor(limit)) : 1;
}

function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string | null | undefined): CursorKey | null {
  if (cursor === undefined || cursor === null || cursor === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new StoreInvalidCursorError();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'number' ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== 'string'
  ) {
    throw new StoreInvalidCursorError();
  }
  return [parsed[0], parsed[1]];
}

/** (sort, id) strictly after the cursor key in the given direction. */
function afterKey<DB, TB extends keyof DB>(
  eb: ExpressionBuilder<DB, TB>,
  sortColumn: string,
  idColumn: string,
  [sortValue, id]: CursorKey,
  op: '>' | '<',
): Expression<SqlBool> {
  const sort = eb.ref(sortColumn as never);
  const key = eb.ref(idColumn as never);
  return eb.or([eb(sort, op, sortValue as never), eb.and([eb(sort, '=', sortValue as never), eb(key, op, id as never)])]);
}

function toPage<Row, T>(rows: Row[], limit: number, map: (row: Row) => T, key: (row: Row) => [number, string]): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const nextCursor = rows.length > limit && last !== undefined ? encodeCursor([Number(key(last)[0]), key(last)[1]]) : null;
  return { items: items.map(map), nextCursor };
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
