/**
 * One `tessera serve` per embedded data directory (SPEC §8: "a second serve on a data
 * directory in use is refused"). The lock is an operating-system file lock, taken
 * through SQLite on `<data-dir>/serve.lock` in exclusive locking mode: the kernel drops
 * it when the process ends, however it ends, so a `kill -9` never leaves a stale lock
 * behind, and it works the same on Linux, macOS and Windows.
 *
 * The process that runs `serve` takes it (with `--workers`, the cluster primary); worker
 * processes of that same `serve` share the directory and skip it.
 */
import { chmodSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

export const LOCK_FILE_NAME = 'serve.lock';
/** Who holds the lock, for the refusal message only: the lock itself is the OS lock. */
export const PID_FILE_NAME = 'serve.pid';

export interface DataDirLock {
  release(): Promise<void>;
}

/** The data directory is in use by another `tessera serve`. */
export class DataDirInUseError extends Error {
  readonly code = 'ERR_DATA_DIR_IN_USE';

  constructor(dataDir: string, pid: number | null) {
    super(
      `the data directory ${dataDir} is in use by another "tessera serve"${pid !== null ? ` (PID ${pid})` : ''}. ` +
        'Stop that one first, or give this one its own data directory with --data-dir or TESSERA_DATA_DIR ' +
        '(to run several processes on one port, use --workers)',
    );
    this.name = 'DataDirInUseError';
  }
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const database = new BetterSqlite3(join(dataDir, LOCK_FILE_NAME));
  chmodSync(join(dataDir, LOCK_FILE_NAME), 0o600);
  try {
    database.pragma('busy_timeout = 0');
    database.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock; in this mode it is kept until close.
    database.exec('create table if not exists holder (pid integer not null); delete from holder;');
    database.prepare('insert into holder (pid) values (?)').run(process.pid);
  } catch (error) {
    database.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY' || (error as { code?: unknown }).code === 'SQLITE_LOCKED') {
      throw new DataDirInUseError(dataDir, await readHolder(dataDir));
    }
    throw error;
  }
  const pidFile = join(dataDir, PID_FILE_NAME);
  await writeFile(pidFile, `${process.pid}\n`, { mode: 0o600 }).catch(() => {});
  return {
    async release() {
      if (!database.open) return;
      await unlink(pidFile).catch(() => {});
      database.close();
    },
  };
}

async function readHolder(dataDir: string): Promise<number | null> {
  const text = await readFile(join(dataDir, PID_FILE_NAME), 'utf8').catch(() => '');
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
}
