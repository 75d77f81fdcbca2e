/**
 * RFC 7523 §2.1: a JWT from a trusted external issuer (workload identity) is
 * exchanged for an access token. A federation's rules map the JWT's `iss` + `sub`
 * (and optional claim selectors) to a client, whose grants then apply.
 */
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, type JWTPayload, jwtVerify } from 'jose';
import { ACCEPTED_ASYMMETRIC_ALGS } from '../../crypto/signing.js';
import { matchFederationRule } from '../../domain/federations.js';
import type { Federation } from '../../store/types.js';
import { InvalidGrant, TemporarilyUnavailable, UnauthorizedClient } from '../errors.js';
import { resolveScopes, resolveTarget } from './target.js';
import { type GrantHandler, tokenResponse } from './types.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

type KeySet = ReturnType<typeof createRemoteJWKSet>;

export function jwtBearer(options: { clockTolerance: number; now: () => number }): GrantHandler & { clientAuthentication: 'optional' } {
  const keySets = new Map<string, { source: string; keys: KeySet }>();

  function keySetOf(federation: Federation): KeySet {
    const source = federation.jwksUri ?? JSON.stringify(federation.jwks);
    const cached = keySets.get(federation.id);
    if (cached !== undefined && cached.source === source) return cached.keys;
    const keys = federation.jwksUri !== null
      ? createRemoteJWKSet(new URL(federation.jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 })
      : (createLocalJWKSet(federation.jwks as { keys: never[] }) as unknown as KeySet);
    keySets.set(federation.id, { source, keys });
    return keys;
  }

  return {
    grantType: JWT_BEARER,
    clientAuthentication: 'optional',
    async handle(context) {
      const { tenant, params, client: authenticated, issuer } = context;
      const assertion = params.require('assertion');
      const unverified = decodePayload(assertion);
      const federations = tenant.federations.filter((f) => f.issuer === unverified.iss);
      if (federations.length === 0) throw new InvalidGrant('the assertion issuer is not trusted by this tenant');
      let lastError: unknown = null;
      for (const federation of federations) {
        let payload: JWTPayload;
        try {
          ({ payload } = await jwtVerify(assertion, keySetOf(federation), {
            issuer: federation.issuer,
            audience: federation.audience ?? [tenant.issuer, `${tenant.issuer}/token`],
            algorithms: [...ACCEPTED_ASYMMETRIC_ALGS],
            clockTolerance: options.clockTolerance,
            currentDate: new Date(options.now()),
            requiredClaims: ['exp', 'sub'],
          }));
        } catch (error) {
          lastError = error;
          continue;
        }
        const clientId = matchFederationRule(federation, payload);
        if (clientId === null) continue;
        const client = tenant.clients.get(clientId);
        if (client === undefined || client.disabled) throw new InvalidGrant('the assertion maps to a client that is disabled or gone');
        if (authenticated !== null && authenticated.client.clientId !== clientId) {
          throw new UnauthorizedClient('the assertion maps to a different client than the one authenticated');
        }
        if (authenticated === null) context.rateLimit(client);
        const target = resolveTarget(tenant, client, params);
        const scopes = resolveScopes(target, params.get('scope'));
        return tokenResponse(await issuer.issue({ tenant, client, api: target.api, scopes }));
      }
      if (lastError instanceof joseErrors.JWKSTimeout) {
        throw new TemporarilyUnavailable('the federated issuer\'s keys could not be fetched');
      }
      throw new InvalidGrant(lastError === null ? 'no federation rule matches the assertion subject' : `the assertion is not valid: ${describeJoseError(lastError)}`);
    },
  };
}

function decodePayload(assertion: string): { iss?: unknown } {
  const parts = assertion.split('.');
  if (parts.length !== 3) throw new InvalidGrant('the assertion must be a signed JWT (compact serialization)');
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8'));
    if (typeof payload !== 'object' || payload === null) throw new Error('not an object');
    return payload as { iss?: unknown };
  } catch {
    throw new InvalidGrant('the assertion payload is not a JSON object');
  }
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'it has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim "${error.claim}" ${error.reason === 'check_failed' ? 'is not acceptable' : error.reason}`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the issuer matches its kid';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'its alg is not allowed';
  if (error instanceof joseErrors.JWKSTimeout) return 'the issuer\'s keys could not be fetched in time';
  if (error instanceof joseErrors.JOSEError) return error.code;
  return 'it could not be verified';
}

