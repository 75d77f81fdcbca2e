/**
 * `createVerifier`: the one object a resource server keeps. It combines the compact JWS
 * checks (jws.ts), the key set (jwks-cache.ts), the claim checks (claims.ts), the
 * verified-token cache (token-cache.ts) and, for opaque tokens, introspection.
 *
 * Order of checks for a JWT, RFC 9068 §4: structure, `typ`, `alg` against the allow-list,
 * key by `kid`, signature, then `iss`, `aud`, `exp`/`nbf`/`iat`, and per call scopes and
 * the certificate binding.
 */
import { checkBinding, checkClaimSet, checkScopes, checkTime } from './claims.js';
import type { AccessTokenClaims, CertificateInput, CheckedClaims, ClaimRules, ScopeRequirement } from './claims.js';
import { DEFAULTS } from './defaults.js';
import { createDpopChecker, type DpopOptions, type DpopPresentation } from './dpop.js';
import { Discovery } from './discovery.js';
import type { IssuerMetadata } from './discovery.js';
import { InvalidTokenError, IssuerUnavailableError } from './errors.js';
import type { FetchLike } from './fetch.js';
import { Introspector } from './introspection.js';
import { JwksCache } from './jwks-cache.js';
import { isSupportedAlgorithm, parseCompactJws, verifySignature } from './jws.js';
import type { Algorithm } from './jws.js';
import { TokenCache } from './token-cache.js';

export interface JwksCacheOptions {
  /** Seconds the key set is kept when the issuer sends no max-age. Default 600. */
  defaultMaxAge?: number;
  /** Lower bound on the issuer's max-age, seconds. Default 30. */
  minMaxAge?: number;
  /** Upper bound on the issuer's max-age, seconds. Default 86400. */
  maxMaxAge?: number;
  /** At most one refetch for unknown kids per this many seconds. Default 30. */
  cooldown?: number;
  /** Seconds past max-age the keys stay usable while the issuer is unreachable. Default 86400. */
  maxStale?: number;
}

export interface IntrospectionOptions {
  clientId: string;
  clientSecret: string;
  /** Skips discovery of `introspection_endpoint`. */
  endpoint?: string;
  /** Seconds a positive answer is reused (never beyond the token's exp); 0 disables. Default 30. */
  cacheMaxAge?: number;
  /**
   * Which tokens go to the introspection endpoint: `'opaque'` (default) introspects what
   * is not a compact JWS and verifies JWTs locally; `'all'` introspects every token, so
   * revoked JWTs are refused too.
   */
  tokens?: 'opaque' | 'all';
}

export interface VerifierOptions {
  /** The issuer identifier, compared exactly with `iss` and the discovery document's `issuer`. */
  issuer: string;
  /** This API's identifier; the token's `aud` must contain it (or one of them). */
  audience: string | readonly string[];
  /** Skips discovery for the key set. */
  jwksUri?: string;
  /** A fixed JSON Web Key Set; nothing is fetched. */
  jwks?: { keys: readonly object[] };
  /** Allowed JWS algorithms. Default every supported asymmetric one; `none` and HS* are refused. */
  algorithms?: readonly string[];
  /** Accepted `typ` header values (`application/` prefix optional), or false to skip the check. Default `at+jwt`. */
  typ?: string | readonly string[] | false;
  /** Seconds of clock skew allowed for exp, nbf, iat. Default 5. */
  clockTolerance?: number;
  /** Refuse tokens whose `iat` is older than this many seconds (iat becomes required). */
  maxTokenAge?: number;
  /** Claims that must be present besides iss, aud and exp, e.g. `['sub', 'client_id', 'jti']`. */
  requiredClaims?: readonly string[];
  /** Longer tokens are refused unparsed. Default 16384. */
  maxTokenLength?: number;
  /** Verified-token cache; `false` turns it off. Default `{ maxEntries: 10000 }`. */
  cache?: { maxEntries?: number } | false;
  jwksCache?: JwksCacheOptions;
  /** Seconds per request to discovery, JWKS and introspection. Default 5. */
  timeout?: number;
  /** Seconds after a failed request during which the failure is answered from memory. Default 5. */
  failureBackoff?: number;
  /** fetch implementation; default globalThis.fetch. */
  fetch?: FetchLike;
  /** Clock in epoch milliseconds; default Date.now. */
  now?: () => number;
  /** RFC 7662 introspection for opaque tokens. */
  introspection?: IntrospectionOptions;
  /**
   * DPoP-bound tokens (RFC 9449 §7): on by default, so tokens with `cnf.jkt` are accepted
   * with their proof; `false` refuses every DPoP-bound token.
   */
  dpop?: DpopOptions | false;
}

export interface VerifyOptions extends ScopeRequirement {
  /**
   * The client certificate of the connection (DER, PEM or X509Certificate). Required when
   * the token is bound to one (`cnf.x5t#S256`, RFC 8705 §3).
   */
  certificate?: CertificateInput | null;
  /**
   * How the request presented the token (scheme, `DPoP` proof, method and URL). Required
   * when the token is DPoP-bound (`cnf.jkt`, RFC 9449 §7); the adapters fill it in.
   */
  dpop?: DpopPresentation;
}

export interface Verifier {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Returns the token's claims (frozen) or throws a VerifierError. */
  verify(token: string, options?: VerifyOptions): Promise<Readonly<AccessTokenClaims>>;
  /** The issuer's discovered metadata. */
  metadata(): Promise<IssuerMetadata>;
  /** Proof algorithms accepted for DPoP-bound tokens (the `algs` of a DPoP challenge); null when DPoP is off. */
  readonly dpopAlgorithms: readonly string[] | null;
}

const FORBIDDEN_ALGORITHM = /^(none|HS\d+)$/i;
const NO_OPTIONS: VerifyOptions = {};

function normalizeTyp(value: string): string {
  const lower = value.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

function seconds(value: number | undefined, fallback: number, name: string): number {
  const result = value ?? fallback;
  if (typeof result !== 'number' || Number.isNaN(result) || result < 0) throw new TypeError(`${name} must be a number of seconds >= 0`);
  return result;
}

export function createVerifier(options: VerifierOptions): Verifier {
  const { issuer } = options;
  if (typeof issuer !== 'string' || !URL.canParse(issuer)) throw new TypeError('issuer must be an absolute URL');
  const audiences = typeof options.audience === 'string' ? [options.audience] : [...(options.audience ?? [])];
  if (audiences.length === 0 || audiences.some((value) => typeof value !== 'string' || value.length === 0)) {
    throw new TypeError('audience must be a non-empty string or a list of them');
  }

  const algorithms = (options.algorithms ?? DEFAULTS.algorithms).map((alg) => {
    if (FORBIDDEN_ALGORITHM.test(alg)) throw new TypeError(`algorithm ${alg} is never accepted`);
    if (!isSupportedAlgorithm(alg)) throw new TypeError(`algorithm ${alg} is not supported`);
    return alg;
  });
  const allowedAlgorithms = new Set<string>(algorithms);
  const typ = options.typ === false ? undefined : new Set((typeof options.typ === 'string' ? [options.typ] : options.typ ?? DEFAULTS.typ).map(normalizeTyp));

  const now = options.now ?? Date.now;
  const fetchImpl: FetchLike = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  const timeoutMs = seconds(options.timeout, DEFAULTS.timeout, 'timeout') * 1000;
  const failureBackoffMs = seconds(options.failureBackoff, DEFAULTS.failureBackoff, 'failureBackoff') * 1000;
  const maxTokenLength = options.maxTokenLength ?? DEFAULTS.maxTokenLength;
  const rules: ClaimRules = {
    issuer,
    audiences,
    clockToleranceS: seconds(options.clockTolerance, DEFAULTS.clockTolerance, 'clockTolerance'),
    maxTokenAgeS: options.maxTokenAge === undefined ? undefined : seconds(options.maxTokenAge, 0, 'maxTokenAge'),
    requiredClaims: options.requiredClaims ?? [],
  };

  const discovery = new Discovery({ issuer, fetch: fetchImpl, timeoutMs, failureBackoffMs, now });
  const endpointFromDiscovery = (member: 'jwks_uri' | 'introspection_endpoint', code: 'ERR_JWKS_UNAVAILABLE' | 'ERR_INTROSPECTION_FAILED') =>
    async (): Promise<string> => {
      const value = (await discovery.get())[member];
      if (value === undefined) throw new IssuerUnavailableError(code, `the issuer's metadata has no ${member}`);
      return value;
    };

  const jwksTimings = options.jwksCache ?? {};
  const remoteJwks = new JwksCache({
    resolveUri: options.jwksUri !== undefined ? () => Promise.resolve(options.jwksUri as string) : endpointFromDiscovery('jwks_uri', 'ERR_JWKS_UNAVAILABLE'),
    fetch: fetchImpl,
    now,
    algorithms,
    timeoutMs,
    failureBackoffMs,
    defaultMaxAgeMs: seconds(jwksTimings.defaultMaxAge, DEFAULTS.jwks.defaultMaxAge, 'jwksCache.defaultMaxAge') * 1000,
    minMaxAgeMs: seconds(jwksTimings.minMaxAge, DEFAULTS.jwks.minMaxAge, 'jwksCache.minMaxAge') * 1000,
    maxMaxAgeMs: seconds(jwksTimings.maxMaxAge, DEFAULTS.jwks.maxMaxAge, 'jwksCache.maxMaxAge') * 1000,
    cooldownMs: seconds(jwksTimings.cooldown, DEFAULTS.jwks.cooldown, 'jwksCache.cooldown') * 1000,
    maxStaleMs: seconds(jwksTimings.maxStale, DEFAULTS.jwks.maxStale, 'jwksCache.maxStale') * 1000,
  });
  const staticJwks = options.jwks === undefined ? undefined : JwksCache.fromStatic(options.jwks, algorithms);
  // Surface a broken static set at the first verify, not as an unhandled rejection now.
  staticJwks?.catch(() => undefined);

  const maxEntries = options.cache === false ? 0 : options.cache?.maxEntries ?? DEFAULTS.tokenCacheMaxEntries;
  const tokenCache = new TokenCache(maxEntries);

  const introspection = options.introspection;
  const introspector = introspection === undefined ? undefined : new Introspector({
    clientId: introspection.clientId,
    clientSecret: introspection.clientSecret,
    resolveEndpoint: introspection.endpoint !== undefined
      ? () => Promise.resolve(introspection.endpoint as string)
      : endpointFromDiscovery('introspection_endpoint', 'ERR_INTROSPECTION_FAILED'),
    fetch: fetchImpl,
    timeoutMs,
  });
  const introspectionCacheMs = seconds(introspection?.cacheMaxAge, DEFAULTS.introspection.cacheMaxAge, 'introspection.cacheMaxAge') * 1000;
  const introspectAll = introspection?.tokens === 'all';
  const dpop = createDpopChecker(options.dpop, algorithms, rules.clockToleranceS);

  /** RFC 9449 §7: a DPoP-bound token only with its proof; an unbound one never with the DPoP scheme. */
  function checkSenderConstraint(checked: CheckedClaims, token: string, verifyOptions: VerifyOptions, nowMs: number): Promise<void> | undefined {
    if (dpop === null) {
      if (checked.boundJkt !== undefined) throw new InvalidTokenError('ERR_DPOP_REQUIRED', 'the token is DPoP-bound ("cnf.jkt") and this verifier does not accept DPoP', { claim: 'cnf' });
      return undefined;
    }
    return dpop.check(checked, token, verifyOptions.dpop, nowMs);
  }

  function checkPerCall(checked: CheckedClaims, verifyOptions: VerifyOptions, nowMs: number): Readonly<AccessTokenClaims> {
    checkTime(checked, rules, nowMs / 1000);
    checkScopes(checked, verifyOptions);
    checkBinding(checked, verifyOptions.certificate);
    return checked.claims;
  }

  async function verifyJwt(token: string, nowMs: number): Promise<CheckedClaims> {
    const jws = parseCompactJws(token, maxTokenLength);
    const { alg, kid } = jws.header;
    if (typ !== undefined && (jws.header.typ === undefined || !typ.has(normalizeTyp(jws.header.typ)))) {
      throw new InvalidTokenError(
        'ERR_TYP_INVALID',
        `the header "typ" is ${JSON.stringify(jws.header.typ)}, expected ${[...typ].join(' or ')} (RFC 9068 §4)`,
        { claim: 'header.typ' },
      );
    }
    if (!allowedAlgorithms.has(alg)) {
      throw new InvalidTokenError('ERR_ALG_NOT_ALLOWED', `the header "alg" ${JSON.stringify(alg)} is not allowed`, { claim: 'header.alg' });
    }
    const jwks = staticJwks ? await staticJwks : remoteJwks;
    const key = await jwks.getKey(alg as Algorithm, kid);
    const prepared = key.prepared.get(alg as Algorithm);
    if (prepared === undefined || !verifySignature(prepared, jws.signingInput, jws.signature)) {
      throw new InvalidTokenError('ERR_SIGNATURE_INVALID', 'the signature does not verify with the issuer\'s key', { claim: 'signature' });
    }
    const checked = checkClaimSet(jws.payload, rules, { expRequired: true, issRequired: true });
    checkTime(checked, rules, nowMs / 1000);
    tokenCache.set(token, { checked, key, usableUntil: ((checked.exp as number) + rules.clockToleranceS) * 1000 });
    return checked;
  }

  async function verifyByIntrospection(token: string, nowMs: number): Promise<CheckedClaims> {
    if (token.length === 0 || token.length > maxTokenLength) throw new InvalidTokenError('ERR_MALFORMED', 'the token is empty or too long');
    const answer = await (introspector as Introspector).introspect(token);
    // The endpoint we asked speaks for the issuer; an answer without iss is about its own token.
    const claims = { ...answer, iss: answer.iss ?? issuer };
    const checked = checkClaimSet(claims, rules, { expRequired: true, issRequired: true });
    checkTime(checked, rules, nowMs / 1000);
    if (introspectionCacheMs > 0) {
      const usableUntil = Math.min(nowMs + introspectionCacheMs, (checked.exp as number) * 1000);
      tokenCache.set(token, { checked, key: undefined, usableUntil });
    }
    return checked;
  }

  function looksLikeJws(token: string): boolean {
    const first = token.indexOf('.');
    return first !== -1 && token.indexOf('.', first + 1) !== -1;
  }

  async function verify(token: string, verifyOptions: VerifyOptions = NO_OPTIONS): Promise<Readonly<AccessTokenClaims>> {
    if (typeof token !== 'string') throw new InvalidTokenError('ERR_MALFORMED', 'the token is not a string');
    const nowMs = now();
    const cached = tokenCache.get(token, nowMs);
    if (cached !== undefined && (cached.key === undefined || (staticJwks !== undefined || remoteJwks.holds(cached.key)))) {
      const claims = checkPerCall(cached.checked, verifyOptions, nowMs);
      await checkSenderConstraint(cached.checked, token, verifyOptions, nowMs);
      return claims;
    }
    const checked = introspector !== undefined && (introspectAll || !looksLikeJws(token))
      ? await verifyByIntrospection(token, nowMs)
      : await verifyJwt(token, nowMs);
    checkScopes(checked, verifyOptions);
    checkBinding(checked, verifyOptions.certificate);
    await checkSenderConstraint(checked, token, verifyOptions, nowMs);
    return checked.claims;
  }

  return {
    issuer,
    audiences,
    verify,
    metadata: () => discovery.get(),
    dpopAlgorithms: dpop?.algorithms ?? null,
  };
}
