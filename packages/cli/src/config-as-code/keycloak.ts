/**
 * Moving in from Keycloak: a realm export (the JSON of `kc.sh export` or of the admin
 * console's partial export) becomes a Tessera configuration file.
 *
 * - A confidential client with a service account becomes a client with the same
 *   `clientId`: `client-secret` → client_secret_basic (the secret goes out of band),
 *   `client-jwt` → private_key_jwt (`jwks.url`, or the registered certificate's key),
 *   `client-x509` → tls_client_auth (its subject DN).
 * - A client with client roles (a bearer-only or resource client) becomes an API whose
 *   identifier is that `clientId` (Keycloak's `aud` for client roles) and whose scopes
 *   are the roles.
 * - The service account's client-role mappings become grants.
 * - Everything else is listed with the reason it has no equivalent.
 */
import { X509Certificate } from 'node:crypto';
import { ClientIdPattern, CreateApiBody, CreateTenantBody } from '@tessera/server';
import { stringify } from 'yaml';
import { PRIVATE_JWK_MEMBERS } from './file.js';
import { type ApiEntry, type ClientEntry, type ConfigFile, CONFIG_VERSION, type GrantEntry, type TenantEntry } from './schema.js';
import { MIN_SECRET_LENGTH } from './secrets.js';

/** Keycloak's own clients in every realm: nothing of a service's. */
const BUILT_IN_CLIENTS = new Set(['account', 'account-console', 'admin-cli', 'broker', 'realm-management', 'security-admin-console']);
/** Realm roles every user has by default. */
const DEFAULT_REALM_ROLES = new Set(['offline_access', 'uma_authorization']);
const CLIENT_ID = new RegExp(ClientIdPattern);
const SCOPE = new RegExp(CreateApiBody.properties.scopes.items.properties.value.pattern ?? '');
const TENANT_ID = new RegExp(CreateTenantBody.properties.id.pattern ?? '');
const SIGNING_ALGS = new Set(['ES256', 'RS256', 'PS256', 'EdDSA']);
/** Claims a token carries of its own (and custom claims may not set). */
const REGISTERED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'client_id', 'scope', 'cnf', 'act', 'may_act', 'azp', 'typ', 'auth_time', 'acr', 'amr', 'sid']);
const MASKED_SECRET = '**********';

interface KeycloakRole {
  name: string;
  description?: string;
  composite?: boolean;
}

interface KeycloakProtocolMapper {
  name?: string;
  protocolMapper?: string;
  config?: Record<string, string>;
}

interface KeycloakClient {
  clientId: string;
  name?: string;
  enabled?: boolean;
  bearerOnly?: boolean;
  publicClient?: boolean;
  serviceAccountsEnabled?: boolean;
  standardFlowEnabled?: boolean;
  clientAuthenticatorType?: string;
  secret?: string;
  attributes?: Record<string, string>;
  protocolMappers?: KeycloakProtocolMapper[];
}

interface KeycloakUser {
  username?: string;
  serviceAccountClientId?: string;
  realmRoles?: string[];
  clientRoles?: Record<string, string[]>;
}

interface KeycloakRealm {
  realm: string;
  displayName?: string;
  accessTokenLifespan?: number;
  defaultSignatureAlgorithm?: string;
  roles?: { realm?: KeycloakRole[]; client?: Record<string, KeycloakRole[]> };
  clients?: KeycloakClient[];
  users?: KeycloakUser[];
  groups?: unknown[];
  identityProviders?: { alias?: string; providerId?: string }[];
  clientScopes?: unknown[];
}

export interface ImportNote {
  /** What it is about: `client web-portal`, `realm`, ... */
  subject: string;
  reason: string;
}

export interface KeycloakImport {
  config: ConfigFile;
  /** What has no equivalent, and why. */
  dropped: ImportNote[];
  /** What was carried over differently: worth a look before applying. */
  changed: ImportNote[];
  /** The realm's client secrets, by client id: never in the file. */
  secrets: Map<string, string>;
}

export class KeycloakImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeycloakImportError';
  }
}

export function importKeycloakRealm(input: unknown, options: { tenant?: string } = {}): KeycloakImport {
  const realm = asRealm(input);
  const dropped: ImportNote[] = [];
  const changed: ImportNote[] = [];
  const secrets = new Map<string, string>();
  const drop = (subject: string, reason: string) => dropped.push({ subject, reason });
  const change = (subject: string, reason: string) => changed.push({ subject, reason });

  const tenantId = options.tenant ?? tenantIdOf(realm.realm);
  if (!TENANT_ID.test(tenantId) || tenantId === 'admin') throw new KeycloakImportError(`realm ${JSON.stringify(realm.realm)} gives no usable tenant id; pass --tenant <id> (${TENANT_ID.source}, not "admin")`);
  if (tenantId !== realm.realm) change('realm', `realm ${JSON.stringify(realm.realm)} becomes tenant ${JSON.stringify(tenantId)} (tenant ids are ${TENANT_ID.source})`);

  const tenant: TenantEntry = { id: tenantId, ...(realm.displayName ? { name: realm.displayName.slice(0, 100) } : {}) };
  const lifetime = lifetimeOf(realm.accessTokenLifespan);
  if (lifetime !== undefined) tenant.accessTokenLifetime = lifetime;
  else if (realm.accessTokenLifespan !== undefined) change('realm', `accessTokenLifespan ${realm.accessTokenLifespan} s is outside 60 to 86400 s: the server default applies`);
  if (realm.defaultSignatureAlgorithm !== undefined) {
    if (SIGNING_ALGS.has(realm.defaultSignatureAlgorithm)) tenant.signingAlg = realm.defaultSignatureAlgorithm as TenantEntry['signingAlg'];
    else change('realm', `defaultSignatureAlgorithm ${realm.defaultSignatureAlgorithm} is not one Tessera signs with (ES256, RS256, PS256, EdDSA): the server default applies`);
  }

  const clients = realm.clients ?? [];
  const builtIn = clients.filter((c) => BUILT_IN_CLIENTS.has(c.clientId)).map((c) => c.clientId);
  if (builtIn.length > 0) drop(`clients ${builtIn.join(', ')}`, 'Keycloak\'s own built-in clients');

  // APIs: clients whose roles other clients are given.
  const apis: ApiEntry[] = [];
  const apiScopes = new Map<string, Set<string>>();
  for (const client of clients) {
    if (BUILT_IN_CLIENTS.has(client.clientId)) continue;
    const roles = realm.roles?.client?.[client.clientId] ?? [];
    if (roles.length === 0) continue;
    const scopes: ApiEntry['scopes'] = [];
    for (const role of roles) {
      if (!SCOPE.test(role.name)) {
        drop(`role ${client.clientId}/${role.name}`, `not a valid scope value (${SCOPE.source}); rename the role, or add a scope by hand`);
        continue;
      }
      const description = role.description !== undefined && !role.description.startsWith('${') ? role.description.slice(0, 500) : undefined;
      scopes.push(description === undefined ? role.name : { value: role.name, description });
      if (role.composite === true) change(`role ${client.clientId}/${role.name}`, 'a composite role becomes a plain scope: the roles it contains are not implied');
    }
    apiScopes.set(client.clientId, new Set(scopes.map((s) => (typeof s === 'string' ? s : s.value))));
    const api: ApiEntry = { identifier: client.clientId, ...(client.name && !client.name.startsWith('${') ? { name: client.name.slice(0, 200) } : {}), scopes };
    const apiLifetime = lifetimeOf(numberOf(client.attributes?.['access.token.lifespan']));
    if (apiLifetime !== undefined) api.accessTokenLifetime = apiLifetime;
    apis.push(api);
  }

  // Clients: confidential clients with a service account.
  const tessera: ClientEntry[] = [];
  for (const client of clients) {
    if (BUILT_IN_CLIENTS.has(client.clientId)) continue;
    const subject = `client ${client.clientId}`;
    const isApi = apiScopes.has(client.clientId);
    if (client.bearerOnly === true) {
      if (!isApi) drop(subject, 'a bearer-only client without client roles: nothing to carry over');
      continue;
    }
    if (client.publicClient === true) {
      drop(subject, 'a public client for people signing in (browser or device flows); Tessera issues tokens to services (client credentials, RFC 6749 §4.4)');
      continue;
    }
    if (client.serviceAccountsEnabled !== true) {
      if (!isApi) drop(subject, 'a confidential client without a service account (it signs people in); Tessera issues tokens to services only');
      continue;
    }
    if (!CLIENT_ID.test(client.clientId)) {
      drop(subject, `its clientId is not one Tessera accepts (${CLIENT_ID.source})`);
      continue;
    }
    const entry = clientOf(client, { drop, change, secrets });
    if (entry !== undefined) tessera.push(entry);
  }
  const clientIds = new Set(tessera.map((c) => c.clientId));

  // Grants: what each service account was given.
  const grants: GrantEntry[] = [];
  for (const user of realm.users ?? []) {
    if (user.serviceAccountClientId === undefined) continue;
    const clientId = user.serviceAccountClientId;
    if (!clientIds.has(clientId)) {
      if (Object.keys(user.clientRoles ?? {}).length > 0) drop(`roles of service account ${clientId}`, 'its client is not carried over (see above)');
      continue;
    }
    const realmRoles = (user.realmRoles ?? []).filter((r) => !DEFAULT_REALM_ROLES.has(r) && r !== `default-roles-${realm.realm}`);
    if (realmRoles.length > 0) drop(`realm roles of ${clientId}: ${realmRoles.join(', ')}`, 'realm roles belong to no API; grants are per API (give the client a scope of the API that checks the role)');
    for (const [audience, roles] of Object.entries(user.clientRoles ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      const known = apiScopes.get(audience);
      if (known === undefined) {
        drop(`roles of ${clientId} on ${audience}: ${roles.join(', ')}`, BUILT_IN_CLIENTS.has(audience) ? 'roles of a Keycloak built-in client (Keycloak\'s own administration)' : `${audience} is not carried over as an API`);
        continue;
      }
      const scopes = roles.filter((r) => known.has(r));
      if (scopes.length < roles.length) drop(`roles of ${clientId} on ${audience}: ${roles.filter((r) => !known.has(r)).join(', ')}`, 'not valid scope values (see above)');
      if (scopes.length > 0) grants.push({ clientId, audience, scopes });
    }
  }
  const people = (realm.users ?? []).filter((u) => u.serviceAccountClientId === undefined).length;
  if (people > 0) drop(`${people} user(s)`, 'people sign in to Keycloak; Tessera has no users (exchange their tokens with a federation of kind "subject" instead: docs/federation.md)');
  if ((realm.groups ?? []).length > 0) drop(`${(realm.groups ?? []).length} group(s)`, 'groups organise users; Tessera has none');
  for (const provider of realm.identityProviders ?? []) {
    drop(`identity provider ${provider.alias ?? provider.providerId ?? '?'}`, 'brokered sign-in of people has no equivalent; for workloads, trust their issuer with a federation');
  }
  if ((realm.clientScopes ?? []).length > 0) change('client scopes', 'Keycloak client scopes are not carried over: in Tessera a scope is always a scope of one API');

  if (apis.length > 0) tenant.apis = apis.sort((a, b) => a.identifier.localeCompare(b.identifier));
  if (tessera.length > 0) tenant.clients = tessera.sort((a, b) => a.clientId.localeCompare(b.clientId));
  if (grants.length > 0) tenant.grants = grants.sort((a, b) => `${a.clientId}\u0000${a.audience}`.localeCompare(`${b.clientId}\u0000${b.audience}`));
  return { config: { version: CONFIG_VERSION, tenants: [tenant] } as ConfigFile, dropped, changed, secrets };
}

function clientOf(
  client: KeycloakClient,
  notes: { drop: (s: string, r: string) => void; change: (s: string, r: string) => void; secrets: Map<string, string> },
): ClientEntry | undefined {
  const subject = `client ${client.clientId}`;
  const attributes = client.attributes ?? {};
  const entry: ClientEntry = { clientId: client.clientId, name: (client.name && !client.name.startsWith('${') ? client.name : client.clientId).slice(0, 100) };
  const takeSecret = () => {
    const secret = client.secret;
    if (secret === undefined || secret === '' || secret === MASKED_SECRET) {
      notes.change(subject, 'the export holds no secret (an admin console export masks them; kc.sh export keeps them): apply gives the client a new one');
    } else if (secret.length < MIN_SECRET_LENGTH) {
      notes.change(subject, `its secret is shorter than ${MIN_SECRET_LENGTH} characters, too weak to carry over: apply gives the client a new one`);
    } else {
      notes.secrets.set(client.clientId, secret);
    }
  };
  switch (client.clientAuthenticatorType ?? 'client-secret') {
    case 'client-secret':
      entry.tokenEndpointAuthMethod = 'client_secret_basic';
      takeSecret();
      break;
    case 'client-secret-jwt':
      entry.tokenEndpointAuthMethod = 'client_secret_basic';
      notes.change(subject, 'client-secret-jwt (HMAC-signed assertions) is not accepted by Tessera (only asymmetric keys sign assertions): it becomes client_secret_basic with the same secret; switch the service to HTTP Basic authentication');
      takeSecret();
      break;
    case 'client-jwt': {
      entry.tokenEndpointAuthMethod = 'private_key_jwt';
      const jwksUrl = attributes['jwks.url'];
      const certificate = attributes['jwt.credential.certificate'];
      const inline = attributes['use.jwks.string'] === 'true' ? publicJwksOf(attributes['jwks.string']) : undefined;
      if (attributes['use.jwks.url'] === 'true' && jwksUrl) {
        entry.jwksUri = jwksUrl;
      } else if (inline !== undefined) {
        entry.jwks = inline;
      } else if (certificate) {
        const jwk = publicJwkOfCertificate(certificate);
        if (jwk === undefined) {
          notes.drop(subject, 'its registered certificate cannot be read: register its public key by hand');
          return undefined;
        }
        entry.jwks = { keys: [jwk] };
      } else {
        notes.drop(subject, 'client-jwt without a jwks.url or a certificate: no key to verify its assertions with');
        return undefined;
      }
      break;
    }
    case 'client-x509': {
      const dn = attributes['x509.subjectdn'];
      if (!dn) {
        notes.drop(subject, 'client-x509 without a subject DN');
        return undefined;
      }
      if (attributes['x509.allow.regex.pattern.comparison'] !== 'false' && /[()[\]*+?^$|\\]/.test(dn)) {
        notes.drop(subject, `its subject DN is a regular expression (${dn}); Tessera matches one exact DN (RFC 8705 §2.1.2): add the client by hand with each certificate's DN`);
        return undefined;
      }
      entry.tokenEndpointAuthMethod = 'tls_client_auth';
      entry.tlsClientAuthSubjectDn = dn;
      break;
    }
    default:
      notes.drop(subject, `client authenticator ${client.clientAuthenticatorType} has no equivalent`);
      return undefined;
  }
  const lifetime = lifetimeOf(numberOf(attributes['access.token.lifespan']));
  if (lifetime !== undefined) entry.accessTokenLifetime = lifetime;
  if (client.enabled === false) entry.disabled = true;
  // Keycloak's "OAuth 2.0 DPoP Bound Access Tokens" switch (RFC 9449).
  if (attributes['dpop.bound.access.tokens'] === 'true') entry.dpopBoundAccessTokens = true;
  const claims: Record<string, unknown> = {};
  for (const mapper of client.protocolMappers ?? []) {
    const config = mapper.config ?? {};
    const claim = config['claim.name'];
    if (mapper.protocolMapper === 'oidc-hardcoded-claim-mapper' && claim !== undefined && config['access.token.claim'] !== 'false') {
      if (REGISTERED_CLAIMS.has(claim) || claim.includes('.')) {
        notes.drop(`mapper ${mapper.name ?? claim} of ${client.clientId}`, `claim ${claim} is registered or nested; custom claims are flat and unregistered`);
        continue;
      }
      claims[claim] = claimValue(config['claim.value'] ?? '', config['jsonType.label']);
    } else {
      notes.drop(`mapper ${mapper.name ?? '?'} of ${client.clientId}`, `protocol mapper ${mapper.protocolMapper ?? '?'} has no equivalent (Tessera adds static claims only: customClaims)`);
    }
  }
  if (Object.keys(claims).length > 0) entry.customClaims = claims;
  return entry;
}

/** The public key of a base64 DER certificate (Keycloak's jwt.credential.certificate) as a JWK with its chain. */
function publicJwkOfCertificate(base64: string): Record<string, unknown> | undefined {
  try {
    const certificate = new X509Certificate(Buffer.from(base64, 'base64'));
    const jwk = certificate.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
    return { ...jwk, use: 'sig', x5c: [base64.replace(/\s+/g, '')] };
  } catch {
    return undefined;
  }
}

/** Keycloak's `jwks.string` (a JWK Set as text), public members only; undefined when it holds no key. */
function publicJwksOf(text: string | undefined): { keys: Record<string, unknown>[] } | undefined {
  try {
    const parsed = JSON.parse(text ?? '') as { keys?: unknown };
    const keys = Array.isArray(parsed.keys) ? parsed.keys.filter((k): k is Record<string, unknown> => typeof k === 'object' && k !== null) : [];
    const publicOnly = keys.map((key) => Object.fromEntries(Object.entries(key).filter(([member]) => !PRIVATE_JWK_MEMBERS.includes(member))));
    return publicOnly.length > 0 ? { keys: publicOnly } : undefined;
  } catch {
    return undefined;
  }
}

function claimValue(text: string, type: string | undefined): unknown {
  switch (type) {
    case 'int':
    case 'long':
      return Number.isFinite(Number(text)) ? Number(text) : text;
    case 'boolean':
      return text === 'true';
    case 'JSON':
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return text;
      }
    default:
      return text;
  }
}

function lifetimeOf(seconds: number | undefined): number | undefined {
  return seconds !== undefined && Number.isInteger(seconds) && seconds >= 60 && seconds <= 86_400 ? seconds : undefined;
}

function numberOf(text: string | undefined): number | undefined {
  return text === undefined || text === '' || !/^-?\d+$/.test(text) ? undefined : Number(text);
}

function tenantIdOf(realm: string): string {
  return realm.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
}

function asRealm(input: unknown): KeycloakRealm {
  // An export of several realms is a list of them.
  if (Array.isArray(input)) {
    if (input.length !== 1) throw new KeycloakImportError(`the export holds ${input.length} realms; export one (kc.sh export --realm <name>) and import it`);
    input = input[0];
  }
  const realm = input as Partial<KeycloakRealm> | null;
  if (typeof realm !== 'object' || realm === null || typeof realm.realm !== 'string') {
    throw new KeycloakImportError('not a Keycloak realm export: no "realm" name (export one with kc.sh export --realm <name>, or from the admin console: Realm settings, Action, Partial export)');
  }
  if (realm.clients !== undefined && !Array.isArray(realm.clients)) throw new KeycloakImportError('"clients" is not a list');
  return realm as KeycloakRealm;
}

/** The Tessera file: what was left out and changed first, as comments with their reasons; never a secret. */
export function keycloakImportText(result: KeycloakImport, source: string): string {
  const lines = [
    `# Imported from the Keycloak realm export ${source} by "tessera import keycloak".`,
    '# Client secrets are not in this file: "--secrets-out DIR" wrote them, one file per client id,',
    '# and "tessera apply -f FILE --secrets-from DIR" gives them to the clients it creates.',
  ];
  if (result.changed.length > 0) {
    lines.push('#', '# Carried over differently (check before applying):');
    for (const note of result.changed) lines.push(`#   - ${note.subject}: ${note.reason}`);
  }
  if (result.dropped.length > 0) {
    lines.push('#', '# Not carried over (no equivalent in Tessera):');
    for (const note of result.dropped) lines.push(`#   - ${note.subject}: ${note.reason}`);
  }
  return `${lines.join('\n')}\n${stringify(result.config, { lineWidth: 0 })}`;
}
