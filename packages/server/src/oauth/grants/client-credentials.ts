/** RFC 6749 §4.4: a client asks for a token for itself, for what it was granted. */
import type { IssueRequest } from '../../domain/tokens.js';
import { certificateThumbprint } from '../mtls.js';
import { resolveScopes, resolveTarget } from './target.js';
import { authenticatedClient, type GrantHandler, tokenResponse } from './types.js';

export const clientCredentials: GrantHandler = {
  grantType: 'client_credentials',
  async handle(context) {
    const { tenant, params, issuer } = context;
    const client = authenticatedClient(context);
    const target = resolveTarget(tenant, client.entry, params);
    const scopes = resolveScopes(target, params.get('scope'));
    const request: IssueRequest = { tenant, client: client.client, api: target.api, scopes, grantClaims: target.grant.customClaims };
    // Assigned rather than spread: no throw-away objects on every token.
    if (client.certificate !== undefined) request.certificateThumbprint = certificateThumbprint(client.certificate);
    const issued = await issuer.issue(request);
    return tokenResponse(issued);
  },
};
