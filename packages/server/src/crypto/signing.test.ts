import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { MasterKey } from './master-key.js';
import { decodeJws, generateSigningKey, JwtSigner, publicKeyFromJwk, SIGNING_ALGS, verifyJwsSignature } from './signing.js';

const masterKey = new MasterKey(Buffer.alloc(32, 9));

describe('JwtSigner', () => {
  it.each(SIGNING_ALGS)('%s tokens verify with jose against the published JWK (RFC 7515, RFC 9068 header)', async (alg) => {
    const key = await generateSigningKey(alg, masterKey);
    const signer = JwtSigner.unseal({ kid: key.kid, alg, privateKeyEncrypted: key.privateKeyEncrypted }, masterKey);
    const token = await signer.sign({ iss: 'https://issuer.example', sub: 's', aud: 'a', exp: Math.floor(Date.now() / 1000) + 60 });
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet({ keys: [key.publicJwk] }), { issuer: 'https://issuer.example', audience: 'a', typ: 'at+jwt' });
    expect(protectedHeader).toEqual({ typ: 'at+jwt', alg, kid: key.kid });
    expect(payload.sub).toBe('s');
    expect(key.publicJwk).not.toHaveProperty('d');
    const decoded = decodeJws(token);
    expect(decoded).not.toBeNull();
    expect(verifyJwsSignature(decoded!, publicKeyFromJwk(key.publicJwk))).toBe(true);
  });

  it('a sealed key opens only with its master key and its own kid', async () => {
    const key = await generateSigningKey('ES256', masterKey);
    expect(() => JwtSigner.unseal({ kid: key.kid, alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, new MasterKey(Buffer.alloc(32, 8)))).toThrow();
    expect(() => JwtSigner.unseal({ kid: 'another-kid', alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, masterKey)).toThrow();
    expect(key.privateKeyEncrypted).not.toContain('PRIVATE KEY');
  });
});

describe('JwtSigner off the event loop', () => {
  it('an ES256 token is issued while RS256 signatures are still in flight (RSA runs on the libuv pool)', async () => {
    const rsa = await generateSigningKey('RS256', masterKey);
    const ec = await generateSigningKey('ES256', masterKey);
    const rsaSigner = JwtSigner.unseal({ kid: rsa.kid, alg: 'RS256', privateKeyEncrypted: rsa.privateKeyEncrypted }, masterKey);
    const ecSigner = JwtSigner.unseal({ kid: ec.kid, alg: 'ES256', privateKeyEncrypted: ec.privateKeyEncrypted }, masterKey);
    let rsaDone = 0;
    const inFlight = Array.from({ length: 24 }, (_, i) => rsaSigner.sign({ i }).then((token) => {
      rsaDone += 1;
      return token;
    }));
    // Signed on the event loop, 24 RSA signatures would all be finished before this one starts.
    const es256 = await ecSigner.sign({ sub: 'es' });
    expect(rsaDone).toBeLessThan(24);
    expect(verifyJwsSignature(decodeJws(es256)!, publicKeyFromJwk(ec.publicJwk))).toBe(true);
    for (const token of await Promise.all(inFlight)) {
      expect(verifyJwsSignature(decodeJws(token)!, publicKeyFromJwk(rsa.publicJwk))).toBe(true);
    }
  });
});

describe('decodeJws', () => {
  it.each(['', 'a.b', 'a.b.c.d', '..', 'e30.e30.', '!!.e30.e30', 'e30.W10.e30', 'bnVsbA.e30.e30'])('refuses %j', (value) => {
    expect(decodeJws(value)).toBeNull();
  });

  it('a signature over other content does not verify', async () => {
    const key = await generateSigningKey('ES256', masterKey);
    const signer = JwtSigner.unseal({ kid: key.kid, alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, masterKey);
    const [h, , sig] = (await signer.sign({ a: 1 })).split('.');
    const forged = decodeJws(`${h}.${Buffer.from('{"a":2}').toString('base64url')}.${sig}`);
    expect(verifyJwsSignature(forged!, publicKeyFromJwk(key.publicJwk))).toBe(false);
  });
});
