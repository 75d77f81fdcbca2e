/**
 * RFC 8693 token exchange, on-behalf-of: a service exchanges the access token it
 * received for one to call a downstream API.
 *
 * - the subject token must be a live access token of this tenant whose audience is
 *   the acting client's own API (an API that lists the client among its
 *   `introspectors`, or whose identifier is the client id); anything else is
 *   invalid_request (§2.2.2);
 * - `sub` stays the original subject; `act` names the acting client, nested for
 *   chains (§4.1); `client_id` is the acting client;
 * - the acting client's grant on the downstream API applies, and scopes never widen:
 *   a scope that the subject token's own API defines is issued only if the subject
 *   token carried it;
 * - the new token never outlives the subject token.
 */
import { InvalidRequest, InvalidScope } from '../errors.js';
import { certificateThumbprint } from '../mtls.js';
import { resolveScopes, resolveTarget } from './target.js';
import { authenticatedClient, type GrantHandler } from './types.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCEPTED_SUBJECT_TYPES = new Set([ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE]);

export const tokenExchange: GrantHandler = {
  grantType: TOKEN_EXCHANGE,
  async handle(context) {
    const { tenant, params, issuer, inspector } = context;
    const actor = authenticatedClient(context);
    const subjectToken = params.require('subject_token');
    const subjectTokenType = params.require('subject_token_type');
    if (!ACCEPTED_SUBJECT_TYPES.has(subjectTokenType)) {
      throw new InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE} (RFC 8693 §2.1)`);
    }
    if (params.has('actor_token') || params.has('actor_token_type')) {
      throw new InvalidRequest('actor_token is not supported: the authenticated client is the actor');
    }
    const requestedType = params.get('requested_token_type');
    if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) {
      throw new InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }

    // RFC 8693 §2.2.2: an invalid or unacceptable subject_token is invalid_request.
    const subject = await inspector.inspect(tenant, subjectToken);
    if (subject === null) throw new InvalidRequest('subject_token is invalid, expired or revoked');
    const subjectApi = tenant.apisByIdentifier.get(subject.claims.aud);
    const actorId = actor.client.clientId;
    const ownsSubjectApi = subjectApi !== undefined && (subjectApi.introspectors.includes(actorId) || subjectApi.identifier === actorId);
    if (!ownsSubjectApi) {
      throw new InvalidRequest("subject_token's audience is not this client's own API (list the client in the API's introspectors)");
    }

    const target = resolveTarget(tenant, actor.entry, params);
    if (target.api.id === subjectApi.id) throw new InvalidRequest('exchange for a downstream API, not the API the subject token is for');
    const subjectScopes = new Set((subject.claims.scope ?? '').split(' ').filter(Boolean));
    const subjectApiScopes = new Set(subjectApi.scopes.map((s) => s.value));
    // Never widen: what the subject's API defines but the subject token lacked stays out.
    const ceiling = new Set(target.grant.scopes.filter((s) => !subjectApiScopes.has(s) || subjectScopes.has(s)));
    const scopes = resolveScopes(target, params.get('scope'), ceiling);
    if (scopes.length === 0) throw new InvalidScope('no scope of the downstream API can be issued on behalf of this subject');

    const act = { sub: actorId, ...(subject.claims.act !== undefined ? { act: subject.claims.act } : {}) };
    const issued = await issuer.issue({
      tenant,
      client: actor.client,
      api: target.api,
      scopes,
      subject: subject.claims.sub,
      act,
      notAfter: subject.claims.exp,
      ...(actor.certificate !== undefined ? { certificateThumbprint: certificateThumbprint(actor.certificate) } : {}),
    });
    return {
      access_token: issued.accessToken,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope: issued.scope,
    };
  },
};
