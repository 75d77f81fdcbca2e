/**
 * `<data-dir>/admin.json` (mode 0600): where the admin client's credentials and the
 * console user are written by the first start and by `tessera admin reset`.
 */
import type { ServerConfig } from '../config/config.js';
import { defaults } from '../config/defaults.js';
import type { BootstrapResult } from '../domain/bootstrap.js';

export const ADMIN_FILE_NAME = 'admin.json';

/** What admin.json is written from: the bootstrap's result, or `tessera admin reset`'s (no console password). */
export type AdminFileCredentials = Omit<BootstrapResult, 'consolePassword'> & { consolePassword: string | null };

/**
 * admin.json's content. A credential that came from the environment
 * (TESSERA_BOOTSTRAP_*) is left out: whoever set it has it, and a copy on disk would
 * be one more place to leak it from. `consolePassword` is left out when null (`tessera
 * admin reset` does not know it).
 */
export function adminFileContent(config: Pick<ServerConfig, 'publicUrl'>, result: AdminFileCredentials): string {
  const issuer = `${config.publicUrl}/t/${defaults.management.adminTenant}`;
  const admin = {
    url: config.publicUrl,
    issuer,
    tokenEndpoint: `${issuer}/token`,
    clientId: result.adminClientId,
    ...(result.fromEnvironment.adminSecret ? {} : { clientSecret: result.adminClientSecret }),
    audience: defaults.management.audience,
    managementApi: `${config.publicUrl}/manage/v1`,
    consoleUrl: `${config.publicUrl}/console`,
    consoleUser: result.consoleUser,
    ...(result.fromEnvironment.consolePassword || result.consolePassword === null ? {} : { consolePassword: result.consolePassword }),
  };
  return `${JSON.stringify(admin, null, 2)}\n`;
}
