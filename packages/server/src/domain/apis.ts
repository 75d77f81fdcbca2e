import { randomBytes } from 'node:crypto';
import type { Api, ApiScope, ApiSort, ListRequest, NewAuditEntry, Page, Store, TokenFormat } from '../store/types.js';
import { keepingAdminAccess } from './admin-access.js';
import { clampPageSize, type DomainContext } from './context.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { assertApiIdentifier, assertLifetime, assertName, assertScopeValues } from './rules.js';

export interface ApiInput {
  identifier: string;
  name?: string;
  scopes: ApiScope[];
  accessTokenLifetime?: number | null;
  tokenFormat?: TokenFormat;
  introspectors?: string[];
}

export type ApiPatch = Partial<ApiInput>;

export class ApiService {
  constructor(private readonly ctx: DomainContext) {}

  async create(tenantId: string, input: ApiInput, actor: string): Promise<Api> {
    const now = this.ctx.now();
    const api: Api = {
      id: `api_${randomBytes(12).toString('hex')}`,
      tenantId,
      identifier: input.identifier,
      name: input.name ?? input.identifier,
      scopes: input.scopes,
      accessTokenLifetime: input.accessTokenLifetime ?? null,
      tokenFormat: input.tokenFormat ?? 'jwt',
      introspectors: input.introspectors ?? [],
      createdAt: now,
      updatedAt: now,
    };
    this.#validate(api);
    await this.ctx.store.transaction(async (tx) => {
      if ((await tx.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
      if ((await tx.getApiByIdentifier(tenantId, api.identifier)) !== null) {
        throw new ConflictError(`an API with identifier ${JSON.stringify(api.identifier)} already exists`);
      }
      await this.#assertIntrospectorsExist(tx, tenantId, api.introspectors);
      await tx.createApi(api, audit(tenantId, actor, 'api.create', api.id, { identifier: api.identifier, scopes: api.scopes.map((s) => s.value), tokenFormat: api.tokenFormat }));
    });
    return api;
  }

  async list(tenantId: string, request: Omit<ListRequest<ApiSort>, 'limit'> & { limit?: number }): Promise<Page<Api>> {
    await this.#requireTenant(tenantId);
    return this.ctx.store.listApis(tenantId, { ...request, limit: clampPageSize(request.limit), cursor: request.cursor ?? null });
  }

  async get(tenantId: string, id: string): Promise<Api> {
    await this.#requireTenant(tenantId);
    const api = await this.ctx.store.getApi(tenantId, id);
    if (api === null) throw new NotFoundError('API', id);
    return api;
  }

  async update(tenantId: string, id: string, patch: ApiPatch, actor: string): Promise<Api> {
    const current = await this.get(tenantId, id);
    const changes = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as ApiPatch;
    const merged: Api = { ...current, ...changes, updatedAt: this.ctx.now() } as Api;
    this.#validate(merged);
    if (changes.identifier !== undefined && changes.identifier !== current.identifier) {
      const clash = await this.ctx.store.getApiByIdentifier(tenantId, changes.identifier);
      if (clash !== null) throw new ConflictError(`an API with identifier ${JSON.stringify(changes.identifier)} already exists`);
    }
    if (changes.introspectors !== undefined) await this.#assertIntrospectorsExist(this.ctx.store, tenantId, changes.introspectors);
    const { id: _id, tenantId: _t, createdAt: _c, ...fields } = merged;
    const keeps = { identifier: merged.identifier, scopes: merged.scopes.map((s) => s.value) };
    const updated = await keepingAdminAccess(this.ctx.store, tenantId, { kind: 'api', apiId: id, action: keeps }, (store) =>
      store.updateApi(tenantId, id, fields, audit(tenantId, actor, 'api.update', id, { ...changes })));
    if (updated === null) throw new NotFoundError('API', id);
    return updated;
  }

  async delete(tenantId: string, id: string, actor: string): Promise<void> {
    await this.#requireTenant(tenantId);
    const deleted = await keepingAdminAccess(this.ctx.store, tenantId, { kind: 'api', apiId: id, action: 'delete' }, (store) =>
      store.deleteApi(tenantId, id, audit(tenantId, actor, 'api.delete', id, {})));
    if (!deleted) throw new NotFoundError('API', id);
  }

  #validate(api: Api): void {
    assertApiIdentifier(api.identifier);
    assertName(api.name, 'name', 200);
    if (!Array.isArray(api.scopes)) throw new ValidationError('scopes must be an array of {value, description?}');
    assertScopeValues(api.scopes.map((s) => s.value));
    for (const scope of api.scopes) {
      if (scope.description !== undefined && scope.description.length > 500) throw new ValidationError('scope descriptions are at most 500 characters');
    }
    assertLifetime(api.accessTokenLifetime, this.ctx.config.tokens, 'accessTokenLifetime');
    if (api.tokenFormat !== 'jwt' && api.tokenFormat !== 'opaque') throw new ValidationError('tokenFormat must be "jwt" or "opaque"');
  }

  async #assertIntrospectorsExist(store: Store, tenantId: string, clientIds: string[]): Promise<void> {
    for (const clientId of clientIds) {
      if ((await store.getClient(tenantId, clientId)) === null) {
        throw new ValidationError(`introspector ${JSON.stringify(clientId)} is not a client of this tenant`);
      }
    }
  }

  async #requireTenant(tenantId: string): Promise<void> {
    if ((await this.ctx.store.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
  }
}

function audit(tenantId: string, actor: string, action: string, id: string, details: Record<string, unknown>): NewAuditEntry {
  return { tenantId, actor, action, targetType: 'api', targetId: id, details };
}
