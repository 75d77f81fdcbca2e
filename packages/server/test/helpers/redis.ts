/**
 * Redis for tests. Set TESSERA_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to run the
 * Redis tests; every test store gets a key prefix of its own under
 * `tessera-test-state:`, so test files and runs never see each other's keys.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** Whether a `redis-server` is on PATH (the down-and-back tests start their own). */
export const haveRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** A throw-away redis-server of this test on `port`: no persistence, loopback only; stop it with stopRedisServer. */
export async function startRedisServer(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') return child;
    await sleep(50);
  }
  child.kill();
  throw new Error('redis-server did not start');
}

/** Stops a redis-server this test started, by its PID. */
export async function stopRedisServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
