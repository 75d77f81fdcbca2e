/**
 * Commands that run where the store is (`admin reset`, `admin set-public-url`, `keys
 * rewrap`) instead of calling the management API: they find the store as `serve` does.
 */
import { hostname, userInfo } from 'node:os';
import type { Flags, ParseArgsOptionsConfig } from './args.js';
import type { Io } from './io.js';

export const storeOptions = {
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

export const STORE_USAGE = `
Where the store is (as for tessera serve):
  --data-dir <path>     TESSERA_DATA_DIR      the embedded store, master.key, admin.json (default ./.tessera)
  --database-url <url>  TESSERA_DATABASE_URL  a postgres:// URL: the PostgreSQL store (admin.json still goes into the data dir)
  TESSERA_MASTER_KEY    the deployment's master key (default: master.key in the data dir)
  --json                print the outcome as JSON
  -h, --help            this help
`;

export function storeLocationOf(flags: Flags, io: Io): { dataDir?: string; databaseUrl?: string; env: NodeJS.ProcessEnv } {
  const pick = (flag: string, env: string) => flags.string(flag) ?? (io.env[env] !== undefined && io.env[env] !== '' ? io.env[env] : undefined);
  const dataDir = pick('data-dir', 'TESSERA_DATA_DIR');
  const databaseUrl = pick('database-url', 'TESSERA_DATABASE_URL');
  return { ...(dataDir !== undefined ? { dataDir } : {}), ...(databaseUrl !== undefined ? { databaseUrl } : {}), env: io.env };
}

/** Who ran the command, for the audit log: `cli:<user>@<host>`. */
export function localActor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return `cli:${user}@${hostname()}`;
}
