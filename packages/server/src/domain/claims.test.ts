import { describe, expect, it } from 'vitest';
import { assertClaimConditions, assertCustomClaims, claimsMatch, conditionMatches, copyMappedClaims, mergeCustomClaims } from './claims.js';
import { ValidationError } from './errors.js';

describe('claim conditions', () => {
  it('exact (bare string or equals), prefix and one-of match string claims only', () => {
    expect(conditionMatches('prod', 'prod')).toBe(true);
    expect(conditionMatches({ equals: 'prod' }, 'production')).toBe(false);
    expect(conditionMatches({ prefix: 'repo:acme/' }, 'repo:acme/app')).toBe(true);
    expect(conditionMatches({ prefix: 'repo:acme/' }, 'repo:other/app')).toBe(false);
    expect(conditionMatches({ oneOf: ['a', 'b'] }, 'b')).toBe(true);
    expect(conditionMatches({ oneOf: ['a', 'b'] }, 'c')).toBe(false);
    for (const notAString of [['prod'], { value: 'prod' }, 1, true, null, undefined]) {
      expect(conditionMatches('prod', notAString)).toBe(false);
      expect(conditionMatches({ oneOf: ['prod'] }, notAString)).toBe(false);
    }
  });

  it('every condition must hold, on own properties only', () => {
    expect(claimsMatch({ a: 'x', b: { prefix: 'y' } }, { a: 'x', b: 'yz' })).toBe(true);
    expect(claimsMatch({ a: 'x', b: { prefix: 'y' } }, { a: 'x' })).toBe(false);
    expect(claimsMatch({ toString: { prefix: 'f' } }, {})).toBe(false);
    expect(claimsMatch(undefined, {})).toBe(true);
  });

  it('malformed conditions are refused with the rule and claim named', () => {
    expect(() => assertClaimConditions({ ns: { regex: 'x' } }, 'rules[2]')).toThrow(/rules\[2\], claim "ns": give exactly one of/);
    expect(() => assertClaimConditions({ ns: { oneOf: ['a', 1] } }, 'r')).toThrow(/oneOf must be a list of 1 to 100 strings/);
    expect(() => assertClaimConditions({ ns: { prefix: '' } }, 'r')).toThrow(/non-empty/);
    expect(() => assertClaimConditions({ ns: ['a'] }, 'r')).toThrow(ValidationError);
    expect(() => assertClaimConditions({ ns: 'a', env: { oneOf: ['x'] } }, 'r')).not.toThrow();
  });
});

describe('custom claims', () => {
  it('refuses registered names, and bounds count, name length and size', () => {
    for (const name of ['sub', 'iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'client_id', 'scope', 'cnf', 'act', 'may_act', 'typ', 'azp', 'auth_time', 'acr', 'amr', 'active', 'token_type', 'username']) {
      expect(() => assertCustomClaims({ [name]: 1 }), name).toThrow(/registered claim/);
    }
    expect(() => assertCustomClaims(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`c${i}`, i])))).toThrow(/at most 20/);
    expect(() => assertCustomClaims({ ['x'.repeat(65)]: 1 })).toThrow(/1 to 64 characters/);
    expect(() => assertCustomClaims({ '9lives': 1 })).toThrow(/not starting with a digit/);
    expect(() => assertCustomClaims({ blob: 'x'.repeat(4100) })).toThrow(/at most 4096 bytes/);
    expect(() => assertCustomClaims({ tenant_id: 'acme', roles: ['a'], 'https://example.com/claims/tier': 'gold' })).not.toThrow();
  });

  it('later sets win, registered names never pass, and __proto__ is just a name', () => {
    const merged = mergeCustomClaims({ env: 'dev', sub: 'evil' }, { env: 'prod' }, JSON.parse('{"__proto__": {"x": 1}}'));
    expect(merged).toEqual(JSON.parse('{"env": "prod", "__proto__": {"x": 1}}'));
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
  });

  it('copies mapped claims, leaving out absent and oversized values', () => {
    const copied = copyMappedClaims({ k8s_namespace: 'namespace', repo: 'repository', big: 'blob', missing: 'nope' }, { namespace: 'prod', repository: 'acme/app', blob: 'x'.repeat(2000) });
    expect(copied).toEqual({ k8s_namespace: 'prod', repo: 'acme/app' });
  });
});
