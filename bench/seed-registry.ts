/**
 * Seeds a store directly, fast, for the registry benchmark: `tenants` tenants (each
 * with its signing keys and one API, made through the domain services) and
 * `clientsPerTenant` clients in each, with one secret and one grant apiece, written
 * in bulk (SQLite: prepared statements in one transaction; PostgreSQL: multi-row
 * inserts). Every seeded client has the secret SEEDED_SECRET (hashed once, salted
 * once: this is a benchmark fixture, never a deployment).
 *
 *   node --import tsx bench/seed-registry.ts --data-dir /tmp/x --tenants 1 --clients 100000
 *   node --import tsx bench/seed-registry.ts --database-url postgres://... --tenants 1000 --clients 1000
 *
 * The store is bootstrapped first (as `tessera serve` would), so a server started
 * on it afterwards finds admin.json's clients in place (admin.json is written only
 * by the caller if it wants one: `seedRegistry` returns the admin credentials).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { buildApp, createStore, MasterKey, resolveConfig } from '@tessera/server';

export const SEEDED_SECRET = 'bench-seeded-secret-not-for-production-0000000000';
export const SEEDED_AUDIENCE = 'https://orders.example/api';
export const SEEDED_SCOPE = 'orders:read';
/** Base64 of 32 bytes: the same for the seeder and the servers started on the seeded store. */
export const SEEDED_MASTER_KEY = Buffer.alloc(32, 42).toString('base64');

export interface SeedOptions {
  dataDir: string;
  databaseUrl?: string;
  tenants: number;
  clientsPerTenant: number;
  log?: (line: string) => void;
}

export interface Seeded {
  /** Tenant ids: `bench-0`, `bench-1`, ... */
  tenants: string[];
  /** The client id of client `i` of tenant `t`. */
  clientId(tenant: number, index: number): string;
  admin: { clientId: string; clientSecret: string };
  seconds: number;
}

export function seededClientId(tenant: number, index: number): string {
  return `c${tenant}x${index}`;
}

const CHUNK = 1000;

export async function seedRegistry(options: SeedOptions): Promise<Seeded> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const config = resolveConfig({ dataDir: options.dataDir, logLevel: 'silent', masterKey: SEEDED_MASTER_KEY, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) });
  const store = await createStore({ dataDir: config.dataDir, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) });
  const app = await buildApp({ config, store, masterKey: MasterKey.fromBase64(SEEDED_MASTER_KEY) });
  const tenants: string[] = [];
  let admin = { clientId: '', clientSecret: '' };
  try {
    const boot = await app.tessera.bootstrap();
    if (boot === null) throw new Error('seedRegistry needs an empty store');
    admin = { clientId: boot.adminClientId, clientSecret: boot.adminClientSecret };
    for (let t = 0; t < options.tenants; t++) {
      const id = `bench-${t}`;
      await app.tessera.tenants.create({ id, name: id }, 'seed');
      await app.tessera.apis.create(id, { identifier: SEEDED_AUDIENCE, scopes: [{ value: SEEDED_SCOPE }] }, 'seed');
      tenants.push(id);
    }
    log(`seeded ${tenants.length} tenants in ${Math.round(performance.now() - started)} ms`);
  } finally {
    await app.close();
    await store.close();
  }

  const hash = hashOnce(SEEDED_SECRET);
  const now = Date.now();
  const rows = function* (): Generator<{ tenant: string; clientId: string; apiId: string }> {
    for (let t = 0; t < tenants.length; t++) {
      for (let i = 0; i < options.clientsPerTenant; i++) yield { tenant: tenants[t]!, clientId: seededClientId(t, i), apiId: apiIds.get(tenants[t]!)! };
    }
  };
  const apiIds = new Map<string, string>();
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
    try {
      for (const row of (await pool.query('select tenant_id, id from apis where identifier = $1', [SEEDED_AUDIENCE])).rows) apiIds.set(row.tenant_id, row.id);
      const client = await pool.connect();
      try {
        await client.query('begin');
        let batch: { tenant: string; clientId: string; apiId: string }[] = [];
        const flush = async () => {
          if (batch.length === 0) return;
          await client.query(
            `insert into clients (tenant_id, client_id, name, token_endpoint_auth_method, disabled, created_at, updated_at)
             select t, c, c, 'client_secret_basic', 0, $3, $3 from unnest($1::text[], $2::text[]) as u(t, c)`,
            [batch.map((r) => r.tenant), batch.map((r) => r.clientId), now],
          );
          await client.query(
            `insert into client_secrets (id, tenant_id, client_id, hash, created_at)
             select 's' || c || '@' || t, t, c, $3, $4 from unnest($1::text[], $2::text[]) as u(t, c)`,
            [batch.map((r) => r.tenant), batch.map((r) => r.clientId), hash, now],
          );
          await client.query(
            `insert into grants (tenant_id, id, client_id, api_id, audience, scopes, created_at)
             select t, 'g' || c, c, a, $4, $5, $6 from unnest($1::text[], $2::text[], $3::text[]) as u(t, c, a)`,
            [batch.map((r) => r.tenant), batch.map((r) => r.clientId), batch.map((r) => r.apiId), SEEDED_AUDIENCE, JSON.stringify([SEEDED_SCOPE]), now],
          );
          batch = [];
        };
        for (const row of rows()) {
          batch.push(row);
          if (batch.length >= CHUNK * 10) await flush();
        }
        await flush();
        await client.query('commit');
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  } else {
    const db = new BetterSqlite3(join(config.dataDir, 'tessera.db'));
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = OFF');
      for (const row of db.prepare('select tenant_id, id from apis where identifier = ?').all(SEEDED_AUDIENCE) as { tenant_id: string; id: string }[]) {
        apiIds.set(row.tenant_id, row.id);
      }
      const client = db.prepare(`insert into clients (tenant_id, client_id, name, token_endpoint_auth_method, disabled, created_at, updated_at) values (?, ?, ?, 'client_secret_basic', 0, ?, ?)`);
      const secret = db.prepare('insert into client_secrets (id, tenant_id, client_id, hash, created_at) values (?, ?, ?, ?, ?)');
      const grant = db.prepare('insert into grants (tenant_id, id, client_id, api_id, audience, scopes, created_at) values (?, ?, ?, ?, ?, ?, ?)');
      const scopes = JSON.stringify([SEEDED_SCOPE]);
      db.transaction(() => {
        for (const row of rows()) {
          client.run(row.tenant, row.clientId, row.clientId, now, now);
          secret.run(`s${row.clientId}@${row.tenant}`, row.tenant, row.clientId, hash, now);
          grant.run(row.tenant, `g${row.clientId}`, row.clientId, row.apiId, SEEDED_AUDIENCE, scopes, now);
        }
      })();
    } finally {
      db.close();
    }
  }
  const seconds = (performance.now() - started) / 1000;
  log(`seeded ${tenants.length * options.clientsPerTenant} clients in ${seconds.toFixed(1)} s`);
  return { tenants, clientId: seededClientId, admin, seconds };
}

/** The stored form of crypto/secrets.ts hashSecret() (sha256$salt$digest), computed once for every seeded client. */
function hashOnce(secret: string): string {
  const salt = Buffer.alloc(16, 7);
  return `sha256$${salt.toString('base64url')}$${createHash('sha256').update(salt).update(secret, 'utf8').digest('base64url')}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      'database-url': { type: 'string' },
      tenants: { type: 'string', default: '1' },
      clients: { type: 'string', default: '1000' },
    },
  });
  if (values['data-dir'] === undefined) throw new Error('--data-dir is required');
  const seeded = await seedRegistry({
    dataDir: values['data-dir'],
    ...(values['database-url'] !== undefined ? { databaseUrl: values['database-url'] } : {}),
    tenants: Number(values.tenants),
    clientsPerTenant: Number(values.clients),
    log: (line) => console.log(line),
  });
  console.log(JSON.stringify({ admin: seeded.admin, tenants: seeded.tenants.length, secret: SEEDED_SECRET, masterKey: SEEDED_MASTER_KEY }));
}
