import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { MasterKey } from './master-key.js';
import { isSupportedAlgorithm, parseCompactJws, prepareKey, verifySignature } from '@tessera/verifier/core';
import { generateSigningKey, JwtSigner, publicKeyFromJwk, SIGNING_ALGS } from './signing.js';

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
    const token = signer.sign({ iss: 'https://issuer.example', sub: 's', aud: 'a', exp: Math.floor(Date.now() / 1000) + 60 });
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet({ keys: [key.publicJwk] }), { issuer: 'https://issuer.example', audience: 'a', typ: 'at+jwt' });
    expect(protectedHeader).toEqual({ typ: 'at+jwt', alg, kid: key.kid });
    expect(payload.sub).toBe('s');
    expect(key.publicJwk).not.toHaveProperty('d');
    expect(verifiesWith(token, key.publicJwk)).toBe(true);
  });

  it('a sealed key opens only with its master key and its own kid', async () => {
    const key = await generateSigningKey('ES256', masterKey);
    expect(() => JwtSigner.unseal({ kid: key.kid, alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, new MasterKey(Buffer.alloc(32, 8)))).toThrow();
    expect(() => JwtSigner.unseal({ kid: 'another-kid', alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, masterKey)).toThrow();
    expect(key.privateKeyEncrypted).not.toContain('PRIVATE KEY');
  });
});

describe('the JOSE core parser on server tokens', () => {
  it.each(['', 'a.b', 'a.b.c.d', '..', 'e30.e30.', '!!.e30.e30', 'e30.W10.e30', 'bnVsbA.e30.e30'])('refuses %j', (value) => {
    expect(() => parseCompactJws(value, 16 * 1024)).toThrow();
  });

  it('a signature over other content does not verify', async () => {
    const key = await generateSigningKey('ES256', masterKey);
    const signer = JwtSigner.unseal({ kid: key.kid, alg: 'ES256', privateKeyEncrypted: key.privateKeyEncrypted }, masterKey);
    const [h, , sig] = signer.sign({ a: 1 }).split('.');
    expect(verifiesWith(`${h}.${Buffer.from('{"a":2}').toString('base64url')}.${sig}`, key.publicJwk)).toBe(false);
  });
});
