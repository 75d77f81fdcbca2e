/**
 * The state store's contract, run against every implementation: SQLite (the state
 * in tessera.db, on its own connection), PostgreSQL (TESSERA_TEST_DATABASE_URL) and
 * Redis (TESSERA_TEST_REDIS_URL); the last two skip visibly when not configured.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../src/store/index.js';
import { useAssertionJti } from '../src/store/state/single-use.js';
import type { StateStore } from '../src/store/state/types.js';
import { StoreConflictError } from '../src/store/errors.js';
import type { OpaqueToken, Store } from '../src/store/types.js';
import { createTestDatabase } from './helpers/postgres.js';
import { openTestRedisState, testRedisUrl } from './helpers/redis.js';
import { makeTempDir } from './helpers/temp-dir.js';

interface Opened {
  state: StateStore;
  /** How a second process opens the same state (replay-process.ts). */
  target: string;
  prefix: string;
  close(): Promise<void>;
}

const pg = await createTestDatabase();
const redisUrl = testRedisUrl();

const backends: [string, () => Promise<Opened>][] = [
  ['SQLite', async () => {
    const dir = await makeTempDir();
    const store = await createStore({ dataDir: dir.path });
    return { state: store.state(), target: `sqlite:${dir.path}`, prefix: '', close: async () => { await store.close(); await dir.cleanup(); } };
  }],
];
if (pg !== null) {
  backends.push(['PostgreSQL', async () => {
    const dir = await makeTempDir();
    const store: Store = await createStore({ dataDir: dir.path, databaseUrl: pg.url });
    return { state: store.state(), target: `postgres:${pg.url}`, prefix: '', close: async () => { await store.close(); await dir.cleanup(); } };
  }]);
} else {
  describe.skip('state store on PostgreSQL (skipped: TESSERA_TEST_DATABASE_URL not set)', () => {});
}
if (redisUrl !== undefined) {
  backends.push(['Redis', async () => {
    const opened = await openTestRedisState();
    if (opened === null) throw new Error('TESSERA_TEST_REDIS_URL not set');
    return { state: opened.state, target: `redis:${opened.url}`, prefix: opened.prefix, close: () => opened.state.close() };
  }]);
} else {
  describe.skip('state store on Redis (skipped: TESSERA_TEST_REDIS_URL not set)', () => {});
}
afterAll(() => pg?.drop());

const HOUR = 3_600_000;

function token(tenantId: string, clientId: string, overrides: Partial<OpaqueToken> = {}): OpaqueToken {
  return {
    tokenHash: `h-${randomUUID()}`,
    tenantId,
    clientId,
    jti: randomUUID(),
    claims: { sub: clientId, scope: 'read write', act: { sub: 'x' }, n: 12.5 },
    expiresAt: Date.now() + HOUR,
    revoked: false,
    ...overrides,
  };
}

describe.each(backends)('state store on %s', (_name, open) => {
  let opened: Opened;
  let state: StateStore;
  beforeAll(async () => {
    opened = await open();
    state = opened.state;
  });
  afterAll(() => opened.close());

  describe('single use', () => {
    it('lets a key through once per namespace and tenant (RFC 7523 §3: a jti used once)', async () => {
      const t = `t-${randomUUID()}`;
      const later = Date.now() + HOUR;
      expect(await state.useOnce('assertion:a', t, 'jti-1', later)).toBe(true);
      expect(await state.useOnce('assertion:a', t, 'jti-1', later)).toBe(false);
      expect(await state.useOnce('assertion:b', t, 'jti-1', later)).toBe(true);
      expect(await state.useOnce('assertion:a', `${t}-other`, 'jti-1', later)).toBe(true);
      expect(await state.useOnce('dpop', t, 'jti-1', later)).toBe(true);
    });

    it('keeps the client-assertion namespace of useAssertionJti', async () => {
      const t = `t-${randomUUID()}`;
      const later = Date.now() + HOUR;
      expect(await useAssertionJti(state, t, 'client-a', 'j', later)).toBe(true);
      expect(await useAssertionJti(state, t, 'client-a', 'j', later)).toBe(false);
      expect(await useAssertionJti(state, t, 'client-b', 'j', later)).toBe(true);
      expect(await state.useOnce('assertion:client-a', t, 'j', later)).toBe(false);
    });

    it('lets exactly one of 32 concurrent uses of a key through, and answers every other key of the batch', async () => {
      const t = `t-${randomUUID()}`;
      const later = Date.now() + HOUR;
      const calls = [
        ...Array.from({ length: 32 }, () => state.useOnce('assertion:c', t, 'race', later)),
        ...Array.from({ length: 20 }, (_, i) => state.useOnce('assertion:c', t, `distinct-${i}`, later)),
      ];
      const results = await Promise.all(calls);
      expect(results.slice(0, 32).filter(Boolean)).toHaveLength(1);
      expect(results.slice(32).every(Boolean)).toBe(true);
    });

    it('lets exactly one of 32 concurrent replays across two processes through', async () => {
      const t = `t-${randomUUID()}`;
      const key = randomUUID();
      const script = fileURLToPath(new URL('./helpers/replay-process.ts', import.meta.url));
      const children = [0, 1].map(() => spawn(process.execPath, ['--import', 'tsx', script, opened.target, opened.prefix, t, key, '16'], { stdio: ['pipe', 'pipe', 'pipe'] }));
      try {
        const outputs = children.map((child) => lines(child));
        await Promise.all(outputs.map((next) => next()));
        for (const child of children) child.stdin.write('go\n');
        const answers = await Promise.all(outputs.map(async (next) => JSON.parse(await next()) as { won: number }));
        expect(answers[0]!.won + answers[1]!.won).toBe(1);
        expect(await state.useOnce('assertion:replay', t, key, Date.now() + HOUR)).toBe(false);
      } finally {
        for (const child of children) if (child.exitCode === null) child.kill();
      }
    }, 30_000);
  });

  describe('revoked JWT ids', () => {
    it('records them per tenant, idempotently', async () => {
      const t = `t-${randomUUID()}`;
      expect(await state.isJtiRevoked(t, 'jwt-1')).toBe(false);
      await state.revokeJti(t, 'jwt-1', Date.now() + HOUR);
      await state.revokeJti(t, 'jwt-1', Date.now() + 2 * HOUR);
      expect(await state.isJtiRevoked(t, 'jwt-1')).toBe(true);
      expect(await state.isJtiRevoked(`${t}-other`, 'jwt-1')).toBe(false);
    });
  });

  describe('opaque tokens', () => {
    it('stores, reads and revokes them within their tenant', async () => {
      const t = `t-${randomUUID()}`;
      const stored = token(t, 'c1');
      await state.insertOpaqueToken(stored);
      expect(await state.getOpaqueToken(t, stored.tokenHash)).toEqual(stored);
      await expect(state.insertOpaqueToken(stored)).rejects.toBeInstanceOf(StoreConflictError);
      expect(await state.getOpaqueToken(`${t}-other`, stored.tokenHash)).toBeNull();
      expect(await state.revokeOpaqueToken(`${t}-other`, stored.tokenHash)).toBe(false);
      expect(await state.revokeOpaqueToken(t, stored.tokenHash)).toBe(true);
      expect(await state.getOpaqueToken(t, stored.tokenHash)).toEqual({ ...stored, revoked: true });
      expect(await state.revokeOpaqueToken(t, 'unknown')).toBe(false);
      expect(await state.getOpaqueToken(t, 'unknown')).toBeNull();
    });

    it('ends a deleted client\'s tokens and no one else\'s', async () => {
      const t = `t-${randomUUID()}`;
      const gone = token(t, 'gone');
      const kept = token(t, 'kept');
      await state.insertOpaqueToken(gone);
      await state.insertOpaqueToken(kept);
      await state.endClient(t, 'gone');
      expect(await state.getOpaqueToken(t, gone.tokenHash)).toBeNull();
      expect(await state.getOpaqueToken(t, kept.tokenHash)).toEqual(kept);
    });

    it('ends a deleted tenant\'s tokens, revocations and single-use keys, and no other tenant\'s', async () => {
      const t = `t-${randomUUID()}`;
      const other = `${t}-other`;
      const later = Date.now() + HOUR;
      const mine = token(t, 'c');
      const theirs = token(other, 'c');
      await state.insertOpaqueToken(mine);
      await state.insertOpaqueToken(theirs);
      await state.revokeJti(t, 'r', later);
      await state.revokeJti(other, 'r', later);
      await state.useOnce('assertion:c', t, 'once', later);
      await state.useOnce('assertion:c', other, 'once', later);
      await state.endTenant(t);
      expect(await state.getOpaqueToken(t, mine.tokenHash)).toBeNull();
      expect(await state.isJtiRevoked(t, 'r')).toBe(false);
      expect(await state.useOnce('assertion:c', t, 'once', later)).toBe(true);
      expect(await state.getOpaqueToken(other, theirs.tokenHash)).toEqual(theirs);
      expect(await state.isJtiRevoked(other, 'r')).toBe(true);
      expect(await state.useOnce('assertion:c', other, 'once', later)).toBe(false);
    });
  });

  describe('rate-limit windows', () => {
    it('adds hits and reads zero counts without writing them', async () => {
      const window = Date.now() - (Date.now() % 60_000);
      const a = `a-${randomUUID()}`;
      const b = `b-${randomUUID()}`;
      expect(await state.addRateLimitHits(window, [{ key: a, count: 2 }, { key: b, count: 0 }])).toEqual(new Map([[a, 2], [b, 0]]));
      expect(await state.addRateLimitHits(window, [{ key: a, count: 3 }, { key: b, count: 1 }])).toEqual(new Map([[a, 5], [b, 1]]));
      expect(await state.addRateLimitHits(window, [{ key: a, count: 0 }, { key: b, count: 0 }])).toEqual(new Map([[a, 5], [b, 1]]));
      expect(await state.addRateLimitHits(window + 60_000, [{ key: a, count: 0 }])).toEqual(new Map([[a, 0]]));
      expect(await state.addRateLimitHits(window, [])).toEqual(new Map());
    });

    it('counts a key holding a NUL (a claimed client id is any string) under that key, and the other keys of its sync with it', async () => {
      const window = Date.now() - (Date.now() % 60_000);
      const odd = `af:c:default:a\u0000${randomUUID()}`;
      const plain = `af:c:default:${randomUUID()}`;
      expect(await state.addRateLimitHits(window, [{ key: odd, count: 1 }, { key: plain, count: 2 }])).toEqual(new Map([[odd, 1], [plain, 2]]));
      expect(await state.addRateLimitHits(window, [{ key: odd, count: 1 }, { key: plain, count: 0 }])).toEqual(new Map([[odd, 2], [plain, 2]]));
      expect(await state.addRateLimitHits(window, [{ key: odd, count: 0 }])).toEqual(new Map([[odd, 2]]));
    });

    it('takes 66,000 distinct keys in one sync (more than one statement\'s parameters)', async () => {
      const window = Date.now() - (Date.now() % 60_000);
      const run = randomUUID().slice(0, 8);
      const hits = Array.from({ length: 66_000 }, (_, i) => ({ key: `af:s:${run}:${i}`, count: i % 3 === 0 ? 0 : 1 }));
      const totals = await state.addRateLimitHits(window, hits);
      expect(totals.size).toBe(66_000);
      expect(totals.get(`af:s:${run}:1`)).toBe(1);
      expect(totals.get(`af:s:${run}:0`)).toBe(0);
    }, 60_000);
  });

  it('answers a ping', async () => {
    await expect(state.ping()).resolves.toBeUndefined();
  });
});

describe.each(backends.filter(([name]) => name !== 'Redis'))('purging expired state on %s', (_name, open) => {
  it('removes expired tokens, revocations and single-use keys only', async () => {
    const { state, close } = await open();
    try {
      const now = Date.now();
      const t = `t-${randomUUID()}`;
      await state.insertOpaqueToken(token(t, 'c', { expiresAt: now - 10 }));
      const live = token(t, 'c', { expiresAt: now + HOUR });
      await state.insertOpaqueToken(live);
      await state.revokeJti(t, 'old', now - 10);
      await state.revokeJti(t, 'new', now + HOUR);
      await state.useOnce('assertion:c', t, 'old', now - 10);
      await state.useOnce('assertion:c', t, 'new', now + HOUR);
      expect(await state.purgeExpired(now)).toBe(3);
      expect(await state.purgeExpired(now)).toBe(0);
      expect(await state.getOpaqueToken(t, live.tokenHash)).toEqual(live);
      expect(await state.isJtiRevoked(t, 'old')).toBe(false);
      expect(await state.isJtiRevoked(t, 'new')).toBe(true);
      expect(await state.useOnce('assertion:c', t, 'old', now + HOUR)).toBe(true);
      expect(await state.useOnce('assertion:c', t, 'new', now + HOUR)).toBe(false);
    } finally {
      await close();
    }
  });
});

/** Reads a child's stdout line by line: each call resolves with the next line. */
function lines(child: ChildProcessWithoutNullStreams): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const next = waiting.shift();
    if (next !== undefined) next(line);
    else queue.push(line);
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const line = queue.shift();
      if (line !== undefined) return resolve(line);
      waiting.push(resolve);
      child.once('exit', (code) => {
        if (code !== 0) reject(new Error(`replay process exited ${code}: ${stderr}`));
      });
    });
}

