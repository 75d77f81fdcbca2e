/** RFC 6749 §4.4: a client asks for a token for itself, for what it was granted. */
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
    const issued = await issuer.issue({
      tenant,
      client: client.client,
      api: target.api,
      scopes,
      grantClaims: target.grant.customClaims,
      ...(client.certificate !== undefined ? { certificateThumbprint: certificateThumbprint(client.certificate) } : {}),
    });
    return tokenResponse(issued);
  },
};
