import { spawn } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../test/helpers/temp-dir.js';
import { createFileAtomic, removeStaleTempFiles, writeFileAtomic } from './atomic-file.js';
import { DataDirInUseError, lockDataDir } from './lock.js';

let dir: TempDir;
beforeAll(async () => {
  dir = await makeTempDir('tessera-data-dir-');
});
afterAll(() => dir?.cleanup());

describe('atomic files', () => {
  it('writeFileAtomic replaces the file whole, mode 0600, and leaves no temporary file', async () => {
    const path = join(dir.path, 'admin.json');
    await writeFile(path, 'old');
    await writeFileAtomic(path, '{"new":true}\n');
    expect(await readFile(path, 'utf8')).toBe('{"new":true}\n');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readdir(dir.path)).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  it('writeFileAtomic into a directory that cannot take the file fails without leaving anything', async () => {
    await expect(writeFileAtomic(join(dir.path, 'missing', 'admin.json'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('createFileAtomic creates once; a second call keeps the first content', async () => {
    const path = join(dir.path, 'master.key');
    expect(await createFileAtomic(path, 'first\n')).toBe(true);
    expect(await createFileAtomic(path, 'second\n')).toBe(false);
    expect(await readFile(path, 'utf8')).toBe('first\n');
    expect((await readdir(dir.path)).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  it('removeStaleTempFiles removes what a killed start left, and nothing else', async () => {
    await writeFile(join(dir.path, '.admin.json.tmp-123-abcd'), 'half');
    await writeFile(join(dir.path, 'keep.txt'), 'x');
    await removeStaleTempFiles(dir.path, ['admin.json']);
    const names = await readdir(dir.path);
    expect(names).not.toContain('.admin.json.tmp-123-abcd');
    expect(names).toContain('keep.txt');
  });
});

describe('data directory lock (SPEC §8: a second serve on a data directory in use is refused)', () => {
  it('a second lock in the same process is refused, naming the holder; after release it is free again', async () => {
    const path = join(dir.path, 'locked');
    await import('node:fs/promises').then((fs) => fs.mkdir(path));
    const first = await lockDataDir(path);
    const refused = await lockDataDir(path).then(() => null, (error: unknown) => error);
    expect(refused).toBeInstanceOf(DataDirInUseError);
    expect((refused as Error).message).toContain(`PID ${process.pid}`);
    expect((refused as Error).message).toMatch(/--data-dir or TESSERA_DATA_DIR/);
    await first.release();
    const again = await lockDataDir(path);
    await again.release();
  });

  it('a lock held by a process killed with SIGKILL does not block the next one', async () => {
    const path = join(dir.path, 'killed');
    await import('node:fs/promises').then((fs) => fs.mkdir(path));
    const lockModule = fileURLToPath(new URL('../../dist/data-dir/lock.js', import.meta.url));
    const child = spawn(process.execPath, ['--input-type=module', '-e', `const { lockDataDir } = await import(${JSON.stringify(lockModule)}); await lockDataDir(${JSON.stringify(path)}); console.log('locked'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve()));
    await expect(lockDataDir(path)).rejects.toBeInstanceOf(DataDirInUseError);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const lock = await lockDataDir(path);
    await lock.release();
  });
});
