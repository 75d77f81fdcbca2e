import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { MasterKey } from './master-key.js';
import { isSupportedAlgorithm, parseCompactJws, prepareKey, verifySignature } from '@tessera/verifier/core';
import { generateSigningKey, JwtSigner, publicKeyFromJwk, SIGNING_ALGS, unsealPrivateKey } from './signing.js';

/** Verifies with the JOSE core the server and the verifier share. */
function verifiesWith(token: string, jwk: Parameters<typeof publicKeyFromJwk>[0]): boolean {
  const jws = parseCompactJws(token, 16 * 1024);
  if (!isSupportedAlgorithm(jws.header.alg)) return false;
  return verifySignature(prepareKey(publicKeyFromJwk(jwk), jws.header.alg), jws.signingInput, jws.signature);
}

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
    expect(verifiesWith(token, key.publicJwk)).toBe(true);
  });

  it.each([
    ['a short ASCII payload', { sub: 's' }],
    ['a payload with characters beyond ASCII', { sub: 'säß-✓-𝄞', note: 'ünïcödé '.repeat(40) }],
    ['a payload too large for the scratch buffer', { sub: 's', big: 'x'.repeat(9000) }],
    ['a large payload beyond ASCII', { sub: 's', big: '✓'.repeat(3000) }],
  ])('ES256 signs %s byte for byte, one token after another (RFC 7515 §7.1)', async (_name, claims) => {
    const key = await generateSigningKey('ES256', masterKey);
    const signer = JwtSigner.unseal({ kid: key.kid, alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, masterKey);
    for (const payload of [claims, { sub: 'next' }, claims]) {
      const token = await signer.sign(payload);
      const [header, body] = token.split('.');
      expect(Buffer.from(body as string, 'base64url').toString('utf8')).toBe(JSON.stringify(payload));
      expect(JSON.parse(Buffer.from(header as string, 'base64url').toString('utf8'))).toEqual({ typ: 'at+jwt', alg: 'ES256', kid: key.kid });
      expect(verifiesWith(token, key.publicJwk)).toBe(true);
    }
  });

  it('a sealed key opens only with its master key and its own kid', async () => {
    const key = await generateSigningKey('ES256', masterKey);
    expect(() => JwtSigner.unseal({ kid: key.kid, alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, new MasterKey(Buffer.alloc(32, 8)))).toThrow();
    expect(() => JwtSigner.unseal({ kid: 'another-kid', alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, masterKey)).toThrow();
    expect(key.privateKeyEncrypted).not.toContain('PRIVATE KEY');
  });
});

describe('sealed private keys', () => {
  it('are sealed as a JWK, and keys sealed as PKCS#8 PEM (before JWK sealing) still open', async () => {
    const key = await generateSigningKey('ES256', masterKey);
    expect(JSON.parse(masterKey.decrypt(key.privateKeyEncrypted, key.kid))).toMatchObject({ kty: 'EC', crv: 'P-256', d: expect.any(String) });
    const pem = unsealPrivateKey(key, masterKey).export({ format: 'pem', type: 'pkcs8' }).toString();
    const legacy = { kid: key.kid, alg: 'ES256' as const, privateKeyEncrypted: masterKey.encrypt(pem, key.kid) };
    const token = await JwtSigner.unseal(legacy, masterKey).sign({ sub: 's' });
    expect(verifiesWith(token, key.publicJwk)).toBe(true);
    expect(JwtSigner.unseal(legacy, masterKey).publicKey().export({ format: 'jwk' })).toMatchObject({ x: key.publicJwk.x, y: key.publicJwk.y });
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
    expect(verifiesWith(es256, ec.publicJwk)).toBe(true);
    for (const token of await Promise.all(inFlight)) {
      expect(verifiesWith(token, rsa.publicJwk)).toBe(true);
    }
  });
});

describe('the JOSE core parser on server tokens', () => {
  it.each(['', 'a.b', 'a.b.c.d', '..', 'e30.e30.', '!!.e30.e30', 'e30.W10.e30', 'bnVsbA.e30.e30'])('refuses %j', (value) => {
    expect(() => parseCompactJws(value, 16 * 1024)).toThrow();
  });

  it('a signature over other content does not verify', async () => {
    const key = await generateSigningKey('ES256', masterKey);
    const signer = JwtSigner.unseal({ kid: key.kid, alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, masterKey);
    const [h, , sig] = (await signer.sign({ a: 1 })).split('.');
    expect(verifiesWith(`${h}.${Buffer.from('{"a":2}').toString('base64url')}.${sig}`, key.publicJwk)).toBe(false);
  });
});
