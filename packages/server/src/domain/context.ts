import type { ServerConfig } from '../config/config.js';
import { defaults } from '../config/defaults.js';
import type { StateStore } from '../store/state/types.js';
import type { Store } from '../store/types.js';
import type { KeyService } from './keys.js';

/**
 * What every domain service needs; built once in the composition root (app.ts).
 * No registry: services change the store, and the change feed (change-feed.ts) alone
 * brings the registry's caches up to date.
 */
export interface DomainContext {
  store: Store;
  /** The hot state: a deleted client's or tenant's tokens end here. */
  state: StateStore;
  keys: KeyService;
  config: ServerConfig;
  now: () => number;
}

/** Endpoints of a tenant's issuer (SPEC §2). */
export function issuerOf(config: ServerConfig, tenantId: string): string {
  return `${config.publicUrl}/t/${tenantId}`;
}

/** A list request's page size: the default when absent, never above the maximum. */
export function clampPageSize(limit: number | undefined): number {
  const { maxPageSize, defaultPageSize } = defaults.management;
  if (limit === undefined || !Number.isInteger(limit) || limit < 1) return defaultPageSize;
  return Math.min(limit, maxPageSize);
}
