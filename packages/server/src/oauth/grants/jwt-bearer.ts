/**
 * RFC 7523 §2.1: a JWT from a trusted external issuer (workload identity) is
 * exchanged for an access token. A federation's rules map the JWT's `iss` + `sub`
 * (and claim conditions) to a client, whose grants then apply; the federation's
 * claim mappings copy claims of the JWT into the token.
 */
import { copyMappedClaims } from '../../domain/claims.js';
import { matchFederationRule } from '../../domain/federations.js';
import { InvalidGrant, TemporarilyUnavailable, UnauthorizedClient } from '../errors.js';
import { decodeUnverifiedPayload, FederatedJwtError, type FederatedJwtVerifier } from './federated-jwt.js';
import { resolveScopes, resolveTarget } from './target.js';
import { type GrantHandler, tokenResponse } from './types.js';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export function jwtBearer(verifier: FederatedJwtVerifier): GrantHandler & { clientAuthentication: 'optional' } {
  return {
    grantType: JWT_BEARER,
    clientAuthentication: 'optional',
    async handle(context) {
      const { tenant, params, client: authenticated, issuer } = context;
      const assertion = params.require('assertion');
      const unverified = decodeUnverifiedPayload(assertion);
      if (unverified === null) throw new InvalidGrant('the assertion must be a signed JWT (compact serialization) with a JSON object payload');
      const federations = tenant.federations.filter((f) => f.kind === 'workload' && f.issuer === unverified['iss']);
      if (federations.length === 0) throw new InvalidGrant('the assertion issuer is not trusted by this tenant');
      let lastError: unknown = null;
      for (const federation of federations) {
        let payload: Record<string, unknown>;
        try {
          payload = await verifier.verify(federation, assertion, { audience: federation.audience !== null ? [federation.audience] : [tenant.issuer, `${tenant.issuer}/token`] });
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
        if (authenticated === null) context.rateLimit(clientId);
        const target = resolveTarget(tenant, client, params);
        const scopes = resolveScopes(target, params.get('scope'));
        await rethrowAsGrantError(verifier.checkReplay(federation, payload));
        return tokenResponse(await issuer.issue({ tenant, client, api: target.api, scopes, subjectClaims: copyMappedClaims(federation.claimMappings, payload) }));
      }
      if (lastError instanceof FederatedJwtError && lastError.code === 'keys-unavailable') {
        throw new TemporarilyUnavailable('the federated issuer\'s keys could not be fetched');
      }
      throw new InvalidGrant(lastError instanceof FederatedJwtError ? `the assertion is not valid: ${lastError.message}` : 'no federation rule matches the assertion subject');
    },
  };
}

async function rethrowAsGrantError(check: Promise<void>): Promise<void> {
  try {
    await check;
  } catch (error) {
    if (error instanceof FederatedJwtError) throw new InvalidGrant(`the assertion is not valid: ${error.message}`);
    throw error;
  }
}
