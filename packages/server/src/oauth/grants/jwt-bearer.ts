/**
 * RFC 7523 §2.1: a JWT from a trusted external issuer (workload identity) is
 * exchanged for an access token. A federation's rules map the JWT's `iss` + `sub`
 * (and optional claim selectors) to a client, whose grants then apply.
 *
 * The assertion is parsed and its signature checked by the JOSE core the verifier
 * uses; the federation's key set is the core's cache, fetched through the server's
 * outbound fetch. A key set that cannot be fetched is the server's problem, not the
 * caller's: 503 temporarily_unavailable, and the failure is remembered (back-off),
 * so assertions naming the issuer cannot turn each request into a fetch.
 */
import {
  type Algorithm,
  type CachedKey,
  type FetchLike,
  InvalidTokenError,
  IssuerUnavailableError,
  isSupportedAlgorithm,
  type JwksCache,
  type ParsedJws,
  parseCompactJws,
  SUPPORTED_ALGORITHMS,
  verifySignature,
} from '@tessera/verifier/core';
import { matchFederationRule } from '../../domain/federations.js';
import { type KeySetTimings, remoteKeySet, staticKeySet } from '../../outbound/key-sets.js';
import type { Federation } from '../../store/types.js';
import { InvalidGrant, TemporarilyUnavailable, UnauthorizedClient } from '../errors.js';
import { resolveScopes, resolveTarget } from './target.js';
import { type GrantHandler, tokenResponse } from './types.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

const MAX_ASSERTION_LENGTH = 16 * 1024;

export interface JwtBearerOptions {
  /** Clock skew allowed on exp/nbf/iat (seconds). */
  clockTolerance: number;
  /** `exp` at most this far ahead (seconds): a ten-year assertion is a stolen credential waiting to happen. */
  maxAssertionLifetime: number;
  now: () => number;
  /** The server's outbound fetch (outbound/fetch.ts). */
  fetch: FetchLike;
  keySetTimings?: Partial<KeySetTimings>;
}

export function jwtBearer(options: JwtBearerOptions): GrantHandler & { clientAuthentication: 'optional' } {
  /** federation id -> its key set, rebuilt when the federation's key source changes. */
  const keySets = new Map<string, { source: string; keys: JwksCache | Promise<JwksCache> }>();

  function keySetOf(federation: Federation): JwksCache | Promise<JwksCache> {
    const source = federation.jwksUri ?? JSON.stringify(federation.jwks);
    const cached = keySets.get(federation.id);
    if (cached !== undefined && cached.source === source) return cached.keys;
    const keys = federation.jwksUri !== null
      ? remoteKeySet(federation.jwksUri, { fetch: options.fetch, now: options.now, ...(options.keySetTimings ? { timings: options.keySetTimings } : {}) })
      : staticKeySet(federation.jwks);
    keySets.set(federation.id, { source, keys });
    return keys;
  }

  /** The federation's keys that may have signed; [] when none; throws IssuerUnavailableError on an outage. */
  async function candidateKeys(federation: Federation, alg: Algorithm, kid: string | undefined): Promise<CachedKey[]> {
    try {
      return await (await keySetOf(federation)).getKeys(alg, kid);
    } catch (error) {
      if (error instanceof InvalidTokenError) return [];
      throw error;
    }
  }

  return {
    grantType: JWT_BEARER,
    clientAuthentication: 'optional',
    async handle(context) {
      const { tenant, params, client: authenticated, issuer } = context;
      const assertion = params.require('assertion');
      let jws: ParsedJws;
      try {
        jws = parseCompactJws(assertion, MAX_ASSERTION_LENGTH);
      } catch (error) {
        if (error instanceof InvalidTokenError) throw new InvalidGrant(`the assertion must be a signed JWT (compact serialization): ${error.message}`);
        throw error;
      }
      const alg = jws.header.alg;
      if (!isSupportedAlgorithm(alg)) throw new InvalidGrant(`the assertion alg must be one of ${SUPPORTED_ALGORITHMS.join(', ')}`);
      const federations = tenant.federations.filter((f) => f.issuer === jws.payload['iss']);
      if (federations.length === 0) throw new InvalidGrant('the assertion issuer is not trusted by this tenant');

      let problem: string | null = null;
      let unavailable: IssuerUnavailableError | null = null;
      for (const federation of federations) {
        let keys: CachedKey[];
        try {
          keys = await candidateKeys(federation, alg, jws.header.kid);
        } catch (error) {
          if (!(error instanceof IssuerUnavailableError)) throw error;
          unavailable = error;
          continue;
        }
        if (keys.length === 0) {
          problem ??= 'no key of the issuer matches its kid and alg';
          continue;
        }
        const signed = keys.some((key) => {
          const prepared = key.prepared.get(alg);
          return prepared !== undefined && verifySignature(prepared, jws.signingInput, jws.signature);
        });
        if (!signed) {
          problem ??= 'the signature does not verify';
          continue;
        }
        const claimProblem = checkClaims(jws.payload, federation, tenant.issuer, options);
        if (claimProblem !== null) {
          problem = claimProblem;
          continue;
        }
        const clientId = matchFederationRule(federation, jws.payload);
        if (clientId === null) continue;
        const entry = await tenant.client(clientId);
        const client = entry?.client;
        if (entry === null || client === undefined || client.disabled) throw new InvalidGrant('the assertion maps to a client that is disabled or gone');
        if (authenticated !== null && authenticated.client.clientId !== clientId) {
          throw new UnauthorizedClient('the assertion maps to a different client than the one authenticated');
        }
        if (authenticated === null) context.rateLimit(clientId);
        const target = resolveTarget(tenant, entry, params);
        const scopes = resolveScopes(target, params.get('scope'));
        return tokenResponse(await issuer.issue({ tenant, client, api: target.api, scopes }));
      }
      // A federation whose keys could not be fetched might have accepted the assertion:
      // the caller should retry, not give up.
      if (unavailable !== null) {
        throw new TemporarilyUnavailable('the federated issuer\'s keys could not be fetched; retry later');
      }
      throw new InvalidGrant(problem === null ? 'no federation rule matches the assertion subject' : `the assertion is not valid: ${problem}`);
    },
  };
}

/** RFC 7523 §3 items 1 to 6 for a verified assertion; null when they hold, else what failed. */
function checkClaims(payload: Record<string, unknown>, federation: Federation, tenantIssuer: string, options: JwtBearerOptions): string | null {
  const { iss, sub, aud, exp, nbf, iat } = payload;
  const now = options.now() / 1000;
  const skew = options.clockTolerance;
  if (iss !== federation.issuer) return 'claim "iss" is not the federation\'s issuer (RFC 7523 §3 item 1)';
  if (typeof sub !== 'string' || sub === '') return 'claim "sub" is required (RFC 7523 §3 item 2)';
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
  const accepted = federation.audience !== null ? [federation.audience] : [tenantIssuer, `${tenantIssuer}/token`];
  if (!audiences.some((a) => accepted.includes(a))) return 'claim "aud" does not name this authorization server (RFC 7523 §3 item 3)';
  if (!isNumericDate(exp)) return 'claim "exp" is required (RFC 7523 §3 item 4)';
  if (exp <= now - skew) return 'it has expired (RFC 7523 §3 item 4)';
  if (exp > now + options.maxAssertionLifetime + skew) {
    return `claim "exp" is too far ahead: at most ${options.maxAssertionLifetime} seconds`;
  }
  if (nbf !== undefined && (!isNumericDate(nbf) || nbf > now + skew)) return 'it is not valid yet: "nbf" is in the future (RFC 7523 §3 item 5)';
  if (iat !== undefined && (!isNumericDate(iat) || iat > now + skew)) return 'claim "iat" is in the future (RFC 7523 §3 item 6)';
  return null;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
