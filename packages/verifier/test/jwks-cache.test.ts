import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createVerifier } from '@tessera/verifier';
import type { Verifier, VerifierOptions } from '@tessera/verifier';
import { codeOf, AUDIENCE, createSigningKey, manualClock, startIssuer } from './issuer.js';
import type { TestIssuer } from './issuer.js';

let issuer: TestIssuer;
let clock: ReturnType<typeof manualClock>;
beforeEach(async () => {
  issuer = await startIssuer();
  clock = manualClock();
});
afterEach(async () => {
  await issuer.close();
});

function verifierFor(options: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, now: clock.now, ...options });
}


/** Lets background refreshes (not awaited by verify) finish. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('discovery', () => {
  it('concurrent first verifications cause one discovery and one JWKS fetch', async () => {
    const verifier = verifierFor();
    const tokens = await Promise.all(Array.from({ length: 50 }, () => issuer.sign()));
    await Promise.all(tokens.map((token) => verifier.verify(token)));
    expect(issuer.counts.discovery).toBe(1);
    expect(issuer.counts.jwks).toBe(1);
  });

  it('concurrent metadata lookups share one discovery request', async () => {
    const verifier = verifierFor();
    const documents = await Promise.all(Array.from({ length: 10 }, () => verifier.metadata()));
    expect(new Set(documents).size).toBe(1);
    expect(issuer.counts.discovery).toBe(1);
  });

  it('RFC 8414 §3: falls back to /.well-known/oauth-authorization-server inserted before the issuer path when OIDC discovery 404s', async () => {
    issuer.discoveryMode = 'rfc8414';
    await expect(verifierFor().verify(await issuer.sign())).resolves.toBeTruthy();
    expect(issuer.counts.oidcDiscovery).toBe(1);
    expect(issuer.counts.rfc8414Discovery).toBe(1);
  });

  it('RFC 8414 §3.3: metadata for another issuer is refused (ERR_DISCOVERY_FAILED)', async () => {
    issuer.metadataIssuer = 'https://evil.example';
    expect(await codeOf(verifierFor().verify(await issuer.sign()))).toBe('ERR_DISCOVERY_FAILED');
  });

  it('the jwksUri option skips discovery', async () => {
    await expect(verifierFor({ jwksUri: `${issuer.issuer}/jwks.json` }).verify(await issuer.sign())).resolves.toBeTruthy();
    expect(issuer.counts.discovery).toBe(0);
    expect(issuer.counts.jwks).toBe(1);
  });

  it('an unreachable issuer at start is ERR_DISCOVERY_FAILED, answered from memory during the backoff', async () => {
    const token = await issuer.sign();
    await issuer.stop();
    const verifier = verifierFor();
    expect(await codeOf(verifier.verify(token))).toBe('ERR_DISCOVERY_FAILED');
    await issuer.start();
    expect(await codeOf(verifier.verify(token))).toBe('ERR_DISCOVERY_FAILED');
    expect(issuer.counts.discovery).toBe(0);
    clock.advance(6);
    await expect(verifier.verify(token)).resolves.toBeTruthy();
  });

  it('uses an injected fetch', async () => {
    const seen: string[] = [];
    const verifier = verifierFor({ fetch: (url, init) => { seen.push(url); return fetch(url, init); } });
    await verifier.verify(await issuer.sign());
    expect(seen).toEqual([`${issuer.issuer}/.well-known/openid-configuration`, `${issuer.issuer}/jwks.json`]);
  });
});

describe('JWKS cache', () => {
  it('keeps the set for Cache-Control max-age, then refreshes once in the background', async () => {
    issuer.jwksCacheControl = 'max-age=120';
    const verifier = verifierFor({ cache: false });
    const token = await issuer.sign();
    await verifier.verify(token);
    clock.advance(119);
    await verifier.verify(token);
    await settle();
    expect(issuer.counts.jwks).toBe(1);
    clock.advance(2);
    await Promise.all([verifier.verify(token), verifier.verify(token), verifier.verify(token)]);
    await settle();
    expect(issuer.counts.jwks).toBe(2);
  });

  it('clamps max-age: max-age=0 and no-store still keep the set for minMaxAge', async () => {
    issuer.jwksCacheControl = 'no-store, max-age=0';
    const verifier = verifierFor({ cache: false, jwksCache: { minMaxAge: 30 } });
    const token = await issuer.sign();
    for (let i = 0; i < 20; i++) await verifier.verify(token);
    clock.advance(29);
    await verifier.verify(token);
    await settle();
    expect(issuer.counts.jwks).toBe(1);
  });

  it('without Cache-Control uses defaultMaxAge', async () => {
    issuer.jwksCacheControl = null;
    const verifier = verifierFor({ cache: false, jwksCache: { defaultMaxAge: 100 } });
    const token = await issuer.sign();
    await verifier.verify(token);
    clock.advance(99);
    await verifier.verify(token);
    await settle();
    expect(issuer.counts.jwks).toBe(1);
    clock.advance(2);
    await verifier.verify(token);
    await settle();
    expect(issuer.counts.jwks).toBe(2);
  });

  it('revalidates with If-None-Match and keeps the keys on 304', async () => {
    issuer.jwksCacheControl = 'max-age=60';
    const verifier = verifierFor({ cache: false });
    const token = await issuer.sign();
    await verifier.verify(token);
    clock.advance(61);
    await verifier.verify(token);
    await settle();
    expect(issuer.counts.jwks304).toBe(1);
    await expect(verifier.verify(token)).resolves.toBeTruthy();
  });

  it('picks up a rotated key with exactly one fetch', async () => {
    const verifier = verifierFor();
    await verifier.verify(await issuer.sign());
    expect(issuer.counts.jwks).toBe(1);
    const next = await createSigningKey('ES256', 'key-2');
    issuer.keys = [next, ...issuer.keys];
    clock.advance(31); // past the unknown-kid cooldown that started with the first fetch
    const tokens = await Promise.all(Array.from({ length: 20 }, () => issuer.sign(undefined, { key: next })));
    await Promise.all(tokens.map((token) => verifier.verify(token)));
    expect(issuer.counts.jwks).toBe(2);
  });

  it('a flood of unknown-kid tokens causes at most one fetch per cooldown', async () => {
    const verifier = verifierFor({ jwksCache: { cooldown: 30 } });
    await verifier.verify(await issuer.sign());
    const strangers = await Promise.all(Array.from({ length: 5 }, (_, i) => createSigningKey('ES256', `garbage-${i}`)));
    const flood = async () => {
      const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) =>
        issuer.sign(undefined, { key: strangers[i % 5], header: { kid: `garbage-${i}-${Math.random()}` } })));
      const codes = await Promise.all(tokens.map((token) => codeOf(verifier.verify(token))));
      expect(new Set(codes)).toEqual(new Set(['ERR_KID_UNKNOWN']));
    };
    await flood();
    expect(issuer.counts.jwks).toBe(1); // the first fetch is less than a cooldown ago
    clock.advance(31);
    await flood();
    expect(issuer.counts.jwks).toBe(2);
    clock.advance(10);
    await flood();
    expect(issuer.counts.jwks).toBe(2);
    clock.advance(21);
    await flood();
    expect(issuer.counts.jwks).toBe(3);
  });

  it('keeps verifying with known keys while the JWKS answers 500 (stale-if-error)', async () => {
    issuer.jwksCacheControl = 'max-age=60';
    const verifier = verifierFor({ cache: false });
    const token = await issuer.sign();
    await verifier.verify(token);
    issuer.jwksMode = 'error';
    for (let minute = 0; minute < 10; minute++) {
      clock.advance(60);
      await expect(verifier.verify(token)).resolves.toBeTruthy();
      await settle();
    }
    expect(issuer.counts.jwks).toBeGreaterThan(1);
    expect(issuer.counts.jwks).toBeLessThanOrEqual(11);
  });

  it('keeps verifying with known keys while the issuer refuses connections', async () => {
    issuer.jwksCacheControl = 'max-age=60';
    const verifier = verifierFor();
    const tokens = await Promise.all(Array.from({ length: 10 }, () => issuer.sign()));
    await verifier.verify(tokens[0] as string);
    await issuer.stop();
    clock.advance(3600);
    for (const token of tokens) await expect(verifier.verify(token)).resolves.toBeTruthy();
    await settle();
  });

  it('keeps verifying while the JWKS hangs, and the hanging fetch times out', async () => {
    issuer.jwksCacheControl = 'max-age=60';
    // The refresh hangs until its timeout aborts it: a verification that resolved while
    // it was still pending did not wait for it (no stopwatch needed).
    let hang = false;
    const refresh = { started: false, aborted: false, settled: Promise.resolve() };
    const hangingFetch: typeof fetch = (url, init) => {
      if (!hang) return fetch(url, init);
      refresh.started = true;
      const signal = init?.signal;
      let done: () => void = () => {};
      refresh.settled = new Promise<void>((resolve) => (done = resolve));
      return new Promise<Response>((_resolve, reject) =>
        signal?.addEventListener('abort', () => {
          refresh.aborted = true;
          reject(signal.reason);
          done();
        }),
      );
    };
    const verifier = verifierFor({ cache: false, timeout: 0.2, fetch: hangingFetch });
    const token = await issuer.sign();
    await verifier.verify(token);
    hang = true;
    clock.advance(61);
    await expect(verifier.verify(token)).resolves.toBeTruthy();
    expect(refresh.started).toBe(true);
    expect(refresh.aborted).toBe(false); // still pending: the verification did not wait for it
    await refresh.settled; // the timeout ends the hanging fetch
    await settle();
    hang = false;
    clock.advance(6); // past the failure backoff
    await verifier.verify(token);
    await settle();
    expect(issuer.counts.jwks).toBe(2); // the first fetch and the refresh after the back-off; the hung one never reached the issuer
  });

  it('stops using stale keys after maxStale (ERR_JWKS_UNAVAILABLE)', async () => {
    issuer.jwksCacheControl = 'max-age=60';
    const verifier = verifierFor({ cache: false, jwksCache: { maxStale: 600 } });
    const token = await issuer.sign();
    await verifier.verify(token);
    issuer.jwksMode = 'error';
    clock.advance(60 + 599);
    await expect(verifier.verify(token)).resolves.toBeTruthy();
    clock.advance(2);
    expect(await codeOf(verifier.verify(token))).toBe('ERR_JWKS_UNAVAILABLE');
  });

  it('an endless JWKS body is abandoned once it passes the size limit, without a Content-Length', async () => {
    let pulled = 0;
    const endless = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            pulled += 64 * 1024;
            controller.enqueue(new Uint8Array(64 * 1024).fill(32));
          },
        }),
        { headers: { 'content-type': 'application/json' } },
      );
    const verifier = verifierFor({ jwksUri: 'https://keys.example/jwks', fetch: async () => endless() });
    expect(await codeOf(verifier.verify(await issuer.sign()))).toBe('ERR_JWKS_UNAVAILABLE');
    expect(pulled).toBeLessThan(2 * 1024 * 1024);
  });

  it('a JWKS that fails on the first fetch is ERR_JWKS_UNAVAILABLE', async () => {
    issuer.jwksMode = 'error';
    expect(await codeOf(verifierFor().verify(await issuer.sign()))).toBe('ERR_JWKS_UNAVAILABLE');
  });

  it('a cached token stops verifying once its key is removed from the JWKS (emergency rotation)', async () => {
    issuer.jwksCacheControl = 'max-age=60';
    const verifier = verifierFor();
    const token = await issuer.sign();
    await verifier.verify(token);
    issuer.keys = [await createSigningKey('ES256', 'key-2')];
    clock.advance(61);
    await verifier.verify(token); // served while the refresh runs
    await settle();
    expect(await codeOf(verifier.verify(token))).toBe('ERR_KID_UNKNOWN');
  });

  it('ignores keys that are not for signatures, symmetric or private', async () => {
    const key = issuer.keys[0];
    if (key === undefined) throw new Error('no key');
    issuer.keys = [];
    issuer.extraJwks = [
      { ...key.publicJwk, use: 'enc' },
      { kty: 'oct', k: 'c2VjcmV0', kid: 'key-1', alg: 'HS256' },
      { ...key.publicJwk, kid: 'other' },
    ];
    const token = await issuer.sign(undefined, { key });
    expect(await codeOf(verifierFor().verify(token))).toBe('ERR_KID_UNKNOWN');
  });
});
