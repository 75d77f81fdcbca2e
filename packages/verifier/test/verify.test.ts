import { createHmac, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, InsufficientScopeError, InvalidTokenError } from '@tessera/verifier';
import type { Verifier, VerifierOptions } from '@tessera/verifier';
import { codeOf, AUDIENCE, createSigningKey, manualClock, startIssuer } from './issuer.js';
import type { TestIssuer } from './issuer.js';

let issuer: TestIssuer;
beforeAll(async () => {
  issuer = await startIssuer();
});
afterAll(async () => {
  await issuer.close();
});

function verifierFor(options: Partial<VerifierOptions> = {}): Verifier {
  return createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, ...options });
}


function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

describe('a valid token', () => {
  it('RFC 9068 §4: returns the claims of a valid at+jwt', async () => {
    const claims = await verifierFor().verify(await issuer.sign());
    expect(claims.sub).toBe('client-a');
    expect(claims.iss).toBe(issuer.issuer);
    expect(Object.isFrozen(claims)).toBe(true);
  });

  it('RFC 9068 §4: accepts typ application/at+jwt, case-insensitively', async () => {
    const verifier = verifierFor();
    await expect(verifier.verify(await issuer.sign(undefined, { header: { typ: 'application/at+jwt' } }))).resolves.toBeTruthy();
    await expect(verifier.verify(await issuer.sign(undefined, { header: { typ: 'AT+JWT' } }))).resolves.toBeTruthy();
  });

  it('RFC 7519 §4.1.3: accepts an aud array that contains the audience', async () => {
    const token = await issuer.sign(issuer.claims({ aud: ['https://other.example', AUDIENCE] }));
    await expect(verifierFor().verify(token)).resolves.toBeTruthy();
  });

  it('accepts one of several configured audiences', async () => {
    const token = await issuer.sign(issuer.claims({ aud: 'urn:second' }));
    await expect(verifierFor({ audience: ['urn:first', 'urn:second'] }).verify(token)).resolves.toBeTruthy();
  });

  for (const alg of ['ES384', 'ES512', 'RS256', 'RS512', 'PS256', 'PS384', 'EdDSA', 'Ed25519']) {
    it(`verifies ${alg} with node:crypto`, async () => {
      const key = await createSigningKey(alg, `k-${alg}`);
      issuer.extraJwks = [key.publicJwk];
      try {
        const verifier = verifierFor();
        await expect(verifier.verify(await issuer.sign(undefined, { key }))).resolves.toBeTruthy();
        const [header, payload, signature] = (await issuer.sign(undefined, { key })).split('.');
        const flipped = `${signature?.slice(0, 10)}${signature?.[10] === 'A' ? 'B' : 'A'}${signature?.slice(11)}`;
        expect(await codeOf(verifier.verify(`${header}.${payload}.${flipped}`))).toBe('ERR_SIGNATURE_INVALID');
      } finally {
        issuer.extraJwks = [];
      }
    });
  }

  it('RFC 7515 §4.1.4: without kid, uses the only key of matching type', async () => {
    const token = await issuer.sign(undefined, { header: { kid: undefined } });
    await expect(verifierFor().verify(token)).resolves.toBeTruthy();
  });

  it('without kid and several keys that fit, refuses to guess (ERR_KID_UNKNOWN)', async () => {
    const second = await createSigningKey('ES256', 'key-2');
    issuer.extraJwks = [second.publicJwk];
    try {
      const token = await issuer.sign(undefined, { header: { kid: undefined } });
      expect(await codeOf(verifierFor().verify(token))).toBe('ERR_KID_UNKNOWN');
    } finally {
      issuer.extraJwks = [];
    }
  });

  it('works from a fixed jwks option without any request', async () => {
    const verifier = createVerifier({
      issuer: issuer.issuer, audience: AUDIENCE, jwks: { keys: issuer.keys.map((k) => k.publicJwk) },
      fetch: () => Promise.reject(new Error('no network expected')),
    });
    await expect(verifier.verify(await issuer.sign())).resolves.toBeTruthy();
  });
});

describe('RFC 9068 §4 / RFC 7519 claim rules', () => {
  it('RFC 7519 §4.1.4: an expired token is ERR_TOKEN_EXPIRED, naming exp', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await issuer.sign(issuer.claims({ exp: now - 60, iat: now - 120 }));
    const error = await verifierFor().verify(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).code).toBe('ERR_TOKEN_EXPIRED');
    expect((error as InvalidTokenError).claim).toBe('exp');
  });

  it('RFC 7519 §4.1.4: clock tolerance (default 5 s) applies to exp', async () => {
    const clock = manualClock();
    const exp = Math.floor(clock.now() / 1000) + 10;
    const token = await issuer.sign(issuer.claims({ exp }));
    clock.set((exp + 4) * 1000);
    await expect(verifierFor({ now: clock.now, cache: false }).verify(token)).resolves.toBeTruthy();
    clock.set((exp + 5) * 1000);
    expect(await codeOf(verifierFor({ now: clock.now, cache: false }).verify(token))).toBe('ERR_TOKEN_EXPIRED');
    expect(await codeOf(verifierFor({ now: clock.now, clockTolerance: 0 }).verify(token))).toBe('ERR_TOKEN_EXPIRED');
  });

  it('RFC 9068 §2.2: a token without exp is refused (ERR_CLAIM_INVALID, exp)', async () => {
    const claims = issuer.claims();
    delete claims.exp;
    const error = await verifierFor().verify(await issuer.sign(claims)).catch((e: unknown) => e);
    expect((error as InvalidTokenError).code).toBe('ERR_CLAIM_INVALID');
    expect((error as InvalidTokenError).claim).toBe('exp');
  });

  it('RFC 7519 §4.1.5: a token before its nbf is ERR_TOKEN_NOT_YET_VALID', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await issuer.sign(issuer.claims({ nbf: now + 60 }));
    expect(await codeOf(verifierFor().verify(token))).toBe('ERR_TOKEN_NOT_YET_VALID');
  });

  it('RFC 7519 §4.1.6: a token issued in the future is ERR_TOKEN_NOT_YET_VALID (iat)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const error = await verifierFor().verify(await issuer.sign(issuer.claims({ iat: now + 60 }))).catch((e: unknown) => e);
    expect((error as InvalidTokenError).code).toBe('ERR_TOKEN_NOT_YET_VALID');
    expect((error as InvalidTokenError).claim).toBe('iat');
  });

  it('maxTokenAge refuses old tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await issuer.sign(issuer.claims({ iat: now - 600 }));
    expect(await codeOf(verifierFor({ maxTokenAge: 300 }).verify(token))).toBe('ERR_TOKEN_EXPIRED');
  });

  it('RFC 9068 §4 step 2: a wrong iss is ERR_ISSUER_MISMATCH', async () => {
    const token = await issuer.sign(issuer.claims({ iss: `${issuer.issuer}/` }));
    const error = await verifierFor().verify(token).catch((e: unknown) => e);
    expect((error as InvalidTokenError).code).toBe('ERR_ISSUER_MISMATCH');
    expect((error as InvalidTokenError).claim).toBe('iss');
  });

  it('RFC 9068 §4 step 3: an aud without this API is ERR_AUDIENCE_MISMATCH', async () => {
    const token = await issuer.sign(issuer.claims({ aud: ['https://billing.example/api'] }));
    const error = await verifierFor().verify(token).catch((e: unknown) => e);
    expect((error as InvalidTokenError).code).toBe('ERR_AUDIENCE_MISMATCH');
    expect((error as InvalidTokenError).claim).toBe('aud');
  });

  it('RFC 9068 §4 step 1: typ other than at+jwt is ERR_TYP_INVALID (an ID token or plain JWT is not an access token)', async () => {
    const verifier = verifierFor();
    expect(await codeOf(verifier.verify(await issuer.sign(undefined, { header: { typ: 'JWT' } })))).toBe('ERR_TYP_INVALID');
    expect(await codeOf(verifier.verify(await issuer.sign(undefined, { header: { typ: undefined } })))).toBe('ERR_TYP_INVALID');
  });

  it('typ can be configured for issuers that do not send at+jwt', async () => {
    const plain = await issuer.sign(undefined, { header: { typ: 'JWT' } });
    await expect(verifierFor({ typ: false }).verify(plain)).resolves.toBeTruthy();
    await expect(verifierFor({ typ: ['at+jwt', 'JWT'] }).verify(plain)).resolves.toBeTruthy();
  });

  it('requiredClaims makes more claims mandatory', async () => {
    const claims = issuer.claims();
    delete claims.jti;
    const error = await verifierFor({ requiredClaims: ['sub', 'jti'] }).verify(await issuer.sign(claims)).catch((e: unknown) => e);
    expect((error as InvalidTokenError).claim).toBe('jti');
  });

  it('ill-typed claims are ERR_CLAIM_INVALID', async () => {
    expect(await codeOf(verifierFor().verify(await issuer.sign(issuer.claims({ scope: ['a'] as unknown as string }))))).toBe('ERR_CLAIM_INVALID');
    expect(await codeOf(verifierFor().verify(await issuer.sign(issuer.claims({ exp: '99999999999' as unknown as number }))))).toBe('ERR_CLAIM_INVALID');
  });
});

describe('RFC 9068 §4 / RFC 8725 algorithm and signature rules', () => {
  it('RFC 7518 §3.6 / RFC 8725 §3.1: alg none is ERR_ALG_NOT_ALLOWED', async () => {
    const unsigned = `${b64url({ alg: 'none', typ: 'at+jwt', kid: 'key-1' })}.${b64url(issuer.claims())}.`;
    expect(await codeOf(verifierFor().verify(unsigned))).toMatch(/ERR_ALG_NOT_ALLOWED|ERR_MALFORMED/);
    const withGarbage = `${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url(issuer.claims())}.${b64url('x')}`;
    expect(await codeOf(verifierFor().verify(withGarbage))).toBe('ERR_ALG_NOT_ALLOWED');
  });

  it('RFC 8725 §2.1: an HS256 token signed with the public key bytes is ERR_ALG_NOT_ALLOWED', async () => {
    const verifier = verifierFor();
    const key = issuer.keys[0];
    if (key === undefined) throw new Error('no key');
    const input = `${b64url({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })}.${b64url(issuer.claims())}`;
    const pem = createPublicKey({ key: key.publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    for (const secret of [JSON.stringify(key.publicJwk), `${key.publicJwk.x}${key.publicJwk.y}`, pem]) {
      const forged = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      expect(await codeOf(verifier.verify(forged))).toBe('ERR_ALG_NOT_ALLOWED');
    }
  });

  it('refuses a configuration without an absolute issuer URL or an audience', () => {
    expect(() => createVerifier({ issuer: 'not a url', audience: AUDIENCE })).toThrow(TypeError);
    expect(() => createVerifier({ issuer: issuer.issuer, audience: [] })).toThrow(TypeError);
    expect(() => createVerifier({ issuer: issuer.issuer, audience: '' })).toThrow(TypeError);
  });

  it('HMAC and none can never be configured', () => {
    expect(() => verifierFor({ algorithms: ['HS256'] })).toThrow(TypeError);
    expect(() => verifierFor({ algorithms: ['none'] })).toThrow(TypeError);
  });

  it('an algorithm outside the configured allow-list is ERR_ALG_NOT_ALLOWED', async () => {
    expect(await codeOf(verifierFor({ algorithms: ['RS256'] }).verify(await issuer.sign()))).toBe('ERR_ALG_NOT_ALLOWED');
  });

  it('a kid the issuer does not publish is ERR_KID_UNKNOWN', async () => {
    const stranger = await createSigningKey('ES256', 'stranger');
    expect(await codeOf(verifierFor().verify(await issuer.sign(undefined, { key: stranger })))).toBe('ERR_KID_UNKNOWN');
  });

  it('a key with the right kid but the wrong key material is ERR_SIGNATURE_INVALID', async () => {
    const impostor = await createSigningKey('ES256', 'key-1');
    expect(await codeOf(verifierFor().verify(await issuer.sign(undefined, { key: impostor })))).toBe('ERR_SIGNATURE_INVALID');
  });

  it('RFC 7515 §5.2: a tampered payload is ERR_SIGNATURE_INVALID, and is never cached as valid', async () => {
    const verifier = verifierFor();
    const [header, , signature] = (await issuer.sign()).split('.');
    const tampered = `${header}.${b64url(issuer.claims({ scope: 'orders:read orders:write admin' }))}.${signature}`;
    expect(await codeOf(verifier.verify(tampered))).toBe('ERR_SIGNATURE_INVALID');
    expect(await codeOf(verifier.verify(tampered))).toBe('ERR_SIGNATURE_INVALID');
  });

  it('an RSA key shorter than 2048 bits is never used', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'RS256' };
    const verifier = createVerifier({ issuer: issuer.issuer, audience: AUDIENCE, jwks: { keys: [jwk, issuer.keys[0]?.publicJwk ?? {}] } });
    const input = `${b64url({ alg: 'RS256', typ: 'at+jwt', kid: 'weak' })}.${b64url(issuer.claims())}`;
    expect(await codeOf(verifier.verify(`${input}.${b64url('sig')}`))).toBe('ERR_KID_UNKNOWN');
  });
});

describe('RFC 6750 §3.1 scope requirements', () => {
  it('RFC 6750 §3.1: a missing scope is ERR_INSUFFICIENT_SCOPE with the required scopes', async () => {
    const error = await verifierFor().verify(await issuer.sign(), { scopes: ['orders:read', 'orders:delete'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientScopeError);
    expect((error as InsufficientScopeError).code).toBe('ERR_INSUFFICIENT_SCOPE');
    expect((error as InsufficientScopeError).requiredScopes).toEqual(['orders:read', 'orders:delete']);
  });

  it('all-of scopes pass when every one is granted (array or space-separated string)', async () => {
    const verifier = verifierFor();
    const token = await issuer.sign();
    await expect(verifier.verify(token, { scopes: ['orders:read', 'orders:write'] })).resolves.toBeTruthy();
    await expect(verifier.verify(token, { scopes: 'orders:write orders:read' })).resolves.toBeTruthy();
  });

  it('anyScopes passes with one of them and fails with none', async () => {
    const verifier = verifierFor();
    const token = await issuer.sign();
    await expect(verifier.verify(token, { anyScopes: ['admin', 'orders:read'] })).resolves.toBeTruthy();
    expect(await codeOf(verifier.verify(token, { anyScopes: ['admin', 'orders:delete'] }))).toBe('ERR_INSUFFICIENT_SCOPE');
  });

  it('scope is split on spaces exactly: "orders:readx" does not grant "orders:read"', async () => {
    const token = await issuer.sign(issuer.claims({ scope: 'orders:readx' }));
    expect(await codeOf(verifierFor().verify(token, { scopes: ['orders:read'] }))).toBe('ERR_INSUFFICIENT_SCOPE');
  });

  it('accepts an scp array from issuers that send one', async () => {
    const claims = issuer.claims({ scp: ['orders:read'] });
    delete claims.scope;
    await expect(verifierFor().verify(await issuer.sign(claims), { scopes: ['orders:read'] })).resolves.toBeTruthy();
  });
});

describe('RFC 8705 §3 certificate-bound tokens', () => {
  let certPem: string;
  let otherPem: string;
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-verifier-'));
    for (const name of ['a', 'b']) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`,
        '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`), '-days', '1'], { stdio: 'ignore' });
    }
    certPem = readFileSync(join(dir, 'a.pem'), 'utf8');
    otherPem = readFileSync(join(dir, 'b.pem'), 'utf8');
  });

  function thumbprint(pem: string): string {
    // Independent of the verifier's own computation: Node's fingerprint256 is hex SHA-256 of the DER.
    return Buffer.from(new X509Certificate(pem).fingerprint256.replaceAll(':', ''), 'hex').toString('base64url');
  }

  it('RFC 8705 §3: accepts the bound certificate as PEM, DER or X509Certificate', async () => {
    const verifier = verifierFor();
    const token = await issuer.sign(issuer.claims({ cnf: { 'x5t#S256': thumbprint(certPem) } }));
    await expect(verifier.verify(token, { certificate: certPem })).resolves.toBeTruthy();
    await expect(verifier.verify(token, { certificate: new X509Certificate(certPem).raw })).resolves.toBeTruthy();
    await expect(verifier.verify(token, { certificate: new X509Certificate(certPem) })).resolves.toBeTruthy();
  });

  it('RFC 8705 §3: a different certificate is ERR_CNF_MISMATCH, also for a cached token', async () => {
    const verifier = verifierFor();
    const token = await issuer.sign(issuer.claims({ cnf: { 'x5t#S256': thumbprint(certPem) } }));
    expect(await codeOf(verifier.verify(token, { certificate: otherPem }))).toBe('ERR_CNF_MISMATCH');
    await verifier.verify(token, { certificate: certPem });
    expect(await codeOf(verifier.verify(token, { certificate: otherPem }))).toBe('ERR_CNF_MISMATCH');
  });

  it('RFC 8705 §3: a bound token presented without a certificate is ERR_CNF_MISMATCH', async () => {
    const verifier = verifierFor();
    const token = await issuer.sign(issuer.claims({ cnf: { 'x5t#S256': thumbprint(certPem) } }));
    expect(await codeOf(verifier.verify(token))).toBe('ERR_CNF_MISMATCH');
    await verifier.verify(token, { certificate: certPem });
    expect(await codeOf(verifier.verify(token))).toBe('ERR_CNF_MISMATCH');
  });

  it('a DPoP-bound token (cnf.jkt) cannot be used as a bearer token', async () => {
    const token = await issuer.sign(issuer.claims({ cnf: { jkt: 'A'.repeat(43) } }));
    expect(await codeOf(verifierFor().verify(token))).toBe('ERR_DPOP_REQUIRED');
  });
});

describe('verified-token cache', () => {
  it('answers a repeated token from the cache (same frozen claims object)', async () => {
    const verifier = verifierFor();
    const token = await issuer.sign();
    const first = await verifier.verify(token);
    expect(await verifier.verify(token)).toBe(first);
  });

  it('still checks exp against the clock for a cached token', async () => {
    const clock = manualClock();
    const verifier = verifierFor({ now: clock.now });
    const exp = Math.floor(clock.now() / 1000) + 60;
    const token = await issuer.sign(issuer.claims({ exp }));
    await verifier.verify(token);
    clock.set((exp + 6) * 1000);
    expect(await codeOf(verifier.verify(token))).toBe('ERR_TOKEN_EXPIRED');
  });

  it('still checks nbf and scopes per call for a cached token', async () => {
    const clock = manualClock();
    const verifier = verifierFor({ now: clock.now });
    const nbf = Math.floor(clock.now() / 1000);
    const token = await issuer.sign(issuer.claims({ nbf }));
    await verifier.verify(token, { scopes: ['orders:read'] });
    expect(await codeOf(verifier.verify(token, { scopes: ['admin'] }))).toBe('ERR_INSUFFICIENT_SCOPE');
    clock.set((nbf - 60) * 1000);
    expect(await codeOf(verifier.verify(token))).toBe('ERR_TOKEN_NOT_YET_VALID');
  });

  it('is bounded: the least recently used entry goes first', async () => {
    const verifier = verifierFor({ cache: { maxEntries: 2 } });
    const [a, b, c] = await Promise.all([issuer.sign(), issuer.sign(), issuer.sign()]) as [string, string, string];
    const claimsA = await verifier.verify(a);
    const claimsB = await verifier.verify(b);
    expect(await verifier.verify(a)).toBe(claimsA); // a is now the most recent
    await verifier.verify(c); // evicts b
    expect(await verifier.verify(a)).toBe(claimsA);
    expect(await verifier.verify(b)).not.toBe(claimsB);
  });

  it('cache: false verifies every time', async () => {
    const verifier = verifierFor({ cache: false });
    const token = await issuer.sign();
    expect(await verifier.verify(token)).not.toBe(await verifier.verify(token));
  });

  it('a failure carries a stable code and a message that names the claim', async () => {
    const token = await issuer.sign(issuer.claims({ aud: 'urn:other' }));
    const error = await verifierFor().verify(token).catch((e: unknown) => e as InvalidTokenError);
    expect(error.code).toBe('ERR_AUDIENCE_MISMATCH');
    expect(error.message).toContain('"aud"');
    expect(error.status).toBe(401);
    expect(error.bearerError).toBe('invalid_token');
  });
});
