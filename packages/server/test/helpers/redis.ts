/**
 * Redis for tests. Set TESSERA_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to run the
 * Redis tests; every test store gets a key prefix of its own under
 * `tessera-test-state:`, so test files and runs never see each other's keys.
 */
import { randomBytes } from 'node:crypto';
import { openRedisStateStore, type RedisStateStore } from '../../src/store/state/redis.js';

export const TEST_REDIS_URL_ENV = 'TESSERA_TEST_REDIS_URL';

export function testRedisUrl(): string | undefined {
  const url = process.env[TEST_REDIS_URL_ENV];
  return url === undefined || url === '' ? undefined : url;
}

export function testKeyPrefix(): string {
  return `tessera-test-state:${randomBytes(6).toString('hex')}:`;
}

/** A Redis state store with a fresh key prefix; null when TESSERA_TEST_REDIS_URL is not set. */
export async function openTestRedisState(prefix = testKeyPrefix()): Promise<{ state: RedisStateStore; prefix: string; url: string } | null> {
  const url = testRedisUrl();
  if (url === undefined) return null;
  return { state: await openRedisStateStore(url, { keyPrefix: prefix }), prefix, url };
}
