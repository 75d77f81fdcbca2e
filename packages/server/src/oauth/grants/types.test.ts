import { describe, expect, it } from 'vitest';
import { type TokenResponse, tokenResponseJson } from './types.js';

describe('tokenResponseJson', () => {
  it.each<[string, TokenResponse]>([
    ['a JWT with scope', { access_token: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzIn0.c2ln-_', token_type: 'Bearer', expires_in: 3600, scope: 'read write' }],
    ['an opaque token without scope', { access_token: 'AbC-_0123456789', token_type: 'Bearer', expires_in: 60 }],
    ['a DPoP-bound token', { access_token: 'a.b.c', token_type: 'DPoP', expires_in: 1, scope: 'x' }],
    ['RFC 8693 §2.2.1 issued_token_type', { access_token: 'a.b.c', token_type: 'Bearer', expires_in: 5, scope: 's', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' }],
    ['members in another order', { access_token: 'a.b.c', issued_token_type: 'urn:ietf:params:oauth:token-type:txn_token', token_type: 'N_A', expires_in: 5, scope: 's' }],
    ['an undefined scope member', { access_token: 'a.b.c', token_type: 'N_A', expires_in: 5, scope: undefined } as TokenResponse],
    ['values that need escaping', { access_token: 'a"b\\c\u0001é', token_type: 'Bearer', expires_in: 5, scope: 'q"uote' }],
    ['a member it does not know', { access_token: 'a', token_type: 'Bearer', expires_in: 5, extra: 1 } as TokenResponse],
    ['a non-finite expires_in', { access_token: 'a', token_type: 'Bearer', expires_in: Number.NaN }],
  ])('%s: the same text as JSON.stringify (RFC 6749 §5.1)', (_name, response) => {
    expect(tokenResponseJson(response)).toBe(JSON.stringify(response));
  });
});
