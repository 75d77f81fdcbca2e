/**
 * The one typed client of the management API and of the console's sign-in. Every
 * view talks to the server through this; tests hand views a fake with the same shape.
 * What the server answers is typed by the server's own response schemas (imported from
 * @tessera/server, as the CLI does), so a change there that the console does not follow
 * fails the console's type check (`npm run typecheck`), and test/server-types.test.ts
 * checks the console's fixtures against the server's schemas at run time.
 */
import type {
  ApiResource,
  AuditEntryResource,
  ClientListItemResource,
  ClientResource,
  ConsoleUserResource,
  CreateFederation,
  CreatedClientResource,
  CreatedConsoleUserResource,
  CreatedSecretResource,
  DormantResource,
  FederationResource,
  GrantResource,
  KeyResource,
  TenantResource,
  UnusedGrantsResource,
  UpdatedConsoleUserResource,
  UsageSeriesResource,
  UsageTopResource,
  WasteResource,
  WhoamiResource,
} from '@tessera/server';

export type SigningAlg = 'ES256' | 'RS256' | 'PS256' | 'EdDSA';
export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'tls_client_auth' | 'self_signed_tls_client_auth';
export const AUTH_METHODS: readonly AuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'];
export const SIGNING_ALGS: readonly SigningAlg[] = ['ES256', 'RS256', 'PS256', 'EdDSA'];

export interface Page<T> { items: T[]; nextCursor: string | null }
export type SortOrder = 'asc' | 'desc';
/** One page of a list the server searches and sorts (docs/management-api.md). */
export interface ListQuery<S extends string> { q?: string; sort?: S; order?: SortOrder; cursor?: string | null; limit?: number }
export type ClientSort = 'createdAt' | 'clientId' | 'name' | 'lastUsedAt';
export type ApiSort = 'createdAt' | 'identifier' | 'name';
export type GrantSort = 'createdAt' | 'clientId' | 'audience';
export interface Jwk { kty: string; kid?: string; alg?: string; use?: string; crv?: string; x?: string; y?: string; n?: string; e?: string; x5c?: string[] }
export type Tenant = TenantResource;
export interface TenantSettings { name?: string; signingAlg?: SigningAlg; accessTokenLifetime?: number | null; tokenQuotaPerMinute?: number | null; trustDomain?: string | null }
export type Client = ClientResource;
/** A client in the list, with when it last got a token. */
export type ClientListItem = ClientListItemResource;
export type SecretSummary = Client['secrets'][number];
export type CreatedClient = CreatedClientResource;
export type CreatedSecret = CreatedSecretResource;
export interface ClientInput {
  name: string; tokenEndpointAuthMethod?: AuthMethod; jwks?: { keys: Record<string, unknown>[] } | null; jwksUri?: string | null;
  tlsClientAuthSubjectDn?: string | null; accessTokenLifetime?: number | null; disabled?: boolean;
  tokenQuotaPerMinute?: number | null; dpopBoundAccessTokens?: boolean; txnTokenService?: boolean; customClaims?: Record<string, unknown> | null;
}
export interface Scope { value: string; description?: string }
export type Api = ApiResource;
export interface ApiInput { identifier: string; name?: string; scopes: Scope[]; accessTokenLifetime?: number | null; tokenFormat?: 'jwt' | 'opaque'; introspectors?: string[] }
export type Grant = GrantResource;
export type SigningKey = KeyResource;
export type Federation = FederationResource;
/** A federation as created, and (every field given) as replaced by PATCH. */
export type FederationInput = CreateFederation;
export type AuditEntry = AuditEntryResource;
export interface AuditFilter { action?: string; actor?: string; targetType?: string; targetId?: string; since?: number; until?: number; order?: SortOrder }

// Usage (docs/usage.md; absent on an older server: 404).
export type Granularity = 'minute' | 'hour' | 'day';
export type UsageSeries = UsageSeriesResource;
export type Unused = UnusedGrantsResource;
export type UnusedGrant = Unused['grants'][number];
export type Dormant = DormantResource;
export type Waste = WasteResource;
export type UsageTop = UsageTopResource;

// Console users and the caller's own rights.
export type ConsoleRole = 'viewer' | 'admin';
export type ConsoleUser = ConsoleUserResource;
export type CreatedConsoleUser = CreatedConsoleUserResource;
export type UpdatedConsoleUser = UpdatedConsoleUserResource;
export type Whoami = WhoamiResource;
export interface UsageQuery { clientId?: string; audience?: string; granularity: Granularity; from: number; to: number }

/** A failed call: the HTTP status and the server's `{error, message}`. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
  /** The body field a message names (`body/name must ...`, `name must ...`), for an inline error. */
  get field(): string | null {
    const match = /^(?:body\/)?([A-Za-z]+)\b/.exec(this.message);
    return match?.[1] ?? null;
  }
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
const enc = encodeURIComponent;

function query(values: Record<string, string | number | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

export class ManagementClient {
  constructor(
    private readonly token: () => string | null,
    private readonly onUnauthorized: () => void = () => {},
    private readonly base = '',
    private readonly fetcher: typeof fetch = (...args) => fetch(...args),
  ) {}

  async #call<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    const token = this.token();
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.fetcher(`${this.base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const err = (parsed ?? {}) as { error?: string; message?: string };
      if (response.status === 401 && path.startsWith('/manage/')) this.onUnauthorized();
      throw new ApiError(response.status, err.error ?? 'http_error', err.message ?? `the server answered ${response.status}`);
    }
    return parsed as T;
  }

  #m<T>(method: Method, path: string, body?: unknown): Promise<T> {
    return this.#call<T>(method, `/manage/v1${path}`, body);
  }

  // Session
  signIn(username: string, password: string): Promise<{ access_token: string; expires_in: number }> {
    return this.#call('POST', '/console/login', { username, password });
  }
  signOut(): Promise<void> {
    return this.#call('POST', '/console/logout');
  }

  // Tenants
  listTenants(): Promise<Page<Tenant>> { return this.#m('GET', '/tenants'); }
  getTenant(t: string): Promise<Tenant> { return this.#m('GET', `/tenants/${enc(t)}`); }
  createTenant(input: { id: string } & TenantSettings): Promise<Tenant> { return this.#m('POST', '/tenants', input); }
  updateTenant(t: string, patch: TenantSettings): Promise<Tenant> { return this.#m('PATCH', `/tenants/${enc(t)}`, patch); }
  deleteTenant(t: string): Promise<void> { return this.#m('DELETE', `/tenants/${enc(t)}`); }

  // Clients
  listClients(t: string, cursor: string | null, limit = 50): Promise<Page<Client>> { return this.#m('GET', `/tenants/${enc(t)}/clients${query({ limit, cursor })}`); }
  /** A page of clients searched and sorted by the server; `dormantDays`: only those without a token in that many days. */
  searchClients(t: string, list: ListQuery<ClientSort> & { dormantDays?: number }): Promise<Page<ClientListItem>> {
    return this.#m('GET', `/tenants/${enc(t)}/clients${query({ ...list, q: list.q || undefined })}`);
  }
  getClient(t: string, id: string): Promise<Client> { return this.#m('GET', `/tenants/${enc(t)}/clients/${enc(id)}`); }
  createClient(t: string, input: ClientInput): Promise<CreatedClient> { return this.#m('POST', `/tenants/${enc(t)}/clients`, input); }
  updateClient(t: string, id: string, patch: Partial<ClientInput>): Promise<Client> { return this.#m('PATCH', `/tenants/${enc(t)}/clients/${enc(id)}`, patch); }
  deleteClient(t: string, id: string): Promise<void> { return this.#m('DELETE', `/tenants/${enc(t)}/clients/${enc(id)}`); }
  addSecret(t: string, id: string): Promise<CreatedSecret> { return this.#m('POST', `/tenants/${enc(t)}/clients/${enc(id)}/secrets`); }
  deleteSecret(t: string, id: string, secretId: string): Promise<void> { return this.#m('DELETE', `/tenants/${enc(t)}/clients/${enc(id)}/secrets/${enc(secretId)}`); }

  // APIs
  listApis(t: string, cursor: string | null, limit = 50): Promise<Page<Api>> { return this.#m('GET', `/tenants/${enc(t)}/apis${query({ limit, cursor })}`); }
  searchApis(t: string, list: ListQuery<ApiSort>): Promise<Page<Api>> { return this.#m('GET', `/tenants/${enc(t)}/apis${query({ ...list, q: list.q || undefined })}`); }
  getApi(t: string, id: string): Promise<Api> { return this.#m('GET', `/tenants/${enc(t)}/apis/${enc(id)}`); }
  createApi(t: string, input: ApiInput): Promise<Api> { return this.#m('POST', `/tenants/${enc(t)}/apis`, input); }
  updateApi(t: string, id: string, patch: Partial<ApiInput>): Promise<Api> { return this.#m('PATCH', `/tenants/${enc(t)}/apis/${enc(id)}`, patch); }
  deleteApi(t: string, id: string): Promise<void> { return this.#m('DELETE', `/tenants/${enc(t)}/apis/${enc(id)}`); }

  // Grants
  listGrants(t: string, filter: { clientId?: string; audience?: string }, cursor: string | null, limit = 200): Promise<Page<Grant>> {
    return this.#m('GET', `/tenants/${enc(t)}/grants${query({ ...filter, limit, cursor })}`);
  }
  searchGrants(t: string, filter: { clientId?: string; audience?: string }, list: ListQuery<GrantSort>): Promise<Page<Grant>> {
    return this.#m('GET', `/tenants/${enc(t)}/grants${query({ ...filter, ...list, q: list.q || undefined })}`);
  }
  createGrant(t: string, input: { clientId: string; audience: string; scopes: string[] }): Promise<Grant> { return this.#m('POST', `/tenants/${enc(t)}/grants`, input); }
  /** Changes a grant in place: same id, no moment without access. */
  /** Changes a grant in place (same id): the fields given replace the current ones. */
  updateGrant(t: string, id: string, patch: { scopes?: string[]; customClaims?: Record<string, unknown> | null }): Promise<Grant> { return this.#m('PATCH', `/tenants/${enc(t)}/grants/${enc(id)}`, patch); }
  deleteGrant(t: string, id: string): Promise<void> { return this.#m('DELETE', `/tenants/${enc(t)}/grants/${enc(id)}`); }

  // Keys
  listKeys(t: string): Promise<Page<SigningKey>> { return this.#m('GET', `/tenants/${enc(t)}/keys`); }
  rotateKeys(t: string, emergency: boolean): Promise<Page<SigningKey>> { return this.#m('POST', `/tenants/${enc(t)}/keys/rotate`, { emergency }); }

  // Federations
  listFederations(t: string): Promise<Page<Federation>> { return this.#m('GET', `/tenants/${enc(t)}/federations`); }
  createFederation(t: string, input: FederationInput): Promise<Federation> { return this.#m('POST', `/tenants/${enc(t)}/federations`, input); }
  /** Changes a federation in place (same id): the fields given replace the current ones. */
  updateFederation(t: string, id: string, patch: Partial<FederationInput>): Promise<Federation> { return this.#m('PATCH', `/tenants/${enc(t)}/federations/${enc(id)}`, patch); }
  deleteFederation(t: string, id: string): Promise<void> { return this.#m('DELETE', `/tenants/${enc(t)}/federations/${enc(id)}`); }

  // Audit
  listAudit(t: string, filter: AuditFilter, cursor: string | null, limit = 100): Promise<Page<AuditEntry>> {
    return this.#m('GET', `/tenants/${enc(t)}/audit${query({ ...filter, limit, cursor })}`);
  }

  // Usage
  usage(t: string, q: UsageQuery): Promise<UsageSeries> { return this.#m('GET', `/tenants/${enc(t)}/usage${query({ ...q })}`); }
  /** Unused grants over `days`; with `page.limit`, one page of them (follow nextCursor). */
  unused(t: string, days: number, page: { limit?: number; cursor?: string | null } = {}): Promise<Unused> { return this.#m('GET', `/tenants/${enc(t)}/usage/unused${query({ days, ...page })}`); }
  /** Applies the suggestion computed over `days`: the window the page shows, not the server's default. */
  applySuggestion(t: string, grantId: string, days: number): Promise<Grant | undefined> { return this.#m('POST', `/tenants/${enc(t)}/usage/unused/${enc(grantId)}/apply`, { days }); }
  dormant(t: string, days: number): Promise<Dormant> { return this.#m('GET', `/tenants/${enc(t)}/usage/dormant${query({ days })}`); }
  /** `clientId`: that client's findings only. */
  waste(t: string, days: number, filter: { clientId?: string } = {}): Promise<Waste> { return this.#m('GET', `/tenants/${enc(t)}/usage/waste${query({ days, ...filter })}`); }
  /** `clientId`: that client's tokens only (by=api: the APIs it got tokens for, and when it last did). */
  top(t: string, by: 'client' | 'api', range: { from?: number; to?: number; limit?: number; clientId?: string } = {}): Promise<UsageTop> { return this.#m('GET', `/tenants/${enc(t)}/usage/top${query({ by, ...range })}`); }

  // The caller, and console users
  whoami(): Promise<Whoami> { return this.#m('GET', '/whoami'); }
  listConsoleUsers(): Promise<Page<ConsoleUser>> { return this.#m('GET', '/console-users'); }
  createConsoleUser(input: { username: string; role: ConsoleRole; tenants?: string[] }): Promise<CreatedConsoleUser> { return this.#m('POST', '/console-users', input); }
  updateConsoleUser(username: string, patch: { role?: ConsoleRole; tenants?: string[] | null; resetPassword?: boolean }): Promise<UpdatedConsoleUser> { return this.#m('PATCH', `/console-users/${enc(username)}`, patch); }
  deleteConsoleUser(username: string): Promise<void> { return this.#m('DELETE', `/console-users/${enc(username)}`); }
}

/** Every page of a list, following nextCursor (bounded, so a runaway server cannot hang the page). */
export async function allPages<T>(load: (cursor: string | null) => Promise<Page<T>>, maxPages = 100): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const page: Page<T> = await load(cursor);
    items.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === null) break;
  }
  return items;
}
