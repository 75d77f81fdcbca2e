import type { ServerConfig } from '../config/config.js';
import type { Store } from '../store/types.js';
import type { KeyService } from './keys.js';
import type { TenantRegistry } from './tenant-context.js';

/** What every domain service needs; built once in the composition root (app.ts). */
export interface DomainContext {
  store: Store;
  registry: TenantRegistry;
  keys: KeyService;
  config: ServerConfig;
  now: () => number;
}

/** Endpoints of a tenant's issuer (SPEC §2). */
export function issuerOf(config: ServerConfig, tenantId: string): string {
  return `${config.publicUrl}/t/${tenantId}`;
}

export function clampPageSize(config: { management: { maxPageSize: number; defaultPageSize: number } } | undefined, limit: number | undefined): number {
  const max = config?.management.maxPageSize ?? 200;
  const fallback = config?.management.defaultPageSize ?? 50;
  if (limit === undefined || !Number.isInteger(limit) || limit < 1) return fallback;
  return Math.min(limit, max);
}
