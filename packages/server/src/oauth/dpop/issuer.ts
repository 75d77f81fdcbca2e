/**
 * The issuer a grant sees for one token request: tokens get bound to the request's
 * DPoP key (RFC 9449 §6), and a client registered with `dpopBoundAccessTokens` gets no
 * token without a proof (RFC 9449 §5.2, `dpop_bound_access_tokens`). Applied to every
 * issuance, so a grant that learns its client late (jwt-bearer) is covered as well.
 */
import type { TokenIssuing } from '../../domain/tokens.js';
import { InvalidDpopProof } from '../errors.js';
import type { DpopBinding } from './token-endpoint.js';

export function senderConstrainedIssuer(issuer: TokenIssuing, binding: DpopBinding | null): TokenIssuing {
  return {
    lifetimeOf: (tenant, client, api) => issuer.lifetimeOf(tenant, client, api),
    issue(request) {
      if (binding !== null) return issuer.issue({ ...request, dpopJkt: binding.jkt });
      if (request.client.dpopBoundAccessTokens === true) {
        return Promise.reject(new InvalidDpopProof('this client must send a DPoP proof: its tokens are DPoP-bound (RFC 9449 §5.2)'));
      }
      return issuer.issue(request);
    },
  };
}
