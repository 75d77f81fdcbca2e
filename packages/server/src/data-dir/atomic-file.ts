/**
 * Files in the data directory that must never be seen half-written (admin.json,
 * master.key): written to a temporary file in the same directory, flushed to disk,
 * then moved into place, and the directory entry flushed too. A crash at any point
 * leaves either the old file, the new one, or a stray `*.tmp-*` that the next start
 * removes; never a truncated file.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const TEMP_MARK = '.tmp-';

async function writeTemp(path: string, content: string, mode: number): Promise<string> {
  const temp = join(dirname(path), `.${basename(path)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  // The umask may have narrowed the mode, never widened it; make it exact.
  await chmod(temp, mode);
  return temp;
}

async function syncDirectory(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; the rename there is durable enough.
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `path` with `content` atomically (mode `mode`, 0600 by default). */
export async function writeFileAtomic(path: string, content: string, mode = 0o600): Promise<void> {
  const temp = await writeTemp(path, content, mode);
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * Creates `path` with `content` only if it does not exist yet, atomically: true when
 * this call created it, false when another process got there first (its file stays).
 */
export async function createFileAtomic(path: string, content: string, mode = 0o600): Promise<boolean> {
  const temp = await writeTemp(path, content, mode);
  try {
    // link() fails with EEXIST instead of replacing: create-if-absent with full content.
    await link(temp, path);
    await syncDirectory(dirname(path));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => {});
  }
}

/** Removes temporary files that a start killed half-way left behind in `dir`. */
export async function removeStaleTempFiles(dir: string, names: readonly string[]): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    entries
      .filter((entry) => names.some((name) => entry.startsWith(`.${name}${TEMP_MARK}`)))
      .map((entry) => unlink(join(dir, entry)).catch(() => {})),
  );
}
