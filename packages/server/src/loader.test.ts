import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshBundle } from './loader.js';

describe('the start-up bundle is used only while it is newer than the compiled code', () => {
  let dist: string;
  const at = (seconds: number) => new Date(1_700_000_000_000 + seconds * 1000);
  beforeEach(async () => {
    dist = await mkdtemp(join(tmpdir(), 'tessera-dist-'));
    await mkdir(join(dist, 'bundle'));
    await mkdir(join(dist, 'store'));
    for (const file of ['index.js', 'store/sqlite.js']) {
      await writeFile(join(dist, file), '');
      await utimes(join(dist, file), at(0), at(0));
    }
  });
  afterEach(() => rm(dist, { recursive: true, force: true }));

  it('no bundle: none', () => {
    expect(freshBundle(dist)).toBeNull();
  });

  it('a bundle made after the build: used', async () => {
    await writeFile(join(dist, 'bundle', 'server.js'), '');
    await utimes(join(dist, 'bundle', 'server.js'), at(10), at(10));
    expect(freshBundle(dist)).toBe(join(dist, 'bundle', 'server.js'));
  });

  it('one compiled file newer than the bundle (a build after a change): not used', async () => {
    await writeFile(join(dist, 'bundle', 'server.js'), '');
    await utimes(join(dist, 'bundle', 'server.js'), at(10), at(10));
    await utimes(join(dist, 'store', 'sqlite.js'), at(20), at(20));
    expect(freshBundle(dist)).toBeNull();
  });
});
