/** The client's DPoP proofs (RFC 9449 §4.2), checked with jose and with the verifier's core. */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, generateKeyPair, jwtVerify, EmbeddedJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { checkDpopProof } from '@tessera/verifier/core';
import { ConfigurationError, createDpopProver } from '@tessera/client';

const clock = { now: () => Date.now() };

describe('createDpopProver', () => {
  it('RFC 9449 §4.2: typ dpop+jwt, the public jwk only, htm, htu without query and fragment, iat, jti, ath', async () => {
    const keys = await generateKeyPair('ES256');
    const prover = createDpopProver(keys, clock);
    const proof = await prover.proof('GET', 'https://api.example.com/orders?page=2#top', 'the-token');
    const header = decodeProtectedHeader(proof);
    expect(header).toMatchObject({ typ: 'dpop+jwt', alg: 'ES256' });
    expect(Object.keys(header.jwk ?? {}).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    const { payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
    expect(payload).toMatchObject({ htm: 'GET', htu: 'https://api.example.com/orders', ath: createHash('sha256').update('the-token').digest('base64url') });
    expect(typeof payload.jti).toBe('string');
    expect(await prover.jkt()).toBe(await calculateJwkThumbprint(header.jwk!));
    const checked = checkDpopProof(proof, { method: 'GET', urls: ['https://api.example.com/orders'], now: Date.now(), maxAge: 60, clockTolerance: 5, algorithms: new Set(['ES256']), accessToken: 'the-token' });
    expect(checked.jkt).toBe(await prover.jkt());
  });

  it('each proof has its own jti; a nonce the server sent is carried for its origin only', async () => {
    const prover = createDpopProver(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, clock);
    prover.rememberNonce('https://as.example.com/token', new Response(null, { headers: { 'dpop-nonce': 'n-1' } }));
    const claims = async (url: string) => JSON.parse(Buffer.from((await prover.proof('POST', url)).split('.')[1] ?? '', 'base64url').toString());
    const [a, b] = [await claims('https://as.example.com/token'), await claims('https://as.example.com/token')];
    expect(a.jti).not.toBe(b.jti);
    expect(a.nonce).toBe('n-1');
    expect((await claims('https://api.example.com/orders')).nonce).toBeUndefined();
  });

  it('a key it cannot use is a ConfigurationError at once', () => {
    expect(() => createDpopProver('not a key', clock)).toThrow(ConfigurationError);
  });
});
