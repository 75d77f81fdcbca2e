/**
 * The state store in Redis (`--state-url redis://...`), for sites where the database
 * should see no per-token writes: `SET NX PXAT` for single use, counters that expire
 * with their window, opaque tokens with a TTL. Every key of a tenant starts with
 * `<prefix>{<tenant>}:` (one hash slot per tenant, and a tenant's keys found by one
 * SCAN); rate-limit windows are `<prefix>rl:<window>:<key>`.
 *
 * Redis down: commands are not queued (a `jti` is never accepted that could not be
 * recorded); each fails at once with StoreUnavailableError, which the token endpoint
 * answers 503 temporarily_unavailable, and the client reconnects by itself.
 */
import { createClient } from 'redis';
import { StoreConflictError, StoreUnavailableError } from '../errors.js';
import type { OpaqueToken } from '../types.js';
import type { RateLimitHit, StateStore } from './types.js';

type RedisClient = ReturnType<typeof createClient>;

export interface RedisStateStoreOptions {
  /** Prepended to every key (default `tessera:`), so several deployments or tests can share one Redis. */
  keyPrefix?: string;
  /** How long one command may take before it counts as an outage (ms, default 2000). */
  commandTimeout?: number;
}

/** Keys per pipeline of rate-limit commands. */
const RATE_LIMIT_CHUNK = 1000;
/** Rate-limit windows are at most an hour long; their counters live that much longer. */
const LONGEST_WINDOW = 3_600_000;
/** A key never gets an expiry in the past (Redis would drop it at once). */
const MIN_TTL = 1000;

// Atomic per token: inserted only when absent, with its client's index (for endClient).
const INSERT_TOKEN = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'revoked', '0')
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
local ttl = redis.call('PTTL', KEYS[2])
local want = tonumber(ARGV[2]) - tonumber(ARGV[4])
if ttl < want then redis.call('PEXPIREAT', KEYS[2], ARGV[2]) end
return 1`;
const REVOKE_TOKEN = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'revoked', '1')
return 1`;

export class RedisStateStore implements StateStore {
  readonly kind = 'redis';
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #where: string;
  #lastError: string | null = null;

  constructor(client: RedisClient, where: string, options: RedisStateStoreOptions = {}) {
    this.#client = client;
    this.#where = where;
    this.#prefix = options.keyPrefix ?? 'tessera:';
    client.on('error', (error: unknown) => {
      // Without a listener an error event would end the process; the client reconnects by itself.
      this.#lastError = describe(error);
    });
    client.on('ready', () => {
      this.#lastError = null;
    });
  }

  #tenant(tenantId: string): string {
    return `${this.#prefix}{${tenantId}}:`;
  }

  async useOnce(namespace: string, tenantId: string, key: string, expiresAt: number): Promise<boolean> {
    // Length-prefixed: no namespace and key can spell another pair's Redis key.
    const name = `${this.#tenant(tenantId)}once:${namespace.length}:${namespace}:${key}`;
    const reply = await this.#run(() => this.#client.set(name, '1', { condition: 'NX', expiration: { type: 'PXAT', value: notBefore(expiresAt) } }));
    return reply === 'OK';
  }

  async revokeJti(tenantId: string, jti: string, expiresAt: number): Promise<void> {
    await this.#run(() => this.#client.set(`${this.#tenant(tenantId)}revoked:${jti}`, '1', { expiration: { type: 'PXAT', value: notBefore(expiresAt) } }));
  }

  async isJtiRevoked(tenantId: string, jti: string): Promise<boolean> {
    return (await this.#run(() => this.#client.exists(`${this.#tenant(tenantId)}revoked:${jti}`))) === 1;
  }

  async insertOpaqueToken(token: OpaqueToken): Promise<void> {
    const tenant = this.#tenant(token.tenantId);
    const document = JSON.stringify({ clientId: token.clientId, jti: token.jti, claims: token.claims, expiresAt: token.expiresAt });
    const inserted = await this.#run(() =>
      this.#client.eval(INSERT_TOKEN, {
        keys: [`${tenant}token:${token.tokenHash}`, `${tenant}client-tokens:${token.clientId}`],
        arguments: [document, String(notBefore(token.expiresAt)), token.tokenHash, String(Date.now())],
      }),
    );
    if (inserted !== 1) throw new StoreConflictError('unique', 'already exists (opaque token)');
    if (token.revoked) await this.revokeOpaqueToken(token.tenantId, token.tokenHash);
  }

  async getOpaqueToken(tenantId: string, tokenHash: string): Promise<OpaqueToken | null> {
    const fields = await this.#run(() => this.#client.hGetAll(`${this.#tenant(tenantId)}token:${tokenHash}`));
    const text = fields['token'];
    if (text === undefined) return null;
    const stored = JSON.parse(text) as Pick<OpaqueToken, 'clientId' | 'jti' | 'claims' | 'expiresAt'>;
    return { tokenHash, tenantId, clientId: stored.clientId, jti: stored.jti, claims: stored.claims, expiresAt: stored.expiresAt, revoked: fields['revoked'] === '1' };
  }

  async revokeOpaqueToken(tenantId: string, tokenHash: string): Promise<boolean> {
    const revoked = await this.#run(() => this.#client.eval(REVOKE_TOKEN, { keys: [`${this.#tenant(tenantId)}token:${tokenHash}`], arguments: [] }));
    return revoked === 1;
  }

  async addRateLimitHits(windowStart: number, hits: readonly RateLimitHit[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const { key, count } of hits) counts.set(key, (counts.get(key) ?? 0) + count);
    const totals = new Map<string, number>();
    const entries = [...counts];
    const expireAt = windowStart + LONGEST_WINDOW;
    for (let start = 0; start < entries.length; start += RATE_LIMIT_CHUNK) {
      const chunk = entries.slice(start, start + RATE_LIMIT_CHUNK);
      // Commands sent in one tick go out as one pipeline.
      const replies = await this.#run(() =>
        Promise.all(
          chunk.map(async ([key, count]) => {
            const name = `${this.#prefix}rl:${windowStart}:${key}`;
            if (count <= 0) return Number((await this.#client.get(name)) ?? 0);
            const [total] = await Promise.all([this.#client.incrBy(name, count), this.#client.pExpireAt(name, expireAt)]);
            return total;
          }),
        ),
      );
      chunk.forEach(([key], i) => totals.set(key, replies[i] ?? 0));
    }
    return totals;
  }

  async endClient(tenantId: string, clientId: string): Promise<void> {
    const tenant = this.#tenant(tenantId);
    const index = `${tenant}client-tokens:${clientId}`;
    const hashes = await this.#run(() => this.#client.sMembers(index));
    const keys = [...hashes.map((hash) => `${tenant}token:${hash}`), index];
    for (let start = 0; start < keys.length; start += RATE_LIMIT_CHUNK) {
      await this.#run(() => this.#client.unlink(keys.slice(start, start + RATE_LIMIT_CHUNK)));
    }
  }

  async endTenant(tenantId: string): Promise<void> {
    const pattern = `${globEscape(this.#tenant(tenantId))}*`;
    await this.#run(async () => {
      for await (const keys of this.#client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
        if (keys.length > 0) await this.#client.unlink(keys);
      }
    });
  }

  async purgeExpired(): Promise<number> {
    return 0; // every key carries its expiry
  }

  async ping(): Promise<void> {
    await this.#run(() => this.#client.ping());
  }

  async close(): Promise<void> {
    if (this.#client.isOpen) await this.#client.close();
    else this.#client.destroy();
  }

  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof StoreConflictError) throw error;
      const reason = this.#lastError ?? describe(error);
      throw new StoreUnavailableError(`state store unavailable (redis at ${this.#where}: ${reason})`, { cause: error });
    }
  }
}

/**
 * Connects to `url` without waiting for Redis to be up: a site starts while Redis is
 * down (its readiness says so) and serves as soon as it is back.
 */
export async function openRedisStateStore(url: string, options: RedisStateStoreOptions = {}): Promise<RedisStateStore> {
  const timeout = options.commandTimeout ?? 2000;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout },
    socket: { connectTimeout: timeout, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) },
  });
  const store = new RedisStateStore(client, redactUrl(url), options);
  const connecting = client.connect().catch(() => undefined);
  await Promise.race([connecting, new Promise((resolve) => setTimeout(resolve, timeout).unref())]);
  return store;
}

export function isRedisUrl(url: string | undefined): url is string {
  return url !== undefined && /^rediss?:\/\//i.test(url);
}

/** Host and port only: a password in the URL never reaches a message or a log. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.host;
  } catch {
    return 'the configured URL';
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? code : error.message;
  }
  return String(error);
}

function notBefore(expiresAt: number): number {
  return Math.max(expiresAt, Date.now() + MIN_TTL);
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
