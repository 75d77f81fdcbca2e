import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { clusterWorkerIndex } from './cluster.js';
import { parseServeArgs, parseWorkers } from './main.js';

describe('--workers / TESSERA_WORKERS', () => {
  it('is a positive whole number or auto (one per CPU this process may use)', () => {
    expect(parseWorkers('1')).toBe(1);
    expect(parseWorkers('8')).toBe(8);
    expect(parseWorkers('auto')).toBe(availableParallelism());
    for (const bad of ['0', '-1', '1.5', 'two', '', '01', '100000']) expect(() => parseWorkers(bad)).toThrow(/--workers/);
  });

  it('the flag wins over the environment; the default is one process', async () => {
    expect((await parseServeArgs([], {})).workers).toBeUndefined();
    expect((await parseServeArgs([], { TESSERA_WORKERS: '3' })).workers).toBe(3);
    expect((await parseServeArgs(['--workers', '2'], { TESSERA_WORKERS: '3' })).workers).toBe(2);
    await expect(parseServeArgs(['--workers', 'many'], {})).rejects.toThrow(/--workers/);
  });

  it('a process that is not a cluster worker has no worker index', () => {
    expect(clusterWorkerIndex()).toBeNull();
  });
});
