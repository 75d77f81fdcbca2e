import { describe, expect, it, vi } from 'vitest';
import { InvalidTokenError } from '../src/errors.js';
import { parseCompactJws } from '../src/jws.js';
import { TokenCache } from '../src/token-cache.js';
import type { CachedToken } from '../src/token-cache.js';

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const header = b64({ alg: 'ES256', typ: 'at+jwt', kid: 'k' });
const payload = b64({ iss: 'https://issuer.example', exp: 1 });
const signature = b64('s'.repeat(64));

function malformed(token: string): string {
  try {
    parseCompactJws(token, 16_384);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).code).toBe('ERR_MALFORMED');
    return (error as Error).message;
  }
  throw new Error(`accepted: ${token}`);
}

describe('RFC 7515 §7.1 compact serialization parsing', () => {
  it('parses a well-formed JWS and keeps the exact signing input', () => {
    const parsed = parseCompactJws(`${header}.${payload}.${signature}`, 16_384);
    expect(parsed.header.kid).toBe('k');
    expect(parsed.payload.iss).toBe('https://issuer.example');
    expect(parsed.signingInput.toString()).toBe(`${header}.${payload}`);
    expect(parsed.signature.length).toBe(64);
  });

  it('requires exactly three segments (a JWE has five)', () => {
    malformed(`${header}.${payload}`);
    malformed(`${header}.${payload}.${signature}.x.y`);
    malformed(`${header}.${payload}.${signature}.`);
    malformed('opaque-token');
  });

  it('refuses empty segments and the empty token', () => {
    malformed('');
    malformed(`.${payload}.${signature}`);
    malformed(`${header}..${signature}`);
    malformed(`${header}.${payload}.`);
  });

  it('refuses characters outside the base64url alphabet instead of skipping them', () => {
    malformed(`${header}.${payload}.${signature}!`);
    malformed(`${header}.${payload}=.${signature}`);
    malformed(`${header}.${payload.slice(0, 10)}+${payload.slice(11)}.${signature}`);
    malformed(`${header}.${payload}.${signature} `);
  });

  it('refuses headers and payloads that are not JSON objects', () => {
    malformed(`${b64('not json')}.${payload}.${signature}`);
    malformed(`${b64([1, 2])}.${payload}.${signature}`);
    malformed(`${header}.${b64('null')}.${signature}`);
    malformed(`${header}.${b64('"a string"')}.${signature}`);
  });

  it('refuses a header without alg, or with a non-string kid or typ', () => {
    malformed(`${b64({ typ: 'at+jwt' })}.${payload}.${signature}`);
    malformed(`${b64({ alg: 'ES256', kid: 7 })}.${payload}.${signature}`);
    malformed(`${b64({ alg: 'ES256', typ: ['at+jwt'] })}.${payload}.${signature}`);
  });

  it('RFC 7515 §4.1.11: refuses critical extensions it does not understand, and b64', () => {
    expect(malformed(`${b64({ alg: 'ES256', crit: ['exp'], exp: 1 })}.${payload}.${signature}`)).toContain('crit');
    malformed(`${b64({ alg: 'ES256', b64: false, crit: ['b64'] })}.${payload}.${signature}`);
  });

  it('refuses tokens longer than the limit before parsing', () => {
    expect(() => parseCompactJws(`${header}.${payload}.${signature}`, 20)).toThrow(/longer than 20/);
  });
});

describe('verified-token cache (LRU)', () => {
  const entry = (usableUntil = Number.MAX_SAFE_INTEGER) => ({ usableUntil } as unknown as CachedToken);

  it('evicts the least recently used entry, also after many evictions', () => {
    const cache = new TokenCache(3);
    for (let i = 0; i < 10_000; i++) cache.set(`t${i}`, entry());
    expect(cache.size).toBe(3);
    cache.get('t9997', 0);
    cache.set('new', entry());
    expect(cache.get('t9998', 0)).toBeUndefined();
    expect(cache.get('t9997', 0)).toBeDefined();
    expect(cache.get('t9999', 0)).toBeDefined();
    expect(cache.get('new', 0)).toBeDefined();
  });

  it('drops entries past usableUntil', () => {
    const cache = new TokenCache(10);
    cache.set('a', entry(1000));
    expect(cache.get('a', 999)).toBeDefined();
    expect(cache.get('a', 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('a hit on a full cache touches no Map (re-inserting each hit made hits 50x slower); the speed itself is for npm run bench', () => {
    const cache = new TokenCache(10_000);
    const prefix = 'x'.repeat(400);
    for (let i = 0; i < 30_000; i++) cache.set(`${prefix}${i}`, entry());
    const hot = `${prefix}29999`;
    const set = vi.spyOn(Map.prototype, 'set');
    const remove = vi.spyOn(Map.prototype, 'delete');
    try {
      for (let i = 0; i < 1000; i++) expect(cache.get(hot, 0)).toBeDefined();
      expect(set).not.toHaveBeenCalled();
      expect(remove).not.toHaveBeenCalled();
    } finally {
      set.mockRestore();
      remove.mockRestore();
    }
    expect(cache.size).toBe(10_000);
  });

  it('maxEntries 0 stores nothing', () => {
    const cache = new TokenCache(0);
    cache.set('a', entry());
    expect(cache.get('a', 0)).toBeUndefined();
  });
});
