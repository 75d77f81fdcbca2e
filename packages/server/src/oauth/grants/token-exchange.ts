/**
 * RFC 8693 token exchange, on-behalf-of: a service exchanges the token it received
 * for one to call a downstream API. The subject token is either
 *
 * - an access token this tenant issued (JWT or opaque): its audience must be the
 *   acting client's own API (an API that lists the client among its
 *   `introspectors`, or whose identifier is the client id); or
 * - a user's token from an external issuer that a federation of kind "subject"
 *   trusts (`subject_token_type` access_token, jwt or id_token): verified with the
 *   issuer's keys (`iss`, `exp`, `nbf`/`iat`, signature), and acceptable only if an
 *   exchange rule lets this client exchange tokens addressed to one of its `aud`
 *   values. Its `sub` becomes `<issuer>#<sub>` (an issuer identifier never holds a
 *   `#`, so subjects of two issuers cannot collide), and the federation's claim
 *   mappings copy selected user claims.
 *
 * Either way:
 * - anything unacceptable about the subject token is invalid_request (§2.2.2);
 * - `sub` stays the (namespaced) original subject; `act` names the acting client,
 *   nested for chains (§4.1); `client_id` is the acting client;
 * - the acting client's grant on the downstream API is the ceiling, and scopes never
 *   widen: a scope that the subject token's own API defines is issued only if the
 *   subject token carried it;
 * - the new token never outlives the subject token.
 */
import { copyMappedClaims, mergeCustomClaims } from '../../domain/claims.js';
import { exchangeAllowed } from '../../domain/federations.js';
import type { InspectedToken } from '../../domain/tokens.js';
import type { TenantContext } from '../../domain/tenant-context.js';
import type { CustomClaims } from '../../store/types.js';
import type { AuthenticatedClient } from '../client-auth/types.js';
import { InvalidRequest, InvalidScope, TemporarilyUnavailable } from '../errors.js';
import { certificateThumbprint } from '../mtls.js';
import type { Params } from '../params.js';
import { FederatedJwtError, type FederatedJwtVerifier, peekJwt } from './federated-jwt.js';
import { resolveScopes, resolveTarget } from './target.js';
import { issueTransactionToken, TXN_TOKEN_TYPE, type TxnTokenOptions } from './txn-token.js';
import { authenticatedClient, type GrantContext, type GrantHandler, type TokenResponse } from './types.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3 token type identifiers. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const ACCEPTED_SUBJECT_TYPES = new Set([ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ID_TOKEN_TYPE]);
/** A user's token from an external issuer: `exp` at most a day ahead (longer is no session token). */
const MAX_SUBJECT_TOKEN_LIFETIME = 86_400;

/** What the two kinds of subject token resolve to before a token is issued. */
export interface Subject {
  sub: string;
  act?: unknown;
  exp: number;
  /** Scopes the subject's API defines but the subject token lacked: never issued. */
  withheld: ReadonlySet<string>;
  claims: CustomClaims;
  /** Runs once the request is otherwise acceptable (replay protection uses the token up). */
  commit?: () => Promise<void>;
  /** The external token's own scopes (`scope` or `scp`): the ceiling of a transaction token. */
  scopes?: ReadonlySet<string>;
}

export function tokenExchange(verifier: FederatedJwtVerifier, transactionTokens: TxnTokenOptions): GrantHandler {
  return {
    grantType: TOKEN_EXCHANGE,
    async handle(context) {
      const { tenant, params } = context;
      const actor = authenticatedClient(context);
      // draft-ietf-oauth-transaction-tokens: an exchange for a transaction token (txn-token.ts).
      if (params.get('requested_token_type') === TXN_TOKEN_TYPE) {
        return issueTransactionToken(context, actor, transactionTokens, (iss, token) => externalSubject(verifier, tenant, actor, token, iss));
      }
      const subjectToken = params.require('subject_token');
      const subjectTokenType = params.require('subject_token_type');
      if (!ACCEPTED_SUBJECT_TYPES.has(subjectTokenType)) {
        throw new InvalidRequest(`subject_token_type must be one of ${[...ACCEPTED_SUBJECT_TYPES].join(', ')} (RFC 8693 §3)`);
      }
      if (params.has('actor_token') || params.has('actor_token_type')) {
        throw new InvalidRequest('actor_token is not supported: the authenticated client is the actor');
      }
      const requestedType = params.get('requested_token_type');
      if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) {
        throw new InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE} or ${TXN_TOKEN_TYPE}`);
      }
      const peeked = subjectToken.includes('.') ? peekJwt(subjectToken) : null;
      const iss = peeked?.iss ?? null;
      const external = iss !== null && iss !== tenant.issuer;
      // RFC 9068 §2.1: an at+jwt is an access token; presented as an ID token, it is mislabelled.
      if (subjectTokenType === ID_TOKEN_TYPE && /^(application\/)?at\+jwt$/i.test(peeked?.typ ?? '')) {
        throw new InvalidRequest('subject_token is an access token (typ at+jwt), not an id_token');
      }
      if (!external && subjectTokenType === ID_TOKEN_TYPE) throw new InvalidRequest('Tessera issues no ID tokens: an id_token subject must come from a federated issuer');
      const subject = external
        ? await externalSubject(verifier, tenant, actor, subjectToken, iss)
        : await ownSubject(context, actor, subjectToken, params);
      return issueOnBehalf(context, actor, subject);
    },
  };
}

/** A live access token of this tenant, for the acting client's own API. */
async function ownSubject(context: GrantContext, actor: AuthenticatedClient, subjectToken: string, params: Params): Promise<Subject> {
  const { tenant, inspector } = context;
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
  return {
    sub: subject.claims.sub,
    act: subject.claims.act,
    exp: subject.claims.exp,
    withheld: new Set(subjectApi.scopes.map((s) => s.value).filter((s) => !subjectScopes.has(s))),
    claims: await carriedClaims(tenant, subject),
  };
}

/**
 * Along a chain, the user claims a subject token carries travel on; the static
 * claims its own client and grant added do not (the next client has its own).
 */
async function carriedClaims(tenant: TenantContext, subject: InspectedToken): Promise<CustomClaims> {
  const { claims } = subject;
  const subjectClient = await tenant.client(claims.client_id);
  const subjectApi = tenant.apisByIdentifier.get(claims.aud);
  const grant = subjectClient !== null && subjectApi !== undefined ? tenant.grantFor(subjectClient, subjectApi.id) : undefined;
  const staticNames = new Set([...Object.keys(subjectClient?.client.customClaims ?? {}), ...Object.keys(grant?.customClaims ?? {})]);
  const own = Object.fromEntries(Object.entries(claims).filter(([name]) => !staticNames.has(name))) as CustomClaims;
  return mergeCustomClaims(own);
}

/** A user's token from an issuer that a subject federation trusts. */
export async function externalSubject(verifier: FederatedJwtVerifier, tenant: TenantContext, actor: AuthenticatedClient, subjectToken: string, iss: string): Promise<Subject> {
  const federations = tenant.federations.filter((f) => f.kind === 'subject' && f.issuer === iss);
  if (federations.length === 0) throw new InvalidRequest('subject_token\'s issuer is not trusted by this tenant for token exchange');
  const actorId = actor.client.clientId;
  let refusal = 'subject_token is not acceptable';
  for (const federation of federations) {
    let payload: Record<string, unknown>;
    try {
      payload = await verifier.verify(federation, subjectToken, { maxLifetime: MAX_SUBJECT_TOKEN_LIFETIME });
    } catch (error) {
      if (error instanceof FederatedJwtError && error.code === 'keys-unavailable') throw new TemporarilyUnavailable('the subject token issuer\'s keys could not be fetched');
      if (!(error instanceof FederatedJwtError)) throw error;
      refusal = `subject_token is not valid: ${error.message}`;
      continue;
    }
    const decision = exchangeAllowed(federation, actorId, payload);
    if (decision !== 'allowed') {
      refusal = {
        'wrong-audience': 'subject_token\'s audience is not one that this tenant accepts for exchange',
        'client-not-allowed': 'this client may not exchange tokens addressed to subject_token\'s audience',
        'claims-mismatch': 'subject_token\'s claims do not meet the exchange rule for this client',
      }[decision];
      continue;
    }
    const act = externalActor(federation.issuer, payload['act']);
    return {
      sub: `${federation.issuer}#${String(payload['sub'])}`,
      ...(act !== undefined ? { act } : {}),
      exp: Number(payload['exp']),
      withheld: new Set(),
      scopes: scopesOf(payload),
      claims: copyMappedClaims(federation.claimMappings, payload),
      commit: async () => {
        try {
          await verifier.checkReplay(federation, payload);
        } catch (error) {
          if (error instanceof FederatedJwtError) throw new InvalidRequest(`subject_token is not valid: ${error.message}`);
          throw error;
        }
      },
    };
  }
  throw new InvalidRequest(refusal);
}

/** How deep a chain of external actors is copied; deeper ones are cut off. */
const MAX_EXTERNAL_ACTORS = 8;

/**
 * An external issuer's `act` chain (RFC 8693 §4.1), qualified as `sub` is
 * (`<issuer>#<sub>`) so that its names cannot pass for this tenant's clients
 * downstream. Only `sub` and the nested `act` are kept; an actor without a string
 * `sub` ends the chain.
 */
export function externalActor(issuer: string, act: unknown, depth = 0): Record<string, unknown> | undefined {
  if (depth >= MAX_EXTERNAL_ACTORS || typeof act !== 'object' || act === null || Array.isArray(act)) return undefined;
  const { sub, act: nested } = act as Record<string, unknown>;
  if (typeof sub !== 'string' || sub === '') return undefined;
  const inner = externalActor(issuer, nested, depth + 1);
  return { sub: `${issuer}#${sub}`, ...(inner !== undefined ? { act: inner } : {}) };
}

/** `scope` (space-separated) or `scp` (a string or a list, as Entra ID sends). */
function scopesOf(payload: Record<string, unknown>): ReadonlySet<string> {
  const { scope, scp } = payload;
  if (typeof scope === 'string') return new Set(scope.split(' ').filter(Boolean));
  if (typeof scp === 'string') return new Set(scp.split(' ').filter(Boolean));
  if (Array.isArray(scp)) return new Set(scp.filter((s): s is string => typeof s === 'string'));
  return new Set();
}

async function issueOnBehalf(context: GrantContext, actor: AuthenticatedClient, subject: Subject): Promise<TokenResponse> {
  const { tenant, params, issuer } = context;
  const target = resolveTarget(tenant, actor.entry, params);
  // Never widen: what the subject's API defines but the subject token lacked stays out.
  const ceiling = new Set(target.grant.scopes.filter((s) => !subject.withheld.has(s)));
  const scopes = resolveScopes(target, params.get('scope'), ceiling);
  if (scopes.length === 0) throw new InvalidScope('no scope of the downstream API can be issued on behalf of this subject');
  await subject.commit?.();
  const actorId = actor.client.clientId;
  const act = { sub: actorId, ...(subject.act !== undefined ? { act: subject.act } : {}) };
  const issued = await issuer.issue({
    tenant,
    client: actor.client,
    api: target.api,
    scopes,
    subject: subject.sub,
    act: act as Record<string, unknown>,
    notAfter: subject.exp,
    subjectClaims: subject.claims,
    grantClaims: target.grant.customClaims,
    ...(actor.certificate !== undefined ? { certificateThumbprint: certificateThumbprint(actor.certificate) } : {}),
  });
  return {
    access_token: issued.accessToken,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: 'Bearer',
    expires_in: issued.expiresIn,
    scope: issued.scope,
  };
}
