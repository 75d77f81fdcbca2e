import { afterEach, describe, expect, it } from 'vitest';
import { clientSecretPost, createTokenClient, tokenCacheKey, type TokenClientOptions } from '../src/index.js';
import { TokenCache, defaultRefreshPolicy } from '../src/cache.js';
import { fakeTime, startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';

let issuer: TestIssuer | undefined;
afterEach(async () => {
  await issuer?.close();
  issuer = undefined;
});

async function setup(overrides: Partial<TokenClientOptions> = {}, expiresIn = 3600) {
  issuer = await startTestIssuer({
    clients: [{ clientId: 'svc', method: 'client_secret_post', secret: 's' }],
    expiresIn,
  });
  const time = fakeTime();
  const client = createTokenClient({
    issuer: issuer.issuer,
    clientId: 'svc',
    auth: clientSecretPost('s'),
    clock: time.clock,
    sleep: time.sleep,
    ...overrides,
  });
  return { issuer, client, time };
}

describe('token cache', () => {
  it('serves repeated calls from cache and discovers once', async () => {
    const { issuer, client, time } = await setup();

    const first = await client.getToken({ audience: 'api', scope: 'b a' });
    const second = await client.getToken({ audience: 'api', scope: ['a', 'b', 'a'] });

    expect(second).toBe(first);
    expect(first.expiresAt).toBe(time.clock.now() + 3600_000);
    expect(first.scope).toBe('a b');
    expect(issuer.tokenRequests).toHaveLength(1);
    expect(issuer.tokenRequests[0]?.params.get('scope')).toBe('a b');
    expect(issuer.discoveryRequests).toHaveLength(1);
  });

  it('keys by audience, scope and resource', async () => {
    const { issuer, client } = await setup();

    await client.getToken({ audience: 'api-1' });
    await client.getToken({ audience: 'api-2' });
    await client.getToken({ audience: 'api-1', scope: 'x' });
    await client.getToken({ resource: 'https://r.example' });
    await client.getToken({ audience: 'api-1' });

    expect(issuer.tokenRequests).toHaveLength(4);
    expect(issuer.tokenRequests[3]?.params.get('resource')).toBe('https://r.example');
    expect(tokenCacheKey({ scope: 'a  b' })).toBe(tokenCacheKey({ scope: ['b', 'a'] }));
    expect(tokenCacheKey({ audience: 'a' })).not.toBe(tokenCacheKey({ resource: 'a' }));
  });

  it('refreshes in the background once past the refresh point, serving the old token meanwhile', async () => {
    const random = () => 0.5; // refresh at 80 % + 0.5 × 10 % = 85 % of the lifetime
    const { issuer, client, time } = await setup({ random }, 100);

    const first = await client.getToken();
    time.advance(84_000);
    expect(await client.getToken()).toBe(first);
    expect(issuer.tokenRequests).toHaveLength(1);

    time.advance(2_000); // 86 s: past the refresh point, before expiry
    expect(await client.getToken()).toBe(first);
    await vi_waitFor(() => issuer.tokenRequests.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const refreshed = await client.getToken();
    expect(refreshed.accessToken).toBe('at-2');
    expect(issuer.tokenRequests).toHaveLength(2);
  });

  it('keeps serving the cached token when a background refresh fails, and reports the failure', async () => {
    const errors: unknown[] = [];
    const { issuer, client, time } = await setup(
      { random: () => 0, retry: { maxAttempts: 1 }, onRefreshError: (error) => errors.push(error) },
      100,
    );
    const first = await client.getToken();
    issuer.script({ status: 400, body: { error: 'invalid_client' } });

    time.advance(81_000);
    expect(await client.getToken()).toBe(first);
    await vi_waitFor(() => errors.length === 1);
    expect(errors[0]).toMatchObject({ code: 'ERR_OAUTH_ERROR', error: 'invalid_client' });
    expect(await client.getToken()).toBe(first); // no new attempt before the retry delay
    expect(issuer.tokenRequests).toHaveLength(2);

    time.advance(5_000); // retry delay passed: the next call refreshes again, in the background
    expect(await client.getToken()).toBe(first);
    await vi_waitFor(() => issuer.tokenRequests.length === 3);
  });

  it('blocks on a fresh token once the cached one is (nearly) expired', async () => {
    const { issuer, client, time } = await setup({ random: () => 0 }, 100);

    await client.getToken();
    time.advance(99_000); // inside the 5 s skew (capped at 10 % of 100 s = 10 s)
    const next = await client.getToken();

    expect(next.accessToken).toBe('at-2');
    expect(issuer.tokenRequests).toHaveLength(2);
  });

  it('spreads refresh points with jitter between 80 % and 90 % of the lifetime', async () => {
    const points: number[] = [];
    for (const r of [0, 0.5, 0.999]) {
      const time = fakeTime();
      const cache = new TokenCache({ clock: time.clock, random: () => r, policy: defaultRefreshPolicy });
      let fetches = 0;
      const fetcher = async () => ({ accessToken: `t${++fetches}`, expiresAt: time.clock.now() + 1000_000 });
      await cache.get('k', fetcher);
      let elapsed = 0;
      while (fetches === 1) {
        time.advance(1000);
        elapsed += 1000;
        await cache.get('k', fetcher); // the background fetcher is called synchronously
      }
      points.push(elapsed);
    }
    expect(points).toEqual([800_000, 850_000, 900_000]);
  });

  it('makes exactly one request for 1,000 concurrent cold calls', async () => {
    const { issuer, client } = await setup();

    const tokens = await Promise.all(Array.from({ length: 1000 }, () => client.getToken({ audience: 'api', scope: 'orders:read' })));

    expect(issuer.tokenRequests).toHaveLength(1);
    expect(issuer.discoveryRequests).toHaveLength(1);
    expect(new Set(tokens.map((t) => t.accessToken))).toEqual(new Set(['at-1']));
  });

  it('shares one request when concurrent callers all fail, then tries again', async () => {
    const { issuer, client } = await setup({ retry: { maxAttempts: 1 } });
    await client.tokenEndpoint(); // discovery out of the way
    issuer.script({ status: 400, body: { error: 'invalid_scope' } });

    const results = await Promise.allSettled(Array.from({ length: 50 }, () => client.getToken({ scope: 'nope' })));

    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(issuer.tokenRequests).toHaveLength(1);
    await client.getToken({ scope: 'nope' });
    expect(issuer.tokenRequests).toHaveLength(2);
  });

  it('invalidate drops a token only if it is still the cached one', async () => {
    const { issuer, client } = await setup();
    const first = await client.getToken({ audience: 'api' });

    client.invalidate({ audience: 'api' }, 'some-other-token');
    expect(await client.getToken({ audience: 'api' })).toBe(first);

    client.invalidate({ audience: 'api' }, first.accessToken);
    expect((await client.getToken({ audience: 'api' })).accessToken).toBe('at-2');
    expect(issuer.tokenRequests).toHaveLength(2);
  });

  it('forceRefresh bypasses the cache', async () => {
    const { issuer, client } = await setup();
    await client.getToken();
    const forced = await client.getToken({ forceRefresh: true });
    expect(forced.accessToken).toBe('at-2');
    expect(issuer.tokenRequests).toHaveLength(2);
  });

  it('getAccessToken returns the string', async () => {
    const { client } = await setup();
    expect(await client.getAccessToken()).toBe('at-1');
  });
});

async function vi_waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
