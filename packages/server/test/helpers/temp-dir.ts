import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  path: string;
  /** Removes the directory and everything in it. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** A fresh directory under the OS temp dir, e.g. for a test's `dataDir`. */
export async function makeTempDir(prefix = 'tessera-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}
