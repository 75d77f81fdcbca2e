import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshBundle } from './loader.js';

describe('the start-up bundle is used only while it was built from the compiled code', () => {
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

  describe('an installed package (under node_modules, file times of its unpacking)', () => {
    let installed: string;
    beforeEach(async () => {
      installed = join(dist, 'node_modules', '@tessera', 'server', 'dist');
      await mkdir(join(installed, 'bundle'), { recursive: true });
      await mkdir(join(installed, 'store'));
      await writeFile(join(installed, 'index.js'), 'export {};\n');
      await writeFile(join(installed, 'bundle', 'server.js'), '');
      await writeFile(join(installed, 'store', 'sqlite.js'), 'export const x = 1;\n');
      await utimes(join(installed, 'store', 'sqlite.js'), at(20), at(20));
      await utimes(join(installed, 'bundle', 'server.js'), at(10), at(10));
    });
    const record = (files: Record<string, number>) => writeFile(join(installed, 'bundle', 'built-from.json'), JSON.stringify({ files }));

    it('the compiled files the bundle was built from (names and sizes): used, whatever their times', async () => {
      await record({ 'index.js': 11, 'store/sqlite.js': 20 });
      expect(freshBundle(installed)).toBe(join(installed, 'bundle', 'server.js'));
    });

    it('a file of another size, a missing or an extra file: not used', async () => {
      await record({ 'index.js': 11, 'store/sqlite.js': 21 });
      expect(freshBundle(installed)).toBeNull();
      await record({ 'index.js': 11 });
      expect(freshBundle(installed)).toBeNull();
      await record({ 'index.js': 11, 'store/sqlite.js': 20, 'store/postgres.js': 5 });
      expect(freshBundle(installed)).toBeNull();
    });

    it('no record (a bundle of an older build): not used', () => {
      expect(freshBundle(installed)).toBeNull();
    });
  });

  it('outside node_modules the record is not enough: a newer compiled file makes the bundle stale', async () => {
    await writeFile(join(dist, 'bundle', 'server.js'), '');
    await utimes(join(dist, 'bundle', 'server.js'), at(10), at(10));
    await writeFile(join(dist, 'bundle', 'built-from.json'), JSON.stringify({ files: { 'index.js': 0, 'store/sqlite.js': 0 } }));
    await utimes(join(dist, 'store', 'sqlite.js'), at(20), at(20));
    expect(freshBundle(dist)).toBeNull();
  });
});
