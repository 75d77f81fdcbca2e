/**
 * Commands run where the store is, not through the management API (they are the way
 * back in when the API's credentials are lost): `tessera admin reset`, `tessera admin
 * set-public-url`, `tessera keys rewrap`. Each opens the store of `--data-dir` (the
 * embedded SQLite database) or `--database-url` (PostgreSQL), with the deployment's
 * master key from TESSERA_MASTER_KEY or the data directory's master.key.
 *
 * The embedded store while `tessera serve` runs on it: the server holds the data
 * directory's lock (data-dir/lock.ts), not the database. These commands open the
 * database beside it (WAL: the server keeps reading while they write; their write is
 * one short IMMEDIATE transaction, and each side waits up to busy_timeout for the
 * other), and the server's change feed picks the change up within its poll interval,
 * as replicas of a PostgreSQL store do. Only `keys rewrap` takes the lock: servers
 * must be stopped for it (docs/keys.md).
 */
import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listenUrlOf } from '../banner.js';
import { resolveConfig, type ServerConfig } from '../config/config.js';
import { storeError } from '../config/start-errors.js';
import { MASTER_KEY_FILE, MasterKey } from '../crypto/master-key.js';
import { verifyPassword } from '../crypto/passwords.js';
import { ADMIN_FILE_NAME, adminFileContent } from '../data-dir/admin-file.js';
import { writeFileAtomic } from '../data-dir/atomic-file.js';
import { lockDataDir } from '../data-dir/lock.js';
import { resetAdminClient } from '../domain/admin-reset.js';
import type { DomainContext } from '../domain/context.js';
import { rewrapSigningKeys, type RewrapResult } from '../domain/key-rewrap.js';
import { KeyService } from '../domain/keys.js';
import { readPublicUrl, writePublicUrl } from '../domain/public-url.js';
import { defaults } from '../config/defaults.js';
import { createStore } from '../store/index.js';
import { SQLITE_FILE_NAME } from '../store/sqlite.js';
import type { Store } from '../store/types.js';

export interface StoreLocation {
  /** The data directory: the embedded store, master.key, admin.json (default ./.tessera). */
  dataDir?: string;
  /** A postgres:// URL: the store is PostgreSQL (admin.json still goes into the data directory). */
  databaseUrl?: string;
  /** TESSERA_MASTER_KEY, TESSERA_NEW_MASTER_KEY. */
  env?: NodeJS.ProcessEnv;
}

/** A failure the person running the command can fix; the message says how. */
export class StoreCommandError extends Error {
  readonly code = 'ERR_STORE_COMMAND';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreCommandError';
  }
}

interface Opened {
  config: ServerConfig;
  store: Store;
  /** Where the master key came from. */
  masterKeyFrom: 'TESSERA_MASTER_KEY' | 'master.key';
  masterKey: MasterKey;
}

async function open(location: StoreLocation): Promise<Opened> {
  const env = location.env ?? process.env;
  let config: ServerConfig;
  try {
    config = resolveConfig({ ...(location.dataDir !== undefined ? { dataDir: location.dataDir } : {}), ...(location.databaseUrl !== undefined ? { databaseUrl: location.databaseUrl } : {}) });
  } catch (error) {
    throw new StoreCommandError((error as Error).message);
  }
  if (config.databaseUrl === null) await assertEmbeddedStore(config.dataDir);
  const fromEnv = nonEmpty(env['TESSERA_MASTER_KEY']);
  let masterKey: MasterKey;
  if (fromEnv !== undefined) {
    try {
      masterKey = MasterKey.fromBase64(fromEnv);
    } catch {
      throw new StoreCommandError('TESSERA_MASTER_KEY must be base64 of 32 random bytes');
    }
  } else {
    const file = join(config.dataDir, MASTER_KEY_FILE);
    try {
      masterKey = MasterKey.fromBase64(await readFile(file, 'utf8'));
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new StoreCommandError(`${missing ? `no master key: ${file} does not exist` : `cannot read the master key ${file}`}; set TESSERA_MASTER_KEY to the deployment's master key, or pass the data directory that holds master.key with --data-dir`, { cause: error });
    }
  }
  const store = await createStore({ dataDir: config.dataDir, ...(config.databaseUrl !== null ? { databaseUrl: config.databaseUrl } : {}) })
    .catch((error: unknown) => Promise.reject(storeError(error, config)));
  return { config, store, masterKey, masterKeyFrom: fromEnv !== undefined ? 'TESSERA_MASTER_KEY' : 'master.key' };
}

/** A command must not create an empty embedded store where the user mistyped the directory. */
async function assertEmbeddedStore(dataDir: string): Promise<void> {
  const exists = await access(join(dataDir, SQLITE_FILE_NAME)).then(() => true, () => false);
  if (!exists) throw new StoreCommandError(`there is no embedded store in ${dataDir}: pass the data directory of the server with --data-dir (or TESSERA_DATA_DIR), or its PostgreSQL database with --database-url`);
}

function contextOf({ config, store, masterKey }: Opened, publicUrl: string): DomainContext {
  const now = () => Date.now();
  const keys = new KeyService({ store, masterKey, now, policy: { rotationInterval: config.keys.rotationInterval, publishLeadTime: config.keys.publishLeadTime, maxTokenLifetime: config.tokens.maxLifetime } });
  // The admin commands change secrets and keys, never hot state: the database's own state store serves.
  return { store, state: store.state(), keys, config: { ...config, publicUrl }, now };
}

/** The fields of an admin.json that the commands reuse. */
interface AdminFile {
  url?: unknown;
  consoleUser?: unknown;
  consolePassword?: unknown;
  clientId?: unknown;
  clientSecret?: unknown;
}

async function readAdminFile(path: string): Promise<AdminFile | null> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as AdminFile) : null;
  } catch {
    return null;
  }
}

export interface AdminResetOutcome {
  adminFile: string;
  clientId: string;
  /** The public URL written into admin.json. */
  url: string;
  revokedSecrets: string[];
  repaired: string[];
}

/**
 * `tessera admin reset`: a new secret for the admin client, its others revoked, a new
 * admin.json (atomic, 0600) in the data directory, an `admin.reset` audit entry.
 * admin.json keeps the console password of the old file only if it still signs in.
 */
export async function resetAdmin(location: StoreLocation & { actor: string; publicUrl?: string }): Promise<AdminResetOutcome> {
  const opened = await open(location);
  try {
    const { config, store } = opened;
    const adminFile = join(config.dataDir, ADMIN_FILE_NAME);
    const previous = await readAdminFile(adminFile);
    const recorded = await readPublicUrl(store);
    const url = recorded?.url ?? location.publicUrl ?? (typeof previous?.url === 'string' ? previous.url : listenUrlOf(config));
    const ctx = contextOf(opened, url);
    try {
      await ctx.keys.checkMasterKey(defaults.management.adminTenant);
    } catch (error) {
      throw new StoreCommandError(`${(error as Error).message} (this one came from ${opened.masterKeyFrom})`, { cause: error });
    }
    const consoleUser = typeof previous?.consoleUser === 'string' ? previous.consoleUser : 'admin';
    const user = await store.getConsoleUser(consoleUser);
    const consolePassword = typeof previous?.consolePassword === 'string' && user !== null && (await verifyPassword(previous.consolePassword, user.passwordHash)) ? previous.consolePassword : null;
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const result = await resetAdminClient(ctx, location.actor, (reset) =>
      writeFileAtomic(adminFile, adminFileContent({ publicUrl: url }, {
        adminClientId: reset.adminClientId,
        adminClientSecret: reset.adminClientSecret,
        consoleUser,
        consolePassword,
        fromEnvironment: { adminSecret: false, consolePassword: false },
      })),
    );
    return { adminFile, clientId: result.adminClientId, url, revokedSecrets: result.revokedSecrets, repaired: result.repaired };
  } finally {
    await opened.store.close();
  }
}

export interface SetPublicUrlOutcome {
  previous: string | null;
  url: string;
  /** admin.json of the data directory, rewritten with the new URL; null if there is none. */
  adminFile: string | null;
}

/**
 * `tessera admin set-public-url <url>`: the deployment's recorded public URL, for the
 * next starts of its replicas (which must be started with it). admin.json in the data
 * directory, if there is one, names the new URL too. Audited in the admin tenant as
 * `deployment.public_url.update` (the previous and the new URL).
 */
export async function setPublicUrl(location: StoreLocation & { url: string; actor: string }): Promise<SetPublicUrlOutcome> {
  let url: string;
  try {
    url = resolveConfig({ publicUrl: location.url }).publicUrl;
  } catch (error) {
    throw new StoreCommandError((error as Error).message);
  }
  const opened = await open(location);
  try {
    const { config, store } = opened;
    const previous = await store.withLock('public-url', async (tx) => {
      const recorded = await readPublicUrl(tx);
      if (recorded?.url !== url) {
        await writePublicUrl(tx, { url, configured: true }, {
          tenantId: defaults.management.adminTenant,
          actor: location.actor,
          action: 'deployment.public_url.update',
          targetType: 'deployment',
          targetId: 'public-url',
          details: { previous: recorded?.url ?? null, url },
        });
      }
      return recorded?.url ?? null;
    });
    const adminFile = join(config.dataDir, ADMIN_FILE_NAME);
    const admin = await readAdminFile(adminFile);
    if (admin === null) return { previous, url, adminFile: null };
    const issuer = `${url}/t/${defaults.management.adminTenant}`;
    const moved = { ...admin, url, issuer, tokenEndpoint: `${issuer}/token`, managementApi: `${url}/manage/v1`, consoleUrl: `${url}/console` };
    await writeFileAtomic(adminFile, `${JSON.stringify(moved, null, 2)}\n`);
    return { previous, url, adminFile };
  } finally {
    await opened.store.close();
  }
}

export interface RewrapOutcome extends RewrapResult {
  /** Set when the new key was written into the data directory (the old one kept as master.key.previous). */
  masterKeyFile: string | null;
  /** Where the servers must find the new key from now on. */
  newKeyFrom: 'TESSERA_NEW_MASTER_KEY' | 'generated';
}

export const PREVIOUS_MASTER_KEY_FILE = `${MASTER_KEY_FILE}.previous`;

/**
 * `tessera keys rewrap`: every signing key re-encrypted under TESSERA_NEW_MASTER_KEY
 * (or, for a deployment whose key is the data directory's master.key, a new generated
 * one). With master.key, the new key replaces it before the transaction commits, the
 * old one kept beside it as master.key.previous. With TESSERA_MASTER_KEY, the servers
 * must then run with TESSERA_MASTER_KEY set to the new key (docs/keys.md).
 */
export async function rewrapKeys(location: StoreLocation & { actor: string }): Promise<RewrapOutcome> {
  const env = location.env ?? process.env;
  const given = nonEmpty(env['TESSERA_NEW_MASTER_KEY']);
  let to: MasterKey | undefined;
  if (given !== undefined) {
    try {
      to = MasterKey.fromBase64(given);
    } catch {
      throw new StoreCommandError('TESSERA_NEW_MASTER_KEY must be base64 of 32 random bytes (openssl rand -base64 32)');
    }
  } else if (nonEmpty(env['TESSERA_MASTER_KEY']) !== undefined) {
    throw new StoreCommandError('set TESSERA_NEW_MASTER_KEY to the new master key (openssl rand -base64 32); TESSERA_MASTER_KEY is the current one');
  }
  const dataDir = resolveConfig({ ...(location.dataDir !== undefined ? { dataDir: location.dataDir } : {}) }).dataDir;
  // Servers must be stopped: a running one holds the keys under the old master key.
  if (location.databaseUrl === undefined) await assertEmbeddedStore(dataDir);
  const lock = location.databaseUrl === undefined
    ? await lockDataDir(dataDir).catch((error: unknown) => Promise.reject(new StoreCommandError(`${(error as Error).message}. Stop the server before "tessera keys rewrap" (docs/keys.md)`, { cause: error })))
    : null;
  try {
    const opened = await open(location);
    try {
      const newKey = given ?? randomBytes(32).toString('base64');
      const target = to ?? MasterKey.fromBase64(newKey);
      const keyFile = opened.masterKeyFrom === 'master.key' ? join(opened.config.dataDir, MASTER_KEY_FILE) : null;
      const result = await rewrapSigningKeys(opened.store, opened.masterKey, target, location.actor, async () => {
        if (keyFile === null) return;
        // Inside the transaction, last: if the new key cannot be saved, no key is re-encrypted.
        const old = await readFile(keyFile, 'utf8');
        await writeFileAtomic(join(opened.config.dataDir, PREVIOUS_MASTER_KEY_FILE), old);
        await writeFileAtomic(keyFile, `${newKey}\n`);
      });
      return { ...result, masterKeyFile: keyFile, newKeyFrom: given !== undefined ? 'TESSERA_NEW_MASTER_KEY' : 'generated' };
    } finally {
      await opened.store.close();
    }
  } finally {
    await lock?.release();
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
