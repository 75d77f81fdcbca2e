/**
 * What a person starting the server needs next: where it is, where the credentials are,
 * what to try. Goes to standard error (standard output carries the JSON log lines), or
 * as one JSON line on standard output with `serve --json`.
 */
import { readFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import type { ServerConfig } from './config/config.js';
import { defaults } from './config/defaults.js';
import { ADMIN_FILE_NAME } from './data-dir/admin-file.js';

export interface BannerFacts {
  config: ServerConfig;
  storeKind: string;
  adminFile: string;
  bootstrapped: boolean;
}

/** `serve --json`: the banner as one JSON line on standard output. */
export function printJsonBanner({ config, storeKind, adminFile, bootstrapped }: BannerFacts): void {
  const url = config.publicUrl;
  const line = { msg: 'tessera started', url, issuer: `${url}/t/default`, managementApi: `${url}/manage/v1`, consoleUrl: `${url}/console`, adminFile, bootstrapped, store: storeKind, pid: process.pid };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

export async function printBanner(log: (line: string) => void, { config, storeKind, adminFile, bootstrapped }: BannerFacts): Promise<void> {
  const url = config.publicUrl;
  const shown = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.');
  const store = storeKind === 'sqlite' ? `embedded store in ${shown(config.dataDir)}` : `PostgreSQL ${redactUrl(config.databaseUrl ?? '')}`;
  const lines = [`Tessera is listening on ${url} (${store})`, ''];
  lines.push(`  issuer of tenant "default"  ${url}/t/default`);
  lines.push(`  management API              ${url}/manage/v1`);
  let written: { url?: unknown } | null = null;
  try {
    written = JSON.parse(await readFile(adminFile, 'utf8')) as { url?: unknown };
  } catch {
    written = null;
  }
  if (written !== null) {
    lines.push(`  console                     ${url}/console  (user and password: consoleUser and consolePassword in the admin file)`);
    lines.push(`  admin credentials           ${shown(adminFile)}${bootstrapped ? '  (first start: written now, mode 0600)' : ''}`);
  } else {
    lines.push(`  console                     ${url}/console`);
    lines.push('  admin credentials           in admin.json of the replica that bootstrapped this store');
  }
  if (written !== null && typeof written.url === 'string' && written.url !== url) {
    lines.push('', `note: ${shown(adminFile)} names ${written.url} (the first start's URL); the CLI uses it unless you pass --url ${url} or set TESSERA_URL=${url}`);
  }
  const cli = 'npx tessera';
  const flags = written !== null && (written.url !== url || shown(adminFile) !== shown(resolve(defaults.dataDir, ADMIN_FILE_NAME)))
    ? ` --url ${url} --admin ${shown(adminFile)}`
    : '';
  lines.push('', `Next, in another terminal:  ${cli} demo${flags}`);
  lines.push(`Stop: Ctrl+C, or kill ${process.pid} (SIGTERM: finishes requests in flight, then exits).`);
  log(lines.join('\n'));
}

/** A database URL fit to print: the password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'database';
  }
}
