/** The JOSE core's DPoP pieces (RFC 9449 §4.3, RFC 7638) and the stateless nonces, on their own. */
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { jwkThumbprint, NonceIssuer, normaliseHtu } from '@tessera/verifier/core';

describe('normaliseHtu (RFC 9449 §4.3 check 9)', () => {
  it('drops query and fragment and normalises case, default port, dot segments and percent-encoding (RFC 3986 §6.2.2, §6.2.3)', () => {
    const expected = 'https://api.example.com/orders/a~b';
    for (const url of ['https://api.example.com/orders/a~b', 'HTTPS://API.Example.com:443/orders/./x/../a%7eb?q=1#frag', 'https://api.example.com/orders/a%7Eb']) {
      expect(normaliseHtu(url)).toBe(expected);
    }
    expect(normaliseHtu('https://api.example.com/a%2fb')).toBe('https://api.example.com/a%2Fb');
    expect(normaliseHtu('http://api.example.com:8080/x')).not.toBe(normaliseHtu('http://api.example.com/x'));
  });

  it('is null for what is not an absolute http(s) URL', () => {
    for (const url of ['/token', 'urn:x', 'ftp://example.com/token', '']) expect(normaliseHtu(url)).toBeNull();
  });
});

describe('jwkThumbprint (RFC 7638 §3)', () => {
  it('matches jose for EC, RSA and OKP keys', async () => {
    for (const [alg, options] of [['ES256', {}], ['RS256', {}], ['EdDSA', { crv: 'Ed25519' }]] as const) {
      const { publicKey } = await generateKeyPair(alg, { ...options, extractable: true });
      const jwk = await exportJWK(publicKey);
      expect(jwkThumbprint(jwk as Record<string, unknown>)).toBe(await calculateJwkThumbprint(jwk));
    }
  });

  it('RFC 7638 §3.1: the example key gives the example thumbprint', () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    };
    expect(jwkThumbprint(jwk)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
});

describe('NonceIssuer (RFC 9449 §8, §9)', () => {
  it('accepts its nonce in its window and the next, for its scope only; refuses a made-up one', () => {
    let now = 1_000_000_000;
    const issuer = new NonceIssuer(Buffer.alloc(32, 1), 60, () => now);
    const nonce = issuer.issue('tenant-a');
    expect(issuer.accepts(nonce, 'tenant-a')).toBe(true);
    expect(issuer.accepts(nonce, 'tenant-b')).toBe(false);
    expect(issuer.accepts('0.forged', 'tenant-a')).toBe(false);
    now += 60_000;
    expect(issuer.accepts(nonce, 'tenant-a')).toBe(true);
    now += 60_000;
    expect(issuer.accepts(nonce, 'tenant-a')).toBe(false);
    expect(new NonceIssuer(Buffer.alloc(32, 2), 60, () => now).accepts(issuer.issue('tenant-a'), 'tenant-a')).toBe(false);
  });
});
