import type { StateStore } from './types.js';

export type * from './types.js';
export { useAssertionJti } from './single-use.js';

/**
 * Opens the state store that `--state-url` names (Redis). Without one, the state lives
 * in the registry's database: `store.state()`.
 */
export async function openStateStore(url: string, options: { keyPrefix?: string } = {}): Promise<StateStore> {
  // Loaded only when configured: a site without Redis never loads its client.
  const { isRedisUrl, openRedisStateStore } = await import('./redis.js');
  if (!isRedisUrl(url)) throw new Error('the state URL must be redis:// or rediss://');
  return openRedisStateStore(url, options);
}
