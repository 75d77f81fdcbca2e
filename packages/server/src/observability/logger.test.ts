import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../test/helpers/temp-dir.js';
import { createLogger, LOG_FLUSH_INTERVAL_MS, logDestination } from './logger.js';

const LOGGER_MODULE = fileURLToPath(new URL('./logger.ts', import.meta.url));
const run = promisify(execFile);

/** A child process that logs one line to `file` through the buffered destination, then ends as `how` says. */
async function logThenEnd(file: string, how: 'exit' | 'throw' | 'sigkill'): Promise<void> {
  const end = { exit: 'process.exit(0)', throw: "throw new Error('crash')", sigkill: "process.kill(process.pid, 'SIGKILL')" }[how];
  const script = `
    const { openSync } = await import('node:fs');
    const { createLogger, logDestination } = await import(${JSON.stringify(LOGGER_MODULE)});
    // A descriptor, as standard output is: ready at once.
    const logger = createLogger('info', logDestination({ sync: false }, openSync(${JSON.stringify(file)}, 'a')));
    logger.info({ n: 1 }, 'last words');
    ${end};
  `;
  await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]).catch(() => undefined);
}

describe('log destination', () => {
  let dir: TempDir | undefined;
  afterEach(async () => {
    await dir?.cleanup();
    dir = undefined;
  });

  it('buffers lines and writes them within the flush interval', async () => {
    dir = await makeTempDir('tessera-log-');
    const file = join(dir.path, 'out.log');
    const destination = logDestination({ sync: false }, file);
    const logger = createLogger('info', destination as unknown as NodeJS.WritableStream);
    logger.info({ reqId: 'r1' }, 'request');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readFileSync(file, 'utf8')).toBe('');
    await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_INTERVAL_MS + 300));
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ reqId: 'r1', msg: 'request' });
    logger.flush();
  });

  it('lines beyond the buffer, in any script, reach the file whole and in order', async () => {
    dir = await makeTempDir('tessera-log-');
    const file = join(dir.path, 'out.log');
    const destination = logDestination({ sync: false }, file);
    const logger = createLogger('info', destination as unknown as NodeJS.WritableStream);
    for (let n = 0; n < 200; n++) logger.info({ n, text: 'ünïcödé ✓ 𝄞' }, 'line');
    await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_INTERVAL_MS + 300));
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as { n: number; text: string });
    expect(lines.map((line) => line.n)).toEqual([...Array(200).keys()]);
    expect(new Set(lines.map((line) => line.text))).toEqual(new Set(['ünïcödé ✓ 𝄞']));
    logger.flush();
  });

  it('--log-sync writes each line at once', async () => {
    dir = await makeTempDir('tessera-log-');
    const file = join(dir.path, 'out.log');
    const logger = createLogger('info', logDestination({ sync: true }, file) as unknown as NodeJS.WritableStream);
    logger.info({ reqId: 'r2' }, 'request');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ reqId: 'r2' });
  });

  it('a buffered line is written when the process exits or dies of an uncaught exception', { timeout: 30_000 }, async () => {
    dir = await makeTempDir('tessera-log-');
    for (const how of ['exit', 'throw'] as const) {
      const file = join(dir.path, `${how}.log`);
      await logThenEnd(file, how);
      expect(readFileSync(file, 'utf8'), how).toContain('"msg":"last words"');
    }
  });

  it('SIGKILL loses the buffer: the documented price of buffering', { timeout: 30_000 }, async () => {
    dir = await makeTempDir('tessera-log-');
    const file = join(dir.path, 'killed.log');
    await logThenEnd(file, 'sigkill');
    expect(readFileSync(file, 'utf8')).toBe('');
  });
});
