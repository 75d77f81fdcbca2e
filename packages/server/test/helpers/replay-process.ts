/**
 * A second process for the single-use tests: opens the state store named by its
 * arguments, waits for a line on stdin, then presents one key `count` times at once
 * and prints how many of its calls won.
 *
 *   node --import tsx replay-process.ts <sqlite:dir|postgres:url|redis:url> <prefix> <tenant> <key> <count>
 */
import { createInterface } from 'node:readline';
import { createStore } from '../../src/store/index.js';
import { openRedisStateStore } from '../../src/store/state/redis.js';
import type { StateStore } from '../../src/store/state/types.js';

const [target = '', prefix = '', tenantId = '', key = '', count = '1'] = process.argv.slice(2);
const colon = target.indexOf(':');
const kind = target.slice(0, colon);
const where = target.slice(colon + 1);

let state: StateStore;
let close: () => Promise<void>;
if (kind === 'redis') {
  state = await openRedisStateStore(where, { keyPrefix: prefix });
  close = () => state.close();
} else {
  const store = await createStore(kind === 'postgres' ? { databaseUrl: where, dataDir: '/nonexistent' } : { dataDir: where });
  state = store.state();
  await state.ping();
  close = () => store.close();
}
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.once('line', () => resolve()));
const results = await Promise.all(Array.from({ length: Number(count) }, () => state.useOnce('assertion:replay', tenantId, key, Date.now() + 60_000)));
process.stdout.write(`${JSON.stringify({ won: results.filter(Boolean).length })}\n`);
lines.close();
await close();
