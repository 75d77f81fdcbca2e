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
  /** Where this process listens (`http://127.0.0.1:8080`); default: the public URL. */
  listenUrl?: string;
}

/** `serve --json`: the banner as one JSON line on standard output. */
export function printJsonBanner({ config, storeKind, adminFile, bootstrapped, listenUrl = config.publicUrl }: BannerFacts): void {
  const url = config.publicUrl;
  const line = { msg: 'tessera started', url, listenUrl, issuer: `${url}/t/default`, managementApi: `${url}/manage/v1`, consoleUrl: `${url}/console`, adminFile, bootstrapped, store: storeKind, pid: process.pid };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/**
 * `Tessera is listening on <address>`, then what a person needs next. The address is
 * where this process listens; the public URL (every issuer, admin.json) is printed
 * apart when it is another one, as on a replica behind a load balancer. The "next"
 * command talks to this process's own address, so it works from where it is printed.
 */
export async function printBanner(log: (line: string) => void, { config, storeKind, adminFile, bootstrapped, listenUrl = config.publicUrl }: BannerFacts): Promise<void> {
  const url = config.publicUrl;
  const shown = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path) || '.');
  const store = storeKind === 'sqlite' ? `embedded store in ${shown(config.dataDir)}` : `PostgreSQL ${redactUrl(config.databaseUrl ?? '')}`;
  const lines = [`Tessera is listening on ${listenUrl} (${store})`, ''];
  if (listenUrl !== url) lines.push(`  public URL                  ${url}  (the base of every issuer; one per deployment)`);
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
    const where = config.databaseUrl !== null ? `--database-url '${redactUrl(config.databaseUrl)}'` : `--data-dir ${shown(config.dataDir)}`;
    lines.push(`  console                     ${url}/console`);
    lines.push('  admin credentials           in admin.json of the replica that bootstrapped this store');
    lines.push(`                              (lost? npx tessera admin reset ${where}, with its master key: docs/deploy.md)`);
  }
  if (written !== null && typeof written.url === 'string' && written.url !== url) {
    lines.push('', `note: ${shown(adminFile)} names ${written.url} (the first start's URL); the CLI uses it unless you pass --url ${listenUrl} or set TESSERA_URL=${listenUrl}`);
  }
  const cli = 'npx tessera';
  if (written !== null) {
    const flags = written.url !== listenUrl || shown(adminFile) !== shown(resolve(defaults.dataDir, ADMIN_FILE_NAME))
      ? ` --url ${listenUrl} --admin ${shown(adminFile)}`
      : '';
    lines.push('', `Next, in another terminal:  ${cli} demo${flags}`);
  } else {
    lines.push('', `Next, from this machine:  curl -s ${listenUrl}/t/default/.well-known/openid-configuration`);
  }
  lines.push(`Stop: Ctrl+C, or kill ${process.pid} (SIGTERM: finishes requests in flight, then exits).`);
  log(lines.join('\n'));
}

/** `http(s)://<host>:<port>` of this process's listener (IPv6 hosts bracketed). */
export function listenUrlOf(config: Pick<ServerConfig, 'host' | 'port' | 'tls'>, port = config.port): string {
  return `${config.tls !== null ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
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
