/**
 * Schemas of the management API: they validate every request, strip undeclared
 * fields from every response (so a secret hash or a private key cannot leak by
 * accident), and are the source of the OpenAPI document.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { CLIENT_ID_PATTERN, MIN_CALLER_SECRET_LENGTH } from '../domain/clients.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Millis = Type.Integer({ description: 'epoch milliseconds' });
const Lifetime = Type.Integer({ minimum: 60, maximum: 86_400, description: 'seconds, 60 to 86400' });

export const ErrorBody = Type.Object(
  { error: Type.String({ description: 'stable error code' }), message: Type.String() },
  { $id: 'Error' },
);

export const TenantParams = Type.Object({ tenant: Type.String() });
export const ItemParams = Type.Object({ tenant: Type.String(), id: Type.String() });
export const SecretParams = Type.Object({ tenant: Type.String(), id: Type.String(), secretId: Type.String() });
/** Query values arrive as text and are not coerced (bodies must not be): digits, checked here. */
const Limit = Type.String({ pattern: '^[1-9][0-9]{0,5}$', description: 'page size, 1 to 200 (larger values mean 200)' });
const Millis_ = Type.String({ pattern: '^[0-9]{1,16}$', description: 'epoch ms' });
export const PageQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
});
/** Search and sort of a list; the cursor of a page belongs to its sort and order (another is 400). */
const Search = Type.String({ minLength: 1, maxLength: 200, description: 'case-insensitive substring of the id or the name' });
const Order = Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'default asc (the audit: desc, newest first)' });
export const ClientListQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  q: Type.Optional(Type.String({ ...Search, description: 'case-insensitive substring of the client id or the name' })),
  sort: Type.Optional(Type.Union([Type.Literal('createdAt'), Type.Literal('clientId'), Type.Literal('name'), Type.Literal('lastUsedAt')], { description: 'default createdAt; lastUsedAt desc lists the most recently used first and the never used last' })),
  order: Type.Optional(Order),
  dormantDays: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: 'only clients older than this many days that got no token in them (never used included)' })),
});
export const ApiListQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  q: Type.Optional(Type.String({ ...Search, description: 'case-insensitive substring of the identifier or the name' })),
  sort: Type.Optional(Type.Union([Type.Literal('createdAt'), Type.Literal('identifier'), Type.Literal('name')], { description: 'default createdAt' })),
  order: Type.Optional(Order),
});

const SigningAlg = Type.Union([Type.Literal('ES256'), Type.Literal('RS256'), Type.Literal('PS256'), Type.Literal('EdDSA')]);
const AuthMethod = Type.Union([
  Type.Literal('client_secret_basic'),
  Type.Literal('client_secret_post'),
  Type.Literal('private_key_jwt'),
  Type.Literal('tls_client_auth'),
  Type.Literal('self_signed_tls_client_auth'),
]);

/** Public JWK members only: a private member can never be echoed back. */
export const PublicJwk = Type.Object({
  kty: Type.String(),
  kid: Type.Optional(Type.String()),
  alg: Type.Optional(Type.String()),
  use: Type.Optional(Type.String()),
  crv: Type.Optional(Type.String()),
  x: Type.Optional(Type.String()),
  y: Type.Optional(Type.String()),
  n: Type.Optional(Type.String()),
  e: Type.Optional(Type.String()),
  x5c: Type.Optional(Type.Array(Type.String())),
  'x5t#S256': Type.Optional(Type.String()),
});
/** Request JWKS: accepted loosely, then checked by the domain (which refuses private members). */
const JwksInput = Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 20 }) });
const JwksOutput = Type.Object({ keys: Type.Array(PublicJwk) });

/**
 * Static claims added to tokens. Accepted loosely here (any JSON object) so that the
 * domain can answer 422 with the rule broken: a registered name, too many, too large.
 */
const CustomClaimsInput = Type.Record(Type.String(), Type.Unknown(), {
  description: 'claims added to every token (JSON values); registered names (iss, sub, aud, exp, nbf, iat, jti, client_id, scope, cnf, act, ...) are refused; at most 20 claims, names up to 64 characters, 4096 bytes of JSON',
});
const CustomClaimsOutput = Type.Record(Type.String(), Type.Unknown());
const TrustDomain = Type.String({ minLength: 1, maxLength: 2048, description: 'audience of transaction tokens (a URI or a name such as trust-domain.example); null: the issuer' });
const DpopNonceRequired = Type.Boolean({ description: 'DPoP proofs must carry the server nonce from DPoP-Nonce (RFC 9449 §8)' });
const Quota = Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'token requests per minute; 0: no quota; null: the default' });

export const CreateTenantBody = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    signingAlg: Type.Optional(SigningAlg),
    accessTokenLifetime: Type.Optional(Nullable(Lifetime)),
    tokenQuotaPerMinute: Type.Optional(Nullable(Quota)),
    trustDomain: Type.Optional(Nullable(TrustDomain)),
    dpopNonceRequired: Type.Optional(DpopNonceRequired),
  },
  { additionalProperties: false },
);
export const UpdateTenantBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    accessTokenLifetime: Type.Optional(Nullable(Lifetime)),
    tokenQuotaPerMinute: Type.Optional(Nullable(Quota)),
    signingAlg: Type.Optional(SigningAlg),
    trustDomain: Type.Optional(Nullable(TrustDomain)),
    dpopNonceRequired: Type.Optional(DpopNonceRequired),
  },
  { additionalProperties: false, description: 'a new signingAlg is published now as the next key and signs from the next rotation' },
);
export const TenantBody = Type.Object(
  { id: Type.String(), name: Type.String(), signingAlg: SigningAlg, accessTokenLifetime: Nullable(Type.Integer()), tokenQuotaPerMinute: Type.Optional(Nullable(Type.Integer())), trustDomain: Type.Optional(Type.String()), dpopNonceRequired: Type.Optional(Type.Boolean()), issuer: Type.String(), createdAt: Millis },
  { $id: 'Tenant' },
);

/** What a client is: the fields of creation and of PATCH alike. */
const clientSettings = {
  name: Type.String({ minLength: 1, maxLength: 100 }),
  tokenEndpointAuthMethod: Type.Optional(AuthMethod),
  jwks: Type.Optional(Nullable(JwksInput)),
  jwksUri: Type.Optional(Nullable(Type.String({ maxLength: 2048 }))),
  tlsClientAuthSubjectDn: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 1024 }))),
  accessTokenLifetime: Type.Optional(Nullable(Lifetime)),
  tokenQuotaPerMinute: Type.Optional(Nullable(Quota)),
  dpopBoundAccessTokens: Type.Optional(Type.Boolean({ description: 'token requests must carry a DPoP proof (RFC 9449 §5.2)' })),
  txnTokenService: Type.Optional(Type.Boolean({ description: 'may mint transaction tokens (draft-ietf-oauth-transaction-tokens)' })),
  disabled: Type.Optional(Type.Boolean()),
  customClaims: Type.Optional(Nullable(CustomClaimsInput)),
};
/** A client id chosen by the caller: safe in URLs, file names and Basic auth (RFC 6749 §2.3.1 form-encodes it there). */
export const ClientIdPattern = CLIENT_ID_PATTERN.source;
/** A secret the caller brings (a migration from another server): as strong as a generated one. */
const CallerSecret = Type.String({
  minLength: MIN_CALLER_SECRET_LENGTH,
  maxLength: 512,
  description: 'a secret of your own (at least 32 characters), e.g. carried over from another server; stored hashed, never returned; without it the server generates one',
});
export const CreateClientBody = Type.Object(
  {
    clientId: Type.Optional(Type.String({ pattern: ClientIdPattern, description: 'chosen id, unique in the tenant (409 when taken); without it the server generates one' })),
    clientSecret: Type.Optional(CallerSecret),
    ...clientSettings,
  },
  { additionalProperties: false },
);
export const ClientSettingsBody = Type.Object(clientSettings, { additionalProperties: false });
export const CreateSecretBody = Type.Object({ clientSecret: Type.Optional(CallerSecret) }, { additionalProperties: false });
export const UpdateClientBody = Type.Partial(ClientSettingsBody, { additionalProperties: false, minProperties: 1 });

const SecretSummary = Type.Object({ id: Type.String(), createdAt: Millis, lastUsedAt: Type.Optional(Millis) });
const clientFields = {
  clientId: Type.String(),
  name: Type.String(),
  tenantId: Type.String(),
  tokenEndpointAuthMethod: AuthMethod,
  jwks: Nullable(JwksOutput),
  jwksUri: Nullable(Type.String()),
  tlsClientAuthSubjectDn: Nullable(Type.String()),
  accessTokenLifetime: Nullable(Type.Integer()),
  tokenQuotaPerMinute: Type.Optional(Nullable(Type.Integer())),
  dpopBoundAccessTokens: Type.Optional(Type.Boolean()),
  txnTokenService: Type.Optional(Type.Boolean()),
  disabled: Type.Boolean(),
  customClaims: CustomClaimsOutput,
  issuer: Type.String(),
  tokenEndpoint: Type.String(),
  discoveryEndpoint: Type.String(),
  createdAt: Millis,
  updatedAt: Millis,
};
export const ClientBody = Type.Object({ ...clientFields, secrets: Type.Array(SecretSummary) }, { $id: 'Client' });
/** A client in the list: with when it last got a token, the figure usage/top reports as lastUsedAt. */
export const ClientListItemBody = Type.Object(
  { ...clientFields, secrets: Type.Array(SecretSummary), lastUsedAt: Nullable(Type.Integer({ description: 'epoch ms of its last token; null: never, or before the usage kept' })) },
  { $id: 'ClientListItem' },
);
export const CreatedClientBody = Type.Object(
  {
    ...clientFields,
    secrets: Type.Array(SecretSummary),
    clientSecret: Type.Optional(Type.String({ description: 'shown once; only a hash is stored (absent when the caller gave the secret)' })),
  },
  { $id: 'CreatedClient' },
);
export const CreatedSecretBody = Type.Object(
  { id: Type.String(), clientSecret: Type.Optional(Type.String({ description: 'shown once; only a hash is stored (absent when the caller gave the secret)' })), createdAt: Millis },
  { $id: 'CreatedSecret' },
);

const ScopeBody = Type.Object({ value: Type.String({ pattern: '^[A-Za-z0-9_.:\\-/]{1,128}$' }), description: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false });
export const CreateApiBody = Type.Object(
  {
    identifier: Type.String({ minLength: 1, maxLength: 512 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    scopes: Type.Array(ScopeBody, { maxItems: 500 }),
    accessTokenLifetime: Type.Optional(Nullable(Lifetime)),
    tokenFormat: Type.Optional(Type.Union([Type.Literal('jwt'), Type.Literal('opaque')])),
    introspectors: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 100 })),
  },
  { additionalProperties: false },
);
export const UpdateApiBody = Type.Partial(CreateApiBody, { additionalProperties: false, minProperties: 1 });
export const ApiBody = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.String(),
    identifier: Type.String(),
    name: Type.String(),
    scopes: Type.Array(Type.Object({ value: Type.String(), description: Type.Optional(Type.String()) })),
    accessTokenLifetime: Nullable(Type.Integer()),
    tokenFormat: Type.String(),
    introspectors: Type.Array(Type.String()),
    createdAt: Millis,
    updatedAt: Millis,
  },
  { $id: 'Api' },
);

export const CreateGrantBody = Type.Object(
  {
    clientId: Type.String({ minLength: 1, maxLength: 128 }),
    audience: Type.String({ minLength: 1, maxLength: 512 }),
    scopes: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:\\-/]{1,128}$' }), { maxItems: 500 }),
    customClaims: Type.Optional(CustomClaimsInput),
  },
  { additionalProperties: false },
);
export const UpdateGrantBody = Type.Object(
  {
    scopes: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:\\-/]{1,128}$' }), { maxItems: 500 })),
    customClaims: Type.Optional(Nullable(CustomClaimsInput)),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const GrantQuery = Type.Object({
  clientId: Type.Optional(Type.String()),
  audience: Type.Optional(Type.String()),
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  q: Type.Optional(Type.String({ ...Search, description: 'case-insensitive substring of the client id or the audience' })),
  sort: Type.Optional(Type.Union([Type.Literal('createdAt'), Type.Literal('clientId'), Type.Literal('audience')], { description: 'default createdAt' })),
  order: Type.Optional(Order),
});
export const GrantBody = Type.Object(
  { id: Type.String(), tenantId: Type.String(), clientId: Type.String(), apiId: Type.String(), audience: Type.String(), scopes: Type.Array(Type.String()), customClaims: CustomClaimsOutput, createdAt: Millis },
  { $id: 'Grant' },
);

export const KeyBody = Type.Object(
  {
    kid: Type.String(),
    alg: Type.String(),
    status: Type.String({ description: 'next | active | retired' }),
    publicJwk: PublicJwk,
    createdAt: Millis,
    activatedAt: Nullable(Millis),
    retiredAt: Nullable(Millis),
    publishUntil: Nullable(Millis),
  },
  { $id: 'Key' },
);
export const RotateKeysBody = Type.Object(
  { emergency: Type.Optional(Type.Boolean({ description: 'delete the active key at once instead of retiring it' })) },
  { additionalProperties: false },
);

/**
 * A condition on one string claim. Accepted loosely (any JSON) so that the domain
 * answers 422 naming the rule and the claim when one is malformed.
 */
const ClaimCondition = Type.Unknown({
  description: 'a string (exact match), {"equals": s}, {"prefix": s} or {"oneOf": [s, ...]}; a claim that is absent or not a string never matches',
});
const ClaimConditions = Type.Record(Type.String(), ClaimCondition, { description: 'claim name -> condition; all must hold' });
const ClaimConditionsOutput = Type.Record(Type.String(), Type.Unknown());
export const FederationRule = Type.Object(
  {
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'the external `sub`, exact, or a prefix ending in *; absent: any subject (claims must then say something)' })),
    claims: Type.Optional(ClaimConditions),
    clientId: Type.String({ minLength: 1, maxLength: 128 }),
  },
  { additionalProperties: false },
);
export const ExchangeRule = Type.Object(
  {
    audience: Type.String({ minLength: 1, maxLength: 512, description: 'an `aud` value of the subject tokens (the API or client they were issued for at the external issuer)' }),
    clients: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: 100, description: 'clients of this tenant that may exchange such tokens' }),
    claims: Type.Optional(ClaimConditions),
  },
  { additionalProperties: false },
);
const ReplayProtection = Type.Object(
  {
    mode: Type.Union([Type.Literal('off'), Type.Literal('single-use'), Type.Literal('max-age')]),
    maxAgeSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'max-age only: seconds since the token\'s iat' })),
  },
  { additionalProperties: false, description: 'off (default: platform tokens are presented repeatedly), single-use (each jti once, across replicas), or max-age (seconds since iat)' },
);
const FederationKind = Type.Union([Type.Literal('workload'), Type.Literal('subject')], {
  description: 'workload (default): JWTs stand in for a client (RFC 7523); subject: user tokens are exchanged on their behalf (RFC 8693)',
});
export const CreateFederationBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    kind: Type.Optional(FederationKind),
    issuer: Type.String({ minLength: 1, maxLength: 2048 }),
    jwksUri: Type.Optional(Nullable(Type.String({ maxLength: 2048, description: 'without jwksUri and jwks: found by OpenID discovery of the issuer' }))),
    jwks: Type.Optional(Nullable(JwksInput)),
    audience: Type.Optional(Nullable(Type.String({ maxLength: 512 }))),
    rules: Type.Optional(Type.Array(FederationRule, { maxItems: 100, description: 'workload federations: at least one' })),
    exchangeRules: Type.Optional(Type.Array(ExchangeRule, { maxItems: 100, description: 'subject federations: at least one' })),
    claimMappings: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'claim in issued tokens -> claim of the external JWT to copy' })),
    replayProtection: Type.Optional(ReplayProtection),
  },
  { additionalProperties: false },
);
export const UpdateFederationBody = Type.Partial(CreateFederationBody, {
  additionalProperties: false,
  minProperties: 1,
  description: 'the fields given replace the federation\'s (rules and exchangeRules as a whole); checked like a new federation',
});
export const FederationBody = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.String(),
    name: Type.String(),
    kind: Type.String(),
    issuer: Type.String(),
    jwksUri: Nullable(Type.String()),
    jwks: Nullable(JwksOutput),
    audience: Nullable(Type.String()),
    rules: Type.Array(Type.Object({ subject: Type.Optional(Type.String()), claims: Type.Optional(ClaimConditionsOutput), clientId: Type.String() })),
    exchangeRules: Type.Array(Type.Object({ audience: Type.String(), clients: Type.Array(Type.String()), claims: Type.Optional(ClaimConditionsOutput) })),
    claimMappings: Type.Record(Type.String(), Type.String()),
    replayProtection: Type.Object({ mode: Type.String(), maxAgeSeconds: Type.Optional(Type.Integer()) }),
    createdAt: Millis,
  },
  { $id: 'Federation' },
);

export const AuditQuery = Type.Object({
  limit: Type.Optional(Limit),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  action: Type.Optional(Type.String()),
  actor: Type.Optional(Type.String()),
  targetType: Type.Optional(Type.String()),
  targetId: Type.Optional(Type.String()),
  since: Type.Optional(Millis_),
  until: Type.Optional(Millis_),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { description: 'default desc: newest first' })),
});
export const AuditBody = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.String(),
    actor: Type.String(),
    action: Type.String(),
    targetType: Type.String(),
    targetId: Type.String(),
    details: Type.Record(Type.String(), Type.Unknown()),
    at: Millis,
  },
  { $id: 'AuditEntry' },
);

export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String()) });
}

export type CreateTenant = Static<typeof CreateTenantBody>;
export type UpdateTenant = Static<typeof UpdateTenantBody>;
export type CreateClient = Static<typeof CreateClientBody>;
export type UpdateClient = Static<typeof UpdateClientBody>;
export type CreateApi = Static<typeof CreateApiBody>;
export type UpdateApi = Static<typeof UpdateApiBody>;
export type CreateGrant = Static<typeof CreateGrantBody>;
export type UpdateGrant = Static<typeof UpdateGrantBody>;
export type CreateFederation = Static<typeof CreateFederationBody>;
export type UpdateFederation = Static<typeof UpdateFederationBody>;
export type CreateSecret = Static<typeof CreateSecretBody>;
export type RotateKeys = Static<typeof RotateKeysBody>;
export type ClientListQueryString = Static<typeof ClientListQuery>;
export type ApiListQueryString = Static<typeof ApiListQuery>;
export type GrantQueryString = Static<typeof GrantQuery>;
export type AuditQueryString = Static<typeof AuditQuery>;

/** The management API's resources on the wire: the types of the response schemas above. */
export type TenantResource = Static<typeof TenantBody>;
export type ClientResource = Static<typeof ClientBody>;
export type ClientListItemResource = Static<typeof ClientListItemBody>;
export type CreatedClientResource = Static<typeof CreatedClientBody>;
export type CreatedSecretResource = Static<typeof CreatedSecretBody>;
export type ApiResource = Static<typeof ApiBody>;
export type GrantResource = Static<typeof GrantBody>;
export type KeyResource = Static<typeof KeyBody>;
export type FederationResource = Static<typeof FederationBody>;
export type AuditEntryResource = Static<typeof AuditBody>;
