/**
 * `<data-dir>/admin.json` (mode 0600): where the admin client's credentials and the
 * console user are written by the first start and by `tessera admin reset`.
 */
import type { ServerConfig } from '../config/config.js';
import { defaults } from '../config/defaults.js';
import type { BootstrapResult } from '../domain/bootstrap.js';

export const ADMIN_FILE_NAME = 'admin.json';

export function adminFileContent(config: Pick<ServerConfig, 'publicUrl'>, result: BootstrapResult): string {
  const issuer = `${config.publicUrl}/t/${defaults.management.adminTenant}`;
  const admin = {
    url: config.publicUrl,
    issuer,
    tokenEndpoint: `${issuer}/token`,
    clientId: result.adminClientId,
    clientSecret: result.adminClientSecret,
    audience: defaults.management.audience,
    managementApi: `${config.publicUrl}/manage/v1`,
    consoleUrl: `${config.publicUrl}/console`,
    consoleUser: result.consoleUser,
    consolePassword: result.consolePassword,
  };
  return `${JSON.stringify(admin, null, 2)}\n`;
}
