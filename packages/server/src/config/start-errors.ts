/**
 * What went wrong at start-up, said with the flag or variable that fixes it. Used by
 * main.ts around each step (data directory, store, listen); errors that already name
 * their fix pass through unchanged.
 */
import type { ServerConfig } from './config.js';

/** A start-up failure whose message says what to change. */
export class StartError extends Error {
  readonly code = 'ERR_START';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartError';
  }
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The underlying driver or system code of a store error (`3D000`, `ECONNREFUSED`, ...). */
function rootCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && current !== undefined; depth++) {
    const code = codeOf(current);
    if (code !== undefined && !code.startsWith('STORE_')) return code;
    const cause = (current as { cause?: unknown }).cause;
    // AggregateError (a host with several addresses): the first one says enough.
    current = cause ?? (current as { errors?: unknown[] }).errors?.[0];
  }
  return undefined;
}

export function dataDirError(error: unknown, config: ServerConfig): unknown {
  const code = codeOf(error);
  if (['EACCES', 'EPERM', 'ENOTDIR', 'EROFS', 'EEXIST', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_PERM'].includes(code ?? '')) {
    return new StartError(`cannot use the data directory ${config.dataDir} (${code}): choose a writable directory with --data-dir or TESSERA_DATA_DIR`, { cause: error });
  }
  return error;
}

export function storeError(error: unknown, config: ServerConfig): unknown {
  const code = rootCode(error);
  if (config.databaseUrl === null) {
    if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code === 'SQLITE_PERM') {
      return new StartError(`cannot open the embedded database in ${config.dataDir} (${code}): choose a writable directory with --data-dir or TESSERA_DATA_DIR`, { cause: error });
    }
    return error;
  }
  const url = new URL(config.databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || decodeURIComponent(url.username) || 'postgres';
  const server = `${url.hostname}:${url.port || '5432'}`;
  const fix = 'fix --database-url or TESSERA_DATABASE_URL';
  switch (code) {
    case '3D000':
      return new StartError(`the PostgreSQL database "${database}" does not exist on ${server}: create it (createdb -h ${url.hostname} ${database}) or ${fix}`, { cause: error });
    case '28P01':
    case '28000':
      return new StartError(`PostgreSQL at ${server} refused the credentials for database "${database}" (${code}): ${fix}`, { cause: error });
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return new StartError(`cannot reach PostgreSQL at ${server} (${code}): start it, or ${fix}`, { cause: error });
    default:
      return error;
  }
}

export function listenError(error: unknown, config: ServerConfig): unknown {
  const code = codeOf(error);
  const where = `${config.host}:${config.port}`;
  if (code === 'EADDRINUSE') {
    return new StartError(`port ${config.port} on ${config.host} is already in use (another Tessera, or another program): choose a free port with --port <n> or TESSERA_PORT, or stop what listens there`, { cause: error });
  }
  if (code === 'EACCES') {
    return new StartError(`not allowed to listen on ${where} (EACCES; ports below 1024 need privileges): choose another with --port <n> or TESSERA_PORT`, { cause: error });
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new StartError(`cannot listen on ${where} (${code}): this machine has no such address; fix --host or TESSERA_HOST`, { cause: error });
  }
  return error;
}
