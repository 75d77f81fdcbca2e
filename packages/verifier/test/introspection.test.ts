import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createVerifier } from '@tessera/verifier';
import type { Verifier, VerifierOptions } from '@tessera/verifier';
import { codeOf, AUDIENCE, manualClock, startIssuer } from './issuer.js';
import type { TestIssuer } from './issuer.js';

let issuer: TestIssuer;
let clock: ReturnType<typeof manualClock>;
beforeAll(async () => {
  issuer = await startIssuer();
});
afterAll(async () => {
  await issuer.close();
});
beforeEach(() => {
  clock = manualClock();
  issuer.opaque.clear();
  issuer.introspectionStatus = 200;
  issuer.counts.introspection = 0;
});

function verifierFor(options: Partial<VerifierOptions> = {}, introspection: Partial<NonNullable<VerifierOptions['introspection']>> = {}): Verifier {
  return createVerifier({
    issuer: issuer.issuer,
    audience: AUDIENCE,
    now: clock.now,
    introspection: { clientId: issuer.introspectionClient.id, clientSecret: issuer.introspectionClient.secret, ...introspection },
    ...options,
  });
}


function activeAnswer(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(clock.now() / 1000);
  return {
    active: true, iss: issuer.issuer, sub: 'client-a', client_id: 'client-a', aud: AUDIENCE,
    scope: 'orders:read', exp: now + 3600, iat: now, token_type: 'Bearer', ...overrides,
  };
}

describe('RFC 7662 introspection mode', () => {
  it('RFC 7662 §2.1: introspects an opaque token with client_secret_basic and returns its claims', async () => {
    issuer.opaque.set('opaque-1', activeAnswer());
    const claims = await verifierFor().verify('opaque-1', { scopes: ['orders:read'] });
    expect(claims.sub).toBe('client-a');
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64 (the secret has a space, ':' and '%').
    const decoded = Buffer.from((issuer.lastIntrospectionAuthorization ?? '').slice(6), 'base64').toString();
    expect(decoded).toBe('orders-api:introspection+secret%3A%25');
  });

  it('RFC 7662 §2.2: active false is ERR_TOKEN_INACTIVE', async () => {
    expect(await codeOf(verifierFor().verify('unknown-token'))).toBe('ERR_TOKEN_INACTIVE');
  });

  it('checks aud, iss and scope of the answer', async () => {
    issuer.opaque.set('other-api', activeAnswer({ aud: 'https://billing.example/api' }));
    issuer.opaque.set('other-issuer', activeAnswer({ iss: 'https://evil.example' }));
    issuer.opaque.set('no-aud', activeAnswer({ aud: undefined }));
    issuer.opaque.set('expired', activeAnswer({ exp: Math.floor(clock.now() / 1000) - 60 }));
    const verifier = verifierFor();
    expect(await codeOf(verifier.verify('other-api'))).toBe('ERR_AUDIENCE_MISMATCH');
    expect(await codeOf(verifier.verify('other-issuer'))).toBe('ERR_ISSUER_MISMATCH');
    expect(await codeOf(verifier.verify('no-aud'))).toBe('ERR_AUDIENCE_MISMATCH');
    expect(await codeOf(verifier.verify('expired'))).toBe('ERR_TOKEN_EXPIRED');
    issuer.opaque.set('ok', activeAnswer());
    expect(await codeOf(verifier.verify('ok', { scopes: ['orders:write'] }))).toBe('ERR_INSUFFICIENT_SCOPE');
  });

  it('an answer without iss is taken as the issuer\'s own', async () => {
    issuer.opaque.set('no-iss', activeAnswer({ iss: undefined }));
    expect((await verifierFor().verify('no-iss')).iss).toBe(issuer.issuer);
  });

  it('caches positive answers for cacheMaxAge (default 30 s), then asks again', async () => {
    issuer.opaque.set('opaque-2', activeAnswer());
    const verifier = verifierFor();
    await verifier.verify('opaque-2');
    clock.advance(29);
    await verifier.verify('opaque-2');
    expect(issuer.counts.introspection).toBe(1);
    clock.advance(2);
    await verifier.verify('opaque-2');
    expect(issuer.counts.introspection).toBe(2);
  });

  it('never caches beyond the token\'s exp', async () => {
    const exp = Math.floor(clock.now() / 1000) + 10;
    issuer.opaque.set('short', activeAnswer({ exp }));
    const verifier = verifierFor({}, { cacheMaxAge: 300 });
    await verifier.verify('short');
    clock.set(exp * 1000 - 1);
    await verifier.verify('short');
    expect(issuer.counts.introspection).toBe(1);
    clock.set(exp * 1000 + 1);
    issuer.opaque.set('short', { active: false });
    expect(await codeOf(verifier.verify('short'))).toBe('ERR_TOKEN_INACTIVE');
    expect(issuer.counts.introspection).toBe(2);
  });

  it('does not cache inactive answers, and cacheMaxAge 0 disables the cache', async () => {
    const verifier = verifierFor({}, { cacheMaxAge: 0 });
    await codeOf(verifier.verify('revoked'));
    issuer.opaque.set('revoked', activeAnswer());
    await expect(verifier.verify('revoked')).resolves.toBeTruthy();
    await verifier.verify('revoked');
    expect(issuer.counts.introspection).toBe(3);
  });

  it('concurrent introspections of one token share one request', async () => {
    issuer.opaque.set('busy', activeAnswer());
    const verifier = verifierFor();
    await Promise.all(Array.from({ length: 20 }, () => verifier.verify('busy')));
    expect(issuer.counts.introspection).toBe(1);
  });

  it('an endpoint error is ERR_INTROSPECTION_FAILED, and wrong credentials too', async () => {
    issuer.opaque.set('t', activeAnswer());
    issuer.introspectionStatus = 500;
    expect(await codeOf(verifierFor().verify('t'))).toBe('ERR_INTROSPECTION_FAILED');
    issuer.introspectionStatus = 200;
    expect(await codeOf(verifierFor({}, { clientSecret: 'wrong' }).verify('t'))).toBe('ERR_INTROSPECTION_FAILED');
  });

  it('JWTs are verified locally by default, and introspected with tokens: "all"', async () => {
    const jwt = await issuer.sign();
    await expect(verifierFor().verify(jwt)).resolves.toBeTruthy();
    expect(issuer.counts.introspection).toBe(0);
    expect(await codeOf(verifierFor({}, { tokens: 'all' }).verify(jwt))).toBe('ERR_TOKEN_INACTIVE');
    expect(issuer.counts.introspection).toBe(1);
  });

  it('the endpoint option skips discovery', async () => {
    issuer.opaque.set('direct', activeAnswer());
    const before = issuer.counts.discovery;
    await verifierFor({}, { endpoint: `${issuer.issuer}/introspect` }).verify('direct');
    expect(issuer.counts.discovery).toBe(before);
  });
});
