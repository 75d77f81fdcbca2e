import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  HttpStatusError,
  NetworkError,
  OAuthError,
  ResponseFormatError,
  TimeoutError,
  clientSecretPost,
  createTokenClient,
  parseRetryAfter,
  type TokenClientOptions,
} from '../src/index.js';
import { backoffDelay, defaultRetryPolicy } from '../src/retry.js';
import { fakeTime, startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';

let issuer: TestIssuer | undefined;
afterEach(async () => {
  await issuer?.close();
  issuer = undefined;
});

async function setup(overrides: Partial<TokenClientOptions> = {}) {
  issuer = await startTestIssuer({ clients: [{ clientId: 'svc', method: 'client_secret_post', secret: 's' }] });
  const time = fakeTime();
  const client = createTokenClient({
    issuer: issuer.issuer,
    clientId: 'svc',
    auth: clientSecretPost('s'),
    tokenEndpoint: issuer.tokenEndpoint,
    clock: time.clock,
    sleep: time.sleep,
    random: () => 0.5,
    ...overrides,
  });
  return { issuer, client, time };
}

describe('retries', () => {
  it('retries 5xx with exponential backoff and jitter, then succeeds', async () => {
    const { issuer, client, time } = await setup();
    issuer.script({ status: 500, body: 'oops' }, { status: 503, body: { error: 'temporarily_unavailable' } });

    const token = await client.getToken();

    expect(token.accessToken).toBe('at-1');
    expect(issuer.tokenRequests).toHaveLength(3);
    // equal jitter with random 0.5: 3/4 of 250 ms, then 3/4 of 500 ms
    expect(time.sleeps).toEqual([187.5, 375]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const { issuer, client, time } = await setup({ retry: { maxAttempts: 3 } });
    issuer.script(
      { status: 502, body: '<html>bad gateway</html>' },
      { status: 502, body: '<html>bad gateway</html>' },
      { status: 503, body: { error: 'temporarily_unavailable', error_description: 'store down' } },
    );

    const error = await client.getToken().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({ code: 'ERR_OAUTH_ERROR', error: 'temporarily_unavailable', status: 503, retryable: true });
    expect(issuer.tokenRequests).toHaveLength(3);
    expect(time.sleeps).toHaveLength(2);
  });

  it('honours Retry-After in seconds on 429', async () => {
    const { issuer, client, time } = await setup();
    issuer.script({ status: 429, body: { error: 'slow_down' }, headers: { 'retry-after': '7' } });

    await client.getToken();

    expect(time.sleeps).toEqual([7000]);
    expect(issuer.tokenRequests).toHaveLength(2);
  });

  it('honours Retry-After as an HTTP date', async () => {
    const { issuer, client, time } = await setup();
    const at = new Date(time.clock.now() + 12_000).toUTCString();
    issuer.script({ status: 503, body: 'busy', headers: { 'retry-after': at } });

    await client.getToken();

    expect(time.sleeps).toEqual([12_000]);
  });

  it('does not wait for a Retry-After beyond the total budget', async () => {
    const { issuer, client, time } = await setup({ retry: { totalTimeoutMs: 5000 } });
    issuer.script({ status: 429, body: { error: 'rate_limited' }, headers: { 'retry-after': '60' } });

    await expect(client.getToken()).rejects.toMatchObject({ code: 'ERR_OAUTH_ERROR', status: 429, retryAfter: '60' });
    expect(time.sleeps).toEqual([]);
    expect(issuer.tokenRequests).toHaveLength(1);
  });

  it('never retries a 400', async () => {
    const { issuer, client, time } = await setup();
    issuer.script({ status: 400, body: { error: 'invalid_scope', error_description: 'not granted' } });

    const error = await client.getToken({ scope: 'admin' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({ error: 'invalid_scope', error_description: 'not granted', status: 400, retryable: false });
    expect(issuer.tokenRequests).toHaveLength(1);
    expect(time.sleeps).toEqual([]);
  });

  it('never retries other 4xx without an OAuth body', async () => {
    const { issuer, client } = await setup();
    issuer.script({ status: 404, body: 'not here' });
    await expect(client.getToken()).rejects.toBeInstanceOf(HttpStatusError);
    expect(issuer.tokenRequests).toHaveLength(1);
  });

  it('times out a hanging attempt and retries it', async () => {
    const { issuer, client } = await setup({ retry: { attemptTimeoutMs: 150 } });
    issuer.script({ hang: true });

    const token = await client.getToken();

    expect(token.accessToken).toBe('at-1');
    expect(issuer.tokenRequests).toHaveLength(2);
  });

  it('reports ERR_TIMEOUT when every attempt hangs', async () => {
    const { issuer, client } = await setup({ retry: { attemptTimeoutMs: 50, maxAttempts: 2 } });
    issuer.script({ hang: true }, { hang: true });

    const error = await client.getToken().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).code).toBe('ERR_TIMEOUT');
    expect(issuer.tokenRequests).toHaveLength(2);
  });

  it('retries network errors and reports ERR_NETWORK when the issuer is down', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const time = fakeTime();
    const client = createTokenClient({
      issuer: `http://127.0.0.1:${port}`,
      clientId: 'svc',
      auth: clientSecretPost('s'),
      tokenEndpoint: `http://127.0.0.1:${port}/token`,
      clock: time.clock,
      sleep: time.sleep,
    });

    const error = await client.getToken().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).code).toBe('ERR_NETWORK');
    expect(time.sleeps).toHaveLength(defaultRetryPolicy.maxAttempts - 1);
  });

  it('aborts waiting when the caller signal fires', async () => {
    const { issuer, client } = await setup({ retry: { attemptTimeoutMs: 5000 } });
    issuer.script({ hang: true });
    const controller = new AbortController();
    const pending = client.getToken({ signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});

describe('response validation (RFC 6749 §5.1)', () => {
  const cases: Array<[string, string | Record<string, unknown>, string]> = [
    ['garbage', 'this is not json', 'not a JSON object'],
    ['missing access_token', { token_type: 'Bearer', expires_in: 60 }, 'access_token'],
    ['non-Bearer token_type', { access_token: 'x', token_type: 'mac', expires_in: 60 }, 'token_type'],
    ['string expires_in', { access_token: 'x', token_type: 'Bearer', expires_in: '3600' }, 'expires_in'],
    ['negative expires_in', { access_token: 'x', token_type: 'Bearer', expires_in: -1 }, 'expires_in'],
    ['array scope', { access_token: 'x', token_type: 'Bearer', expires_in: 60, scope: ['a'] }, 'scope'],
  ];
  for (const [name, body, mentions] of cases) {
    it(`rejects ${name} with ERR_RESPONSE_FORMAT and no retry`, async () => {
      const { issuer, client } = await setup();
      issuer.script({ status: 200, body });
      const error = await client.getToken().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ResponseFormatError);
      expect((error as ResponseFormatError).code).toBe('ERR_RESPONSE_FORMAT');
      expect((error as Error).message).toContain(mentions);
      expect(issuer.tokenRequests).toHaveLength(1);
    });
  }

  it('accepts token_type in any case and normalises it', async () => {
    const { issuer, client } = await setup();
    issuer.script({ status: 200, body: { access_token: 'x', token_type: 'bEaReR', expires_in: 60 } });
    expect((await client.getToken()).tokenType).toBe('Bearer');
  });

  it('without expires_in, uses the JWT exp, else the default lifetime', async () => {
    const { issuer, client, time } = await setup({ defaultLifetimeSeconds: 120 });
    const exp = Math.floor(time.clock.now() / 1000) + 900;
    const jwt = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.sig`;
    issuer.script(
      { status: 200, body: { access_token: jwt, token_type: 'Bearer' } },
      { status: 200, body: { access_token: 'opaque', token_type: 'Bearer' } },
    );
    expect((await client.getToken({ audience: 'a' })).expiresAt).toBe(exp * 1000);
    expect((await client.getToken({ audience: 'b' })).expiresAt).toBe(time.clock.now() + 120_000);
  });
});

describe('retry helpers', () => {
  it('parses Retry-After', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:10 GMT', 4000)).toBe(6000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:01 GMT', 4000)).toBe(0);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter(undefined, 0)).toBeUndefined();
  });

  it('caps the backoff', () => {
    const policy = { ...defaultRetryPolicy, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(1, policy, () => 0)).toBe(50);
    expect(backoffDelay(1, policy, () => 1)).toBe(100);
    expect(backoffDelay(10, policy, () => 1)).toBe(1000);
  });
});
