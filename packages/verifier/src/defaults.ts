/**
 * Every default of the verifier, in one place. Durations are in seconds, like JWT
 * NumericDates; the `now` option is the only value in milliseconds (it mirrors Date.now).
 */
import type { Algorithm } from './jws.js';

export const DEFAULTS = {
  /** RFC 9068 §4 asks for `at+jwt`; `application/at+jwt` is accepted as the same media type. */
  typ: ['at+jwt'] as readonly string[],
  /** Asymmetric algorithms only. `none` and HMAC cannot be configured at all. */
  algorithms: ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'] as readonly Algorithm[],
  /** Allowed clock skew for exp, nbf and iat. */
  clockTolerance: 5,
  /** Longer tokens are refused before any parsing (Tessera's are under 1 KB). */
  maxTokenLength: 16 * 1024,
  /** Verified-token cache entries. */
  tokenCacheMaxEntries: 10_000,
  jwks: {
    /** Key-set lifetime when the issuer sends no Cache-Control max-age. */
    defaultMaxAge: 600,
    /** Bounds on the issuer's max-age: at least this (no refetch storms on max-age=0)... */
    minMaxAge: 30,
    /** ...and at most this (a rotated-out key is noticed within a day). */
    maxMaxAge: 86_400,
    /** At most one refetch for unknown kids per this many seconds. */
    cooldown: 30,
    /** Keys stay usable this long past their max-age while the issuer is unreachable. */
    maxStale: 86_400,
  },
  /** Per request to discovery, JWKS or introspection. */
  timeout: 5,
  /** After a failed request, the same error is returned without asking again for this long. */
  failureBackoff: 5,
  introspection: {
    /** Positive introspection answers are reused this long, and never beyond the token's exp. */
    cacheMaxAge: 30,
  },
} as const;
