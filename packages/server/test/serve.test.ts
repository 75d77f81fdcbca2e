import { afterAll, describe, expect, it } from 'vitest';
import { serve } from '../src/main.js';
import { makeTempDir, type TempDir } from './helpers/temp-dir.js';

describe('serve()', () => {
  let dir: TempDir;
  afterAll(() => dir?.cleanup());

  it('refuses to start with a master key that cannot open the stored signing keys', async () => {
    dir = await makeTempDir();
    const quiet = () => {};
    const first = await serve({ port: 0, dataDir: dir.path, logLevel: 'silent', masterKey: Buffer.alloc(32, 1).toString('base64') }, quiet);
    await first.close();
    await expect(serve({ port: 0, dataDir: dir.path, logLevel: 'silent', masterKey: Buffer.alloc(32, 2).toString('base64') }, quiet))
      .rejects.toThrow(/same TESSERA_MASTER_KEY/);
    const again = await serve({ port: 0, dataDir: dir.path, logLevel: 'silent', masterKey: Buffer.alloc(32, 1).toString('base64') }, quiet);
    expect(again.bootstrapped).toBe(false);
    await again.close();
  });
});
