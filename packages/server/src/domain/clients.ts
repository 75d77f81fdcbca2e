import { createPublicKey, type JsonWebKey, type KeyObject, randomBytes } from 'node:crypto';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import { type Client, type ClientSecret, type ClientSort, type ListRequest, type CustomClaims, isSecretMethod, type NewAuditEntry, type Page, type Store, type TokenEndpointAuthMethod } from '../store/types.js';
import { assertCustomClaims } from './claims.js';
import { clampPageSize, type DomainContext, issuerOf } from './context.js';
import { keepingAdminAccess } from './admin-access.js';
import { parseDistinguishedName } from './distinguished-name.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { OutboundPolicy } from '../outbound/policy.js';
import { assertKeySetUrl, assertLifetime, assertName } from './rules.js';

export const AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
];
/** What a client authenticates with: changing it is giving the client a new credential. */
const CREDENTIAL_FIELDS = ['tokenEndpointAuthMethod', 'jwks', 'jwksUri', 'tlsClientAuthSubjectDn'] as const;
/** Two live secrets at most, so a rotation can overlap (SPEC §5). */
export const MAX_LIVE_SECRETS = 2;

export interface ClientInput {
  name: string;
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  jwks?: { keys: Record<string, unknown>[] } | null;
  jwksUri?: string | null;
  tlsClientAuthSubjectDn?: string | null;
  accessTokenLifetime?: number | null;
  /** Token requests per minute (docs/protection.md); null: the tenant's or the server's quota. */
  tokenQuotaPerMinute?: number | null;
  /** RFC 9449 §5.2: every token request must carry a DPoP proof. */
  dpopBoundAccessTokens?: boolean;
  /** May mint transaction tokens (docs/transaction-tokens.md). */
  txnTokenService?: boolean;
  disabled?: boolean;
  /** Static claims in every token of this client (null or {} clears them). */
  customClaims?: Record<string, unknown> | null;
}

/** A new client: its settings, and optionally the id and the secret the caller chose. */
export interface NewClientInput extends ClientInput {
  /** Chosen, so that one configuration gives the same ids in every environment. */
  clientId?: string;
  /** Brought by the caller (a migration that must not rotate secrets); stored hashed, never returned. */
  clientSecret?: string;
}

export type ClientPatch = Partial<ClientInput>;

/** The shape of a chosen client id (docs/clients.md; also enforced by the route's schema). */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** A secret the caller brings: 32 characters at the least (a generated one has 43). */
export const MIN_CALLER_SECRET_LENGTH = 32;

export interface SecretView {
  id: string;
  createdAt: number;
  lastUsedAt?: number;
}

export interface ClientView extends Client {
  secrets: SecretView[];
  issuer: string;
  tokenEndpoint: string;
  discoveryEndpoint: string;
}

export interface ClientListOptions extends Omit<ListRequest<ClientSort>, 'limit'> {
  limit?: number;
  dormantDays?: number;
}

export interface CreatedClient extends ClientView {
  /** Shown once, here; only its hash is stored. */
  clientSecret?: string;
}

/** Client ids are lower-case letters and digits: safe in URLs, Basic auth and shells. */
export function generateClientId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(24);
  let id = '';
  for (const byte of bytes) id += alphabet[byte % 36];
  return id;
}

export class ClientService {
  readonly #outbound: OutboundPolicy;

  constructor(private readonly ctx: DomainContext) {
    this.#outbound = new OutboundPolicy(ctx.config.outboundAllow);
  }

  view(client: Client, secrets: ClientSecret[]): ClientView {
    const issuer = issuerOf(this.ctx.config, client.tenantId);
    return {
      ...client,
      secrets: secrets.map((s) => ({ id: s.id, createdAt: s.createdAt, ...(s.lastUsedAt !== null ? { lastUsedAt: s.lastUsedAt } : {}) })),
      issuer,
      tokenEndpoint: `${issuer}/token`,
      discoveryEndpoint: `${issuer}/.well-known/openid-configuration`,
    };
  }

  async create(tenantId: string, input: NewClientInput, actor: string): Promise<CreatedClient> {
    const { clientId = generateClientId(), clientSecret: chosenSecret, ...settings } = input;
    if (!CLIENT_ID_PATTERN.test(clientId)) throw new ValidationError(`clientId must match ${CLIENT_ID_PATTERN.source}`);
    if (chosenSecret !== undefined) assertCallerSecret(chosenSecret);
    const client = this.#newClient(tenantId, clientId, settings);
    this.#validate(client);
    let secretValue: string | undefined;
    const secrets: ClientSecret[] = [];
    if (isSecretMethod(client.tokenEndpointAuthMethod)) {
      secretValue = chosenSecret ?? generateSecret();
      secrets.push({ id: newSecretId(), tenantId, clientId, hash: hashSecret(secretValue), createdAt: client.createdAt, lastUsedAt: null });
    } else if (chosenSecret !== undefined) {
      throw new ValidationError(`clientSecret: a client that authenticates with ${client.tokenEndpointAuthMethod} uses no secret`);
    }
    await this.ctx.store.transaction(async (tx) => {
      if ((await tx.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
      if ((await tx.getClient(tenantId, clientId)) !== null) throw new ConflictError(`client id ${JSON.stringify(clientId)} is taken in tenant ${JSON.stringify(tenantId)}`);
      await tx.createClient(client, secrets, audit(tenantId, actor, 'client.create', clientId, { ...describe(client), ...(chosenSecret !== undefined ? { secret: 'provided by the caller' } : {}) }));
    });
    // A secret the caller brought is theirs already: it is not echoed back.
    return { ...this.view(client, secrets), ...(secretValue !== undefined && chosenSecret === undefined ? { clientSecret: secretValue } : {}) };
  }

  #newClient(tenantId: string, clientId: string, input: ClientInput): Client {
    const now = this.ctx.now();
    return {
      tenantId,
      clientId,
      name: input.name,
      tokenEndpointAuthMethod: input.tokenEndpointAuthMethod ?? 'client_secret_basic',
      jwks: input.jwks ?? null,
      jwksUri: input.jwksUri ?? null,
      tlsClientAuthSubjectDn: input.tlsClientAuthSubjectDn ?? null,
      accessTokenLifetime: input.accessTokenLifetime ?? null,
      tokenQuotaPerMinute: input.tokenQuotaPerMinute ?? null,
      dpopBoundAccessTokens: input.dpopBoundAccessTokens ?? false,
      txnTokenService: input.txnTokenService ?? false,
      disabled: input.disabled ?? false,
      customClaims: (input.customClaims ?? {}) as CustomClaims,
      createdAt: now,
      updatedAt: now,
    };
  }

  /**
   * A page of the tenant's clients, searched and sorted by the store (docs/management-api.md),
   * each with when it last got a token; `dormantDays`: only clients older than that many
   * days that got no token in them (never used included).
   */
  async list(tenantId: string, request: ClientListOptions): Promise<Page<ClientView & { lastUsedAt: number | null }>> {
    await this.#requireTenant(tenantId);
    const { limit, cursor, dormantDays, ...search } = request;
    const result = await this.ctx.store.listClients(tenantId, {
      ...search,
      limit: clampPageSize(limit),
      cursor: cursor ?? null,
      ...(dormantDays !== undefined ? { dormantSince: this.ctx.now() - dormantDays * 86_400_000 } : {}),
    });
    // The page's secrets in one query, not one per client.
    const secrets = await this.ctx.store.listSecretsOfClients(tenantId, result.items.map((c) => c.clientId));
    const byClient = new Map<string, ClientSecret[]>();
    for (const secret of secrets) byClient.set(secret.clientId, [...(byClient.get(secret.clientId) ?? []), secret]);
    const items = result.items.map((c) => ({ ...this.view(c, byClient.get(c.clientId) ?? []), lastUsedAt: c.lastUsedAt }));
    return { items, nextCursor: result.nextCursor };
  }

  async get(tenantId: string, clientId: string): Promise<ClientView> {
    const client = await this.#require(tenantId, clientId);
    return this.view(client, await this.ctx.store.listClientSecrets(tenantId, clientId));
  }

  async update(tenantId: string, clientId: string, patch: ClientPatch, actor: string): Promise<ClientView> {
    const current = await this.#require(tenantId, clientId);
    const { customClaims, ...rest } = patch;
    const merged: Client = {
      ...current,
      ...stripUndefined(rest),
      ...(customClaims !== undefined ? { customClaims: (customClaims ?? {}) as CustomClaims } : {}),
      updatedAt: this.ctx.now(),
    };
    this.#validate(merged);
    const { tenantId: _t, clientId: _c, createdAt: _at, ...changes } = merged;
    if (CREDENTIAL_FIELDS.some((field) => JSON.stringify(merged[field]) !== JSON.stringify(current[field]))) {
      await keepingAdminAccess(this.ctx.store, tenantId, { kind: 'client', clientId, action: 'add-credential' }, async () => undefined);
    }
    const entry = audit(tenantId, actor, 'client.update', clientId, {
      ...describe(stripUndefined(rest)),
      ...(customClaims !== undefined ? { customClaims: Object.keys(customClaims ?? {}) } : {}),
    });
    // A client that leaves the secret methods loses its secrets, in the same
    // transaction: switching back must not revive a secret that may have leaked.
    const dropsSecrets = isSecretMethod(current.tokenEndpointAuthMethod) && !isSecretMethod(merged.tokenEndpointAuthMethod);
    const write = (store: Store) => store.transaction(async (tx) => {
      const result = await tx.updateClient(tenantId, clientId, changes, entry);
      if (result !== null && dropsSecrets) {
        for (const secret of await tx.listClientSecrets(tenantId, clientId)) {
          await tx.deleteClientSecret(tenantId, clientId, secret.id, audit(tenantId, actor, 'client.secret.delete', clientId, { secretId: secret.id, reason: 'authentication method changed' }));
        }
      }
      return result;
    });
    const updated = merged.disabled && !current.disabled
      ? await keepingAdminAccess(this.ctx.store, tenantId, { kind: 'client', clientId, action: 'disable' }, write)
      : await write(this.ctx.store);
    if (updated === null) throw new NotFoundError('client', clientId);
    return this.view(updated, await this.ctx.store.listClientSecrets(tenantId, clientId));
  }

  async delete(tenantId: string, clientId: string, actor: string): Promise<void> {
    await this.#requireTenant(tenantId);
    const deleted = await keepingAdminAccess(this.ctx.store, tenantId, { kind: 'client', clientId, action: 'delete' }, (store) =>
      store.deleteClient(tenantId, clientId, audit(tenantId, actor, 'client.delete', clientId, {})));
    // After the registry commit, outside it: the client is gone, so any token of it
    // already fails introspection; this only frees the rows (what a failure leaves expires).
    if (deleted) await this.ctx.state.endClient(tenantId, clientId).catch(() => undefined);
    if (!deleted) {
      throw new NotFoundError('client', clientId);
    }
  }

  /** A new secret beside the current one (rotation overlap); at most two live secrets. */
  async addSecret(tenantId: string, clientId: string, actor: string, chosenSecret?: string): Promise<{ id: string; clientSecret?: string; createdAt: number }> {
    if (chosenSecret !== undefined) assertCallerSecret(chosenSecret);
    const client = await this.#require(tenantId, clientId);
    await keepingAdminAccess(this.ctx.store, tenantId, { kind: 'client', clientId, action: 'add-secret' }, async () => undefined);
    if (!isSecretMethod(client.tokenEndpointAuthMethod)) {
      throw new ValidationError(`client authenticates with ${client.tokenEndpointAuthMethod}, which uses no secret`);
    }
    const value = chosenSecret ?? generateSecret();
    const secret: ClientSecret = { id: newSecretId(), tenantId, clientId, hash: hashSecret(value), createdAt: this.ctx.now(), lastUsedAt: null };
    // Counted and added under a per-client lock: concurrent additions cannot both see one secret.
    await this.ctx.store.withLock(`client-secrets:${tenantId}:${clientId}`, async (tx) => {
      const live = await tx.listClientSecrets(tenantId, clientId);
      if (live.length >= MAX_LIVE_SECRETS) {
        throw new ConflictError(`client already has ${MAX_LIVE_SECRETS} secrets; delete the old one before adding another`);
      }
      await tx.addClientSecret(secret, audit(tenantId, actor, 'client.secret.create', clientId, { secretId: secret.id, ...(chosenSecret !== undefined ? { secret: 'provided by the caller' } : {}) }));
    });
    return { id: secret.id, ...(chosenSecret === undefined ? { clientSecret: value } : {}), createdAt: secret.createdAt };
  }

  async deleteSecret(tenantId: string, clientId: string, secretId: string, actor: string): Promise<void> {
    await this.#require(tenantId, clientId);
    const deleted = await this.ctx.store.deleteClientSecret(tenantId, clientId, secretId, audit(tenantId, actor, 'client.secret.delete', clientId, { secretId }));
    if (!deleted) throw new NotFoundError('secret', secretId);
  }

  #validate(client: Client): void {
    assertName(client.name, 'name');
    if (!AUTH_METHODS.includes(client.tokenEndpointAuthMethod)) {
      throw new ValidationError(`tokenEndpointAuthMethod must be one of ${AUTH_METHODS.join(', ')}`);
    }
    assertLifetime(client.accessTokenLifetime, this.ctx.config.tokens, 'accessTokenLifetime');
    assertCustomClaims(client.customClaims);
    if (client.jwks !== null && client.jwksUri !== null) throw new ValidationError('give jwks or jwksUri, not both');
    if (client.jwks !== null) assertPublicJwks(client.jwks);
    if (client.jwksUri !== null) assertKeySetUrl(client.jwksUri, 'jwksUri', this.#outbound);
    switch (client.tokenEndpointAuthMethod) {
      case 'private_key_jwt':
        if (client.jwks === null && client.jwksUri === null) throw new ValidationError('private_key_jwt needs jwks or jwksUri');
        break;
      case 'self_signed_tls_client_auth':
        if (client.jwks === null && client.jwksUri === null) throw new ValidationError('self_signed_tls_client_auth needs jwks or jwksUri holding the certificate\'s public key');
        break;
      case 'tls_client_auth':
        if (client.tlsClientAuthSubjectDn === null || client.tlsClientAuthSubjectDn.trim() === '') {
          throw new ValidationError('tls_client_auth needs tlsClientAuthSubjectDn');
        }
        break;
      default:
        break;
    }
    if (client.tlsClientAuthSubjectDn !== null && parseDistinguishedName(client.tlsClientAuthSubjectDn) === null) {
      throw new ValidationError('tlsClientAuthSubjectDn must be a distinguished name such as CN=orders,O=Example,C=DE (RFC 4514)');
    }
  }

  async #require(tenantId: string, clientId: string): Promise<Client> {
    await this.#requireTenant(tenantId);
    const client = await this.ctx.store.getClient(tenantId, clientId);
    if (client === null) throw new NotFoundError('client', clientId);
    return client;
  }

  async #requireTenant(tenantId: string): Promise<void> {
    if ((await this.ctx.store.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
  }
}

function assertCallerSecret(secret: string): void {
  if (secret.length < MIN_CALLER_SECRET_LENGTH) throw new ValidationError(`clientSecret must be at least ${MIN_CALLER_SECRET_LENGTH} characters`);
  if (secret.trim() !== secret || /[\u0000-\u001f\u007f]/.test(secret)) throw new ValidationError('clientSecret must not contain control characters or leading or trailing spaces');
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

function assertPublicJwks(jwks: { keys: Record<string, unknown>[] }): void {
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new ValidationError('jwks must be {"keys": [...]} with at least one key');
  jwks.keys.forEach((key, index) => {
    if (typeof key['kty'] !== 'string' || !['EC', 'RSA', 'OKP'].includes(key['kty'])) {
      throw new ValidationError('jwks keys must be asymmetric public keys (kty EC, RSA or OKP)');
    }
    if (PRIVATE_JWK_MEMBERS.some((member) => member in key)) {
      throw new ValidationError('jwks must hold public keys only: remove the private members (d, p, q, ...) and keep the private key to yourself');
    }
    // A key nobody could verify with is a registration error, not a login failure later.
    let imported: KeyObject;
    try {
      imported = createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
    } catch {
      throw new ValidationError(`jwks key ${index} is not a valid ${String(key['kty'])} public key (RFC 7517/7518 members missing or malformed)`);
    }
    if (imported.asymmetricKeyType === 'rsa' && (imported.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      throw new ValidationError(`jwks key ${index}: RSA keys must be at least 2048 bits (RFC 7518 §3.3)`);
    }
  });
}

export function newSecretId(): string {
  return `sec_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Audit details: what changed, never a secret (clients carry none; jwks are public). */
function describe(client: Partial<Client>): Record<string, unknown> {
  const { jwks, customClaims, ...rest } = client;
  return {
    ...rest,
    ...(jwks !== undefined ? { jwks: jwks === null ? null : `${jwks.keys.length} key(s)` } : {}),
    // Names only: a claim value is configuration, but the audit log need not copy it.
    ...(customClaims !== undefined ? { customClaims: Object.keys(customClaims) } : {}),
  };
}

function audit(tenantId: string, actor: string, action: string, clientId: string, details: Record<string, unknown>): NewAuditEntry {
  return { tenantId, actor, action, targetType: 'client', targetId: clientId, details };
}
