/**
 * The state store in the registry's database (SQLite or PostgreSQL), on a connection
 * of its own: on SQLite a second connection to the same file, so that a token-path
 * write never queues behind a registry transaction of this process; on PostgreSQL the
 * same pool. Every write is one short autocommitted statement: no transaction is held
 * across an `await`, and single-use keys are written in groups (group-commit.ts).
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { toStoreError } from '../errors.js';
import type { Database, OpaqueTokensTable } from '../schema.js';
import type { OpaqueToken } from '../types.js';
import { GroupCommit, singleUseId, type SingleUseRow } from './group-commit.js';
import type { RateLimitHit, StateStore } from './types.js';

/** Keys per rate-limit statement: 3 parameters each, well inside SQLite's 32,766 and PostgreSQL's 65,535. */
const RATE_LIMIT_CHUNK = 1000;
/** Rate-limit windows are at most an hour long. */
const LONGEST_WINDOW = 3_600_000;

/**
 * A single-use or rate-limit key as the tables can hold it: PostgreSQL text cannot hold
 * a NUL, and one such key (a `jti` is any JSON string, a claimed client id any string)
 * would fail the whole insert it rides in, with every other key of it.
 * A key with a NUL is kept as its SHA-256; a key that is literally that form meets it
 * as a replay, so the mapping can only ever refuse, never let a key in twice.
 */
function storableKey(key: string): string {
  return key.includes('\u0000') ? `sha256:${createHash('sha256').update(key).digest('base64url')}` : key;
}

export class SqlStateStore implements StateStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly #db: Kysely<Database>;
  readonly #singleUse: GroupCommit;
  readonly #close: () => Promise<void>;

  /** `close` releases what this store owns (its SQLite connection; nothing when it shares a pool). */
  constructor(kind: 'sqlite' | 'postgres', db: Kysely<Database>, close: () => Promise<void>) {
    this.kind = kind;
    this.#db = db;
    this.#close = close;
    this.#singleUse = new GroupCommit((rows) => this.#insertNewRows(rows));
  }

  /**
   * A row that has expired but not been purged yet still counts as used (a replay):
   * the stricter reading of single use, and what carried the key has expired anyway.
   */
  useOnce(namespace: string, tenantId: string, key: string, expiresAt: number): Promise<boolean> {
    return this.#singleUse.use({ namespace, tenantId, key: storableKey(key), expiresAt });
  }

  async #insertNewRows(rows: SingleUseRow[]): Promise<Set<string>> {
    const inserted = await this.#run(() =>
      this.#db
        .insertInto('single_use')
        .values(rows.map((r) => ({ namespace: r.namespace, tenant_id: r.tenantId, key: r.key, expires_at: r.expiresAt })))
        .onConflict((oc) => oc.columns(['tenant_id', 'namespace', 'key']).doNothing())
        .returning(['namespace', 'tenant_id', 'key'])
        .execute(),
    );
    return new Set(inserted.map((r) => singleUseId({ namespace: r.namespace, tenantId: r.tenant_id, key: r.key })));
  }

  async revokeJti(tenantId: string, jti: string, expiresAt: number): Promise<void> {
    await this.#run(() =>
      this.#db
        .insertInto('revoked_jtis')
        .values({ tenant_id: tenantId, jti, expires_at: expiresAt })
        .onConflict((oc) => oc.columns(['tenant_id', 'jti']).doUpdateSet((eb) => ({ expires_at: eb.ref('excluded.expires_at') })))
        .execute(),
    );
  }

  async isJtiRevoked(tenantId: string, jti: string): Promise<boolean> {
    const row = await this.#run(() =>
      this.#db.selectFrom('revoked_jtis').select('jti').where('tenant_id', '=', tenantId).where('jti', '=', jti).executeTakeFirst(),
    );
    return row !== undefined;
  }

  async insertOpaqueToken(token: OpaqueToken): Promise<void> {
    await this.#run(() => this.#db.insertInto('opaque_tokens').values(opaqueTokenRow(token)).execute());
  }

  async getOpaqueToken(tenantId: string, tokenHash: string): Promise<OpaqueToken | null> {
    const row = await this.#run(() =>
      this.#db.selectFrom('opaque_tokens').selectAll().where('token_hash', '=', tokenHash).where('tenant_id', '=', tenantId).executeTakeFirst(),
    );
    return row ? toOpaqueToken(row) : null;
  }

  async revokeOpaqueToken(tenantId: string, tokenHash: string): Promise<boolean> {
    const result = await this.#run(() =>
      this.#db.updateTable('opaque_tokens').set({ revoked: 1 }).where('token_hash', '=', tokenHash).where('tenant_id', '=', tenantId).executeTakeFirst(),
    );
    return Number(result.numUpdatedRows) > 0;
  }

  async addRateLimitHits(windowStart: number, hits: readonly RateLimitHit[]): Promise<Map<string, number>> {
    const totals = new Map<string, number>();
    const counts = new Map<string, number>();
    // Stored under storableKey (a claimed client id in a key may hold a NUL); answered under the caller's key.
    const callerKey = new Map<string, string>();
    for (const { key, count } of hits) {
      const stored = storableKey(key);
      callerKey.set(stored, key);
      counts.set(stored, (counts.get(stored) ?? 0) + count);
    }
    const adding = [...counts].filter(([, count]) => count > 0);
    const reading = [...counts].filter(([, count]) => count <= 0).map(([key]) => key);
    // Chunked: one statement for 66k keys would pass the drivers' parameter limits. The
    // keys are distinct, so each row is touched once; each chunk commits on its own.
    for (let start = 0; start < adding.length; start += RATE_LIMIT_CHUNK) {
      const chunk = adding.slice(start, start + RATE_LIMIT_CHUNK);
      const rows = await this.#run(() =>
        this.#db
          .insertInto('rate_limits')
          .values(chunk.map(([key, count]) => ({ key, window_start: windowStart, hits: count })))
          .onConflict((oc) => oc.columns(['key', 'window_start']).doUpdateSet({ hits: sql<number>`rate_limits.hits + excluded.hits` }))
          .returning(['key', 'hits'])
          .execute(),
      );
      for (const row of rows) totals.set(callerKey.get(row.key) ?? row.key, Number(row.hits));
    }
    for (let start = 0; start < reading.length; start += RATE_LIMIT_CHUNK) {
      const chunk = reading.slice(start, start + RATE_LIMIT_CHUNK);
      const rows = await this.#run(() =>
        this.#db.selectFrom('rate_limits').select(['key', 'hits']).where('window_start', '=', windowStart).where('key', 'in', chunk).execute(),
      );
      for (const key of chunk) totals.set(callerKey.get(key) ?? key, 0);
      for (const row of rows) totals.set(callerKey.get(row.key) ?? row.key, Number(row.hits));
    }
    return totals;
  }

  async endClient(tenantId: string, clientId: string): Promise<void> {
    await this.#run(() => this.#db.deleteFrom('opaque_tokens').where('tenant_id', '=', tenantId).where('client_id', '=', clientId).execute());
  }

  async endTenant(tenantId: string): Promise<void> {
    // One statement each, autocommitted: what a crash leaves behind expires and is purged.
    await this.#run(async () => {
      await this.#db.deleteFrom('opaque_tokens').where('tenant_id', '=', tenantId).execute();
      await this.#db.deleteFrom('revoked_jtis').where('tenant_id', '=', tenantId).execute();
      await this.#db.deleteFrom('single_use').where('tenant_id', '=', tenantId).execute();
    });
  }

  async purgeExpired(now: number): Promise<number> {
    // Sequential statements, each its own short transaction.
    return this.#run(async () => {
      let deleted = 0;
      deleted += Number((await this.#db.deleteFrom('opaque_tokens').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
      deleted += Number((await this.#db.deleteFrom('revoked_jtis').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
      deleted += Number((await this.#db.deleteFrom('single_use').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
      deleted += Number((await this.#db.deleteFrom('rate_limits').where('window_start', '<', now - LONGEST_WINDOW).executeTakeFirst()).numDeletedRows);
      return deleted;
    });
  }

  async ping(): Promise<void> {
    await this.#run(() => sql`select 1`.execute(this.#db));
  }

  close(): Promise<void> {
    return this.#close();
  }

  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toStoreError(error);
    }
  }
}

function opaqueTokenRow(t: OpaqueToken): OpaqueTokensTable {
  return {
    token_hash: t.tokenHash,
    tenant_id: t.tenantId,
    client_id: t.clientId,
    jti: t.jti,
    claims: JSON.stringify(t.claims),
    expires_at: t.expiresAt,
    revoked: t.revoked ? 1 : 0,
  };
}

function toOpaqueToken(r: OpaqueTokensTable): OpaqueToken {
  return {
    tokenHash: r.token_hash,
    tenantId: r.tenant_id,
    clientId: r.client_id,
    jti: r.jti,
    claims: JSON.parse(r.claims) as Record<string, unknown>,
    expiresAt: Number(r.expires_at),
    revoked: Number(r.revoked) !== 0,
  };
}
