import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore } from '../store/index.js';
import type { Store } from '../store/types.js';
import { claimPublicUrl, PublicUrlMismatchError, readPublicUrl } from './public-url.js';

describe('one public URL per deployment', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-public-url-'));
    store = await createStore({ dataDir: dir });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const a = 'https://auth.example.com';
  const b = 'https://id.example.com';

  it('a store without a record (bootstrapped by an older release) records the first URL it is started with', async () => {
    expect(await claimPublicUrl(store, { url: a, configured: true, shared: true })).toEqual({ followed: null });
    expect(await readPublicUrl(store)).toEqual({ url: a, configured: true });
    expect(await claimPublicUrl(store, { url: a, configured: true, shared: true })).toEqual({ followed: null });
  });

  it('another configured URL is refused, naming both and --public-url', async () => {
    await claimPublicUrl(store, { url: a, configured: true, shared: false });
    const refusal = claimPublicUrl(store, { url: b, configured: true, shared: false });
    await expect(refusal).rejects.toBeInstanceOf(PublicUrlMismatchError);
    await expect(refusal).rejects.toThrow(new RegExp(`public URL is ${a}.*this server's is ${b}.*--public-url ${a}`));
    expect((await readPublicUrl(store))?.url).toBe(a);
  });

  it('a default URL after a configured one is refused: forgetting --public-url must not move every issuer', async () => {
    await claimPublicUrl(store, { url: a, configured: true, shared: false });
    await expect(claimPublicUrl(store, { url: 'http://127.0.0.1:8080', configured: false, shared: false })).rejects.toThrow(/as --public-url is not set/);
  });

  it('two default URLs: followed on the embedded store (a restart on another port), refused on a shared store (replicas)', async () => {
    await claimPublicUrl(store, { url: 'http://127.0.0.1:8080', configured: false, shared: false });
    expect(await claimPublicUrl(store, { url: 'http://127.0.0.1:9090', configured: false, shared: false })).toEqual({ followed: 'http://127.0.0.1:8080' });
    expect(await readPublicUrl(store)).toEqual({ url: 'http://127.0.0.1:9090', configured: false });
    await expect(claimPublicUrl(store, { url: 'http://127.0.0.1:8080', configured: false, shared: true })).rejects.toBeInstanceOf(PublicUrlMismatchError);
  });

  it('configuring the recorded default URL explicitly makes it binding', async () => {
    await claimPublicUrl(store, { url: 'http://127.0.0.1:8080', configured: false, shared: false });
    await claimPublicUrl(store, { url: 'http://127.0.0.1:8080', configured: true, shared: false });
    await expect(claimPublicUrl(store, { url: 'http://127.0.0.1:9090', configured: false, shared: false })).rejects.toBeInstanceOf(PublicUrlMismatchError);
  });
});
