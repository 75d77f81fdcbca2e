/**
 * What client credentials a request presents, read once (RFC 6749 §2.3): which
 * methods it uses, the Basic header's client id and secret (RFC 6749 §2.3.1, RFC 7617),
 * and the client id it claims before anything is verified. Client authentication,
 * back-off, failure logs and usage counting all read a request through this one
 * parser, so they never disagree about who a request claims to be.
 */
import { parseCompactJws } from '@tessera/verifier/core';
import type { Params } from '../params.js';

/** The methods that put a credential in the Authorization header or the body (mTLS puts none there). */
export type CredentialMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** The Basic header's credentials, or why it could not be read. */
export type BasicCredentials = { ok: true; clientId: string; secret: string } | { ok: false; reason: string };

/** Longer assertions are not read for a claimed `sub` (private_key_jwt refuses them too). */
const MAX_ASSERTION_LENGTH = 16 * 1024;
/** Longest claimed client id kept: it is attacker-chosen and ends up in logs and counter keys. */
export const MAX_CLAIMED_CLIENT_ID = 128;

/**
 * RFC 7617 §2 and RFC 9110 §11.1: the scheme is case-insensitive, then one token68
 * (RFC 9110 §11.2: base64 alphabet, padding only at the end). The base64url
 * characters `-` and `_` are accepted too, as Node decodes both alphabets.
 */
const BASIC = /^basic +([A-Za-z0-9+/_-]+=*) *$/i;
const BASIC_SCHEME = /^basic /i;

export class PresentedCredentials {
  readonly #authorization: string | undefined;
  readonly #params: Params;
  #basic: BasicCredentials | null | undefined;
  #methods: readonly CredentialMethod[] | undefined;

  constructor(authorization: string | undefined, params: Params) {
    this.#authorization = authorization;
    this.#params = params;
  }

  /** Whether the request carries an Authorization header (any scheme: it can only mean client_secret_basic here). */
  get hasAuthorizationHeader(): boolean {
    return this.#authorization !== undefined;
  }

  /**
   * Every credential-bearing method the request uses. RFC 6749 §2.3: "The client MUST
   * NOT use more than one authentication method in each request", so more than one
   * is an invalid_request. Repeated parameters throw invalid_request (RFC 6749 §3.2).
   */
  get methods(): readonly CredentialMethod[] {
    if (this.#methods !== undefined) return this.#methods;
    const methods: CredentialMethod[] = [];
    if (this.#authorization !== undefined) methods.push('client_secret_basic');
    if (this.#params.has('client_secret')) methods.push('client_secret_post');
    if (this.#params.has('client_assertion') || this.#params.has('client_assertion_type')) methods.push('private_key_jwt');
    this.#methods = methods;
    return methods;
  }

  /**
   * The Basic header's client id and secret; null without an Authorization header.
   * RFC 6749 §2.3.1: both are application/x-www-form-urlencoded before they become the
   * RFC 7617 user-id and password, so they are form-decoded after the base64; the
   * user-id ends at the first colon (RFC 7617 §2: it cannot contain one).
   */
  get basic(): BasicCredentials | null {
    if (this.#basic === undefined) this.#basic = this.#authorization === undefined ? null : parseBasic(this.#authorization);
    return this.#basic;
  }

  /** Whether the request presents a secret, the credential that can be guessed (Basic or client_secret). */
  get presentsSecret(): boolean {
    return BASIC_SCHEME.test(this.#authorization ?? '') || this.#params.getAll('client_secret').length > 0;
  }

  /**
   * The client id the request claims, unverified (for counting failures, logging them
   * and usage): the Basic user-id when the header can be read, else `client_id` in the
   * body, else a client assertion's `sub` (RFC 7523 §3 item 2), read without verifying
   * it. Never throws, even for repeated parameters; bounded in length.
   */
  get claimedClientId(): string | null {
    const basic = this.basic;
    const claimed = basic?.ok === true ? basic.clientId : (this.#params.getAll('client_id')[0] ?? assertionSubject(this.#params.getAll('client_assertion')[0]));
    return claimed === null || claimed === '' ? null : claimed.slice(0, MAX_CLAIMED_CLIENT_ID);
  }
}

function parseBasic(header: string): BasicCredentials {
  const match = BASIC.exec(header);
  if (match === null) return { ok: false, reason: 'the Authorization header must be "Basic" with base64(client_id:client_secret)' };
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return { ok: false, reason: 'Basic credentials must be client_id:client_secret' };
  try {
    return { ok: true, clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return { ok: false, reason: 'Basic credentials are not valid form-urlencoded values (RFC 6749 §2.3.1)' };
  }
}

/** application/x-www-form-urlencoded decoding of one value (WHATWG URL §5.1): `+` is a space, then percent-decoding. */
export function formDecode(value: string): string {
  // Generated ids and secrets are base64url: nothing to decode, the usual case.
  if (!value.includes('%') && !value.includes('+')) return value;
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

function assertionSubject(assertion: string | undefined): string | null {
  if (assertion === undefined) return null;
  try {
    const sub = parseCompactJws(assertion, MAX_ASSERTION_LENGTH).payload['sub'];
    return typeof sub === 'string' ? sub : null;
  } catch {
    return null;
  }
}
