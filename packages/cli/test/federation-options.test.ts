import { describe, expect, it } from 'vitest';
import { parseClaims } from '../src/claims.js';
import { parseExchangeRule, parseRule } from '../src/commands/federations.js';

describe('federation and claim options', () => {
  it('--rule claim selectors: exact, ^= prefix, |= one of', () => {
    expect(parseRule('*=>c1;repository^=acme/;ref|=refs/heads/main|refs/heads/release;env=prod', '')).toEqual({
      subject: '*',
      clientId: 'c1',
      claims: { repository: { prefix: 'acme/' }, ref: { oneOf: ['refs/heads/main', 'refs/heads/release'] }, env: 'prod' },
    });
  });

  it('--exchange: audience, clients and selectors', () => {
    expect(parseExchangeRule('api://orders=>svc1,svc2;tid=corp', '')).toEqual({ audience: 'api://orders', clients: ['svc1', 'svc2'], claims: { tid: 'corp' } });
    expect(() => parseExchangeRule('api://orders=>', '')).toThrow(/names no client/);
    expect(() => parseExchangeRule('=>svc', '')).toThrow(/audience=>clientId/);
  });

  it('--claim values are JSON when they parse, strings otherwise', () => {
    expect(parseClaims(['env=prod', 'tier=3', 'roles=["a","b"]', 'flag=true', 'url=https://x.example/a=b'], '')).toEqual({
      env: 'prod', tier: 3, roles: ['a', 'b'], flag: true, url: 'https://x.example/a=b',
    });
    expect(() => parseClaims(['=x'], '')).toThrow(/name=value/);
    expect(() => parseClaims(['a=1', 'a=2'], '')).toThrow(/twice/);
  });
});
