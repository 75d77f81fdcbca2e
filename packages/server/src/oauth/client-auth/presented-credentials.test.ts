import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../errors.js';
import { Params, parseForm } from '../params.js';
import { MAX_CLAIMED_CLIENT_ID, PresentedCredentials } from './presented-credentials.js';

const presented = (authorization: string | undefined, body = '') => new PresentedCredentials(authorization, new Params(parseForm(body)));
const basicOf = (userPass: string) => `Basic ${Buffer.from(userPass, 'utf8').toString('base64')}`;
const unsignedJwt = (payload: Record<string, unknown>) =>
  `${Buffer.from(JSON.stringify({ alg: 'ES256' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2ln`;

describe('Basic credentials', () => {
  it('RFC 6749 §2.3.1: client_id and client_secret are form-urlencoded before base64, and decoded after it', () => {
    const credentials = presented(basicOf('my%20client:s%3Acret+with%2Bplus'));
    expect(credentials.basic).toEqual({ ok: true, clientId: 'my client', secret: 's:cret with+plus' });
  });

  it('RFC 7617 §2: the user-id ends at the first colon; the password may contain colons', () => {
    expect(presented(basicOf('client:a:b:c')).basic).toEqual({ ok: true, clientId: 'client', secret: 'a:b:c' });
  });

  it('RFC 7617 §2.1: user-id and password are UTF-8', () => {
    expect(presented(basicOf('clïent:sécret')).basic).toEqual({ ok: true, clientId: 'clïent', secret: 'sécret' });
  });

  it('RFC 9110 §11.1: the scheme is case-insensitive', () => {
    expect(presented(basicOf('client:secret').replace('Basic', 'bAsIc')).basic).toEqual({ ok: true, clientId: 'client', secret: 'secret' });
  });

  it('an empty secret is a secret (it just never matches)', () => {
    expect(presented(basicOf('client:')).basic).toEqual({ ok: true, clientId: 'client', secret: '' });
  });

  it.each([
    ['another scheme', 'Bearer abc'],
    ['no credentials after the scheme', 'Basic '],
    ['a value that is not token68 (RFC 9110 §11.2)', 'Basic a b'],
    ['padding inside the token', 'Basic ab=c'],
    ['no colon', basicOf('client-and-secret')],
    ['an empty client id', basicOf(':secret')],
    ['a malformed percent escape (RFC 6749 §2.3.1)', basicOf('client%zz:secret')],
  ])('refuses %s', (_what, header) => {
    const basic = presented(header).basic;
    expect(basic?.ok).toBe(false);
  });

  it('is null without an Authorization header', () => {
    expect(presented(undefined, 'client_id=c&client_secret=s').basic).toBeNull();
  });
});

describe('methods presented', () => {
  it('each credential method on its own', () => {
    expect(presented(basicOf('c:s')).methods).toEqual(['client_secret_basic']);
    expect(presented(undefined, 'client_id=c&client_secret=s').methods).toEqual(['client_secret_post']);
    expect(presented(undefined, 'client_assertion_type=x&client_assertion=y').methods).toEqual(['private_key_jwt']);
    expect(presented(undefined, 'client_assertion_type=x').methods).toEqual(['private_key_jwt']);
    expect(presented(undefined, 'client_id=c').methods).toEqual([]);
  });

  it('RFC 6749 §2.3: more than one method is visible, so it can be refused', () => {
    expect(presented(basicOf('c:s'), 'client_secret=s').methods).toEqual(['client_secret_basic', 'client_secret_post']);
    expect(presented(undefined, 'client_id=c&client_secret=s&client_assertion=a&client_assertion_type=t').methods).toEqual(['client_secret_post', 'private_key_jwt']);
  });

  it('any Authorization header counts as client_secret_basic: it is the only header method', () => {
    expect(presented('Bearer abc').methods).toEqual(['client_secret_basic']);
  });

  it('a parameter sent without a value is omitted (RFC 6749 §3.1)', () => {
    expect(presented(undefined, 'client_id=c&client_secret=').methods).toEqual([]);
  });

  it('RFC 6749 §3.2: a repeated credential parameter is an invalid_request', () => {
    expect(() => presented(undefined, 'client_id=c&client_secret=a&client_secret=b').methods).toThrow(InvalidRequest);
  });

  it('presentsSecret: Basic or client_secret, what can be guessed', () => {
    expect(presented(basicOf('c:s')).presentsSecret).toBe(true);
    expect(presented('Basic !!!').presentsSecret).toBe(true);
    expect(presented(undefined, 'client_id=c&client_secret=s').presentsSecret).toBe(true);
    expect(presented('Bearer x').presentsSecret).toBe(false);
    expect(presented(undefined, `client_assertion=${unsignedJwt({ sub: 'c' })}`).presentsSecret).toBe(false);
  });
});

describe('claimed client id (unverified)', () => {
  it('the Basic user-id first, even when the body names another', () => {
    expect(presented(basicOf('from-header:s'), 'client_id=from-body').claimedClientId).toBe('from-header');
  });

  it('client_id in the body when the header cannot be read or is absent', () => {
    expect(presented('Basic !!!', 'client_id=from-body').claimedClientId).toBe('from-body');
    expect(presented(undefined, 'client_id=from-body&client_secret=s').claimedClientId).toBe('from-body');
  });

  it('RFC 7523 §3 item 2: a client assertion names its client in sub', () => {
    expect(presented(undefined, `client_assertion_type=x&client_assertion=${unsignedJwt({ iss: 'c', sub: 'assertion-client' })}`).claimedClientId).toBe('assertion-client');
    expect(presented(undefined, 'client_assertion=not-a-jwt').claimedClientId).toBeNull();
    expect(presented(undefined, `client_assertion=${unsignedJwt({ sub: 42 })}`).claimedClientId).toBeNull();
  });

  it('never throws, even for repeated parameters (it is read on the error path)', () => {
    expect(presented(undefined, 'client_id=a&client_id=b').claimedClientId).toBe('a');
  });

  it('is bounded in length: a claimed id is attacker-chosen', () => {
    expect(presented(basicOf(`${'x'.repeat(1000)}:s`)).claimedClientId).toHaveLength(MAX_CLAIMED_CLIENT_ID);
  });

  it('is null when nothing names a client', () => {
    expect(presented(undefined, 'grant_type=client_credentials').claimedClientId).toBeNull();
    expect(presented(basicOf(':s')).claimedClientId).toBeNull();
  });
});
