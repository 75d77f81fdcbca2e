/**
 * RFC 7523 §2.1: a JWT from a trusted external issuer (workload identity) is
 * exchanged for an access token. A workload federation's rules map the JWT's `iss` +
 * `sub` (and claim conditions) to a client, whose grants then apply; its claim
 * mappings copy claims of the JWT into the token; its replay protection applies.
 *
 * The assertion is verified by the federated-JWT verifier on the JOSE core (one
 * parser, one key-set cache, the server's outbound fetch). A key set that cannot be
 * fetched is the server's problem, not the caller's: 503 temporarily_unavailable,
 * and the failure is remembered (back-off), so assertions naming the issuer cannot
 * turn each request into a fetch.
 */
import { copyMappedClaims } from '../../domain/claims.js';
import { matchFederationRule } from '../../domain/federations.js';
import { InvalidGrant, TemporarilyUnavailable, UnauthorizedClient } from '../errors.js';
import { FederatedJwtError, type FederatedJwtVerifier, peekJwt } from './federated-jwt.js';
import { resolveScopes, resolveTarget } from './target.js';
import { type GrantHandler, tokenResponse } from './types.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export interface JwtBearerOptions {
  /** `exp` at most this far ahead (seconds): a ten-year assertion is a stolen credential waiting to happen. */
  maxAssertionLifetime: number;
}

export function jwtBearer(verifier: FederatedJwtVerifier, options: JwtBearerOptions): GrantHandler & { clientAuthentication: 'optional' } {
  return {
    grantType: JWT_BEARER,
    clientAuthentication: 'optional',
    async handle(context) {
      const { tenant, params, client: authenticated, issuer } = context;
      const assertion = params.require('assertion');
      const iss = peekJwt(assertion)?.iss ?? null;
      if (iss === null) throw new InvalidGrant('the assertion must be a signed JWT (compact serialization) with an "iss"');
      const federations = tenant.federations.filter((f) => f.kind === 'workload' && f.issuer === iss);
      if (federations.length === 0) throw new InvalidGrant('the assertion issuer is not trusted by this tenant');

      let problem: string | null = null;
      let unavailable = false;
      for (const federation of federations) {
        let payload: Record<string, unknown>;
        try {
          payload = await verifier.verify(federation, assertion, {
            audience: federation.audience !== null ? [federation.audience] : [tenant.issuer, `${tenant.issuer}/token`],
            maxLifetime: options.maxAssertionLifetime,
          });
        } catch (error) {
          if (!(error instanceof FederatedJwtError)) throw error;
          if (error.code === 'keys-unavailable') unavailable = true;
          else problem ??= error.message;
          continue;
        }
        const clientId = matchFederationRule(federation, payload);
        if (clientId === null) continue;
        const entry = await tenant.client(clientId);
        const client = entry?.client;
        if (entry === null || client === undefined || client.disabled) throw new InvalidGrant('the assertion maps to a client that is disabled or gone');
        if (authenticated !== null && authenticated.client.clientId !== clientId) {
          throw new UnauthorizedClient('the assertion maps to a different client than the one authenticated');
        }
        if (authenticated === null) context.rateLimit(client);
        const target = resolveTarget(tenant, entry, params);
        const scopes = resolveScopes(target, params.get('scope'));
        try {
          await verifier.checkReplay(federation, payload);
        } catch (error) {
          if (error instanceof FederatedJwtError) throw new InvalidGrant(`the assertion is not valid: ${error.message}`);
          throw error;
        }
        return tokenResponse(await issuer.issue({ tenant, client, api: target.api, scopes, grantClaims: target.grant.customClaims, subjectClaims: copyMappedClaims(federation.claimMappings, payload) }));
      }
      // A federation whose keys could not be fetched might have accepted the assertion:
      // the caller should retry, not give up.
      if (unavailable) throw new TemporarilyUnavailable('the federated issuer\'s keys could not be fetched; retry later');
      throw new InvalidGrant(problem === null ? 'no federation rule matches the assertion subject' : `the assertion is not valid: ${problem}`);
    },
  };
}
