import { randomBytes } from 'node:crypto';
import type { Grant, GrantSort, ListRequest, Page, Store } from '../store/types.js';
import { assertCustomClaims } from './claims.js';
import { keepingAdminAccess } from './admin-access.js';
import { clampPageSize, type DomainContext } from './context.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { assertScopeValues } from './rules.js';

export interface GrantInput {
  clientId: string;
  /** The API identifier. */
  audience: string;
  scopes: string[];
  /** Static claims in every token issued under this grant. */
  customClaims?: Record<string, unknown>;
}

/** Deny by default: a client gets a token for an API only through a grant. */
export class GrantService {
  constructor(private readonly ctx: DomainContext) {}

  async create(tenantId: string, input: GrantInput, actor: string): Promise<Grant> {
    assertScopeValues(input.scopes);
    const customClaims = assertCustomClaims(input.customClaims ?? {});
    const grant = await this.ctx.store.transaction(async (tx) => {
      if ((await tx.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
      if ((await tx.getClient(tenantId, input.clientId)) === null) {
        throw new ValidationError(`client ${JSON.stringify(input.clientId)} does not exist in tenant ${JSON.stringify(tenantId)}`);
      }
      const api = await tx.getApiByIdentifier(tenantId, input.audience);
      if (api === null) throw new ValidationError(`no API with identifier ${JSON.stringify(input.audience)} in tenant ${JSON.stringify(tenantId)}`);
      const known = new Set(api.scopes.map((s) => s.value));
      const unknown = input.scopes.filter((s) => !known.has(s));
      if (unknown.length > 0) throw new ValidationError(`scopes not defined by the API: ${unknown.join(' ')}`);
      const existing = await tx.listGrants(tenantId, { clientId: input.clientId, audience: input.audience }, { limit: 1 });
      if (existing.items.length > 0) {
        throw new ConflictError(`client already has a grant on this API (${existing.items[0]?.id}); change its scopes with PATCH instead`);
      }
      const created: Grant = {
        id: `grt_${randomBytes(12).toString('hex')}`,
        tenantId,
        clientId: input.clientId,
        apiId: api.id,
        audience: api.identifier,
        scopes: input.scopes,
        customClaims,
        createdAt: this.ctx.now(),
      };
      await tx.createGrant(created, { tenantId, actor, action: 'grant.create', targetType: 'grant', targetId: created.id, details: { clientId: created.clientId, audience: created.audience, scopes: created.scopes, customClaims: Object.keys(customClaims) } });
      return created;
    });
    return grant;
  }

  async list(tenantId: string, filter: { clientId?: string; audience?: string }, request: Omit<ListRequest<GrantSort>, 'limit'> & { limit?: number }): Promise<Page<Grant>> {
    if ((await this.ctx.store.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
    return this.ctx.store.listGrants(tenantId, filter, { ...request, limit: clampPageSize(request.limit), cursor: request.cursor ?? null });
  }

  async get(tenantId: string, id: string): Promise<Grant> {
    const grant = await this.ctx.store.getGrant(tenantId, id);
    if (grant === null) throw new NotFoundError('grant', id);
    return grant;
  }

  /**
   * Changes the grant in place, same id (narrowing it to what is used, say): its scopes,
   * its custom claims (null or {} clears them), or both; audited.
   */
  async update(tenantId: string, id: string, input: { scopes?: string[]; customClaims?: Record<string, unknown> | null }, actor: string): Promise<Grant> {
    if (input.scopes === undefined && input.customClaims === undefined) throw new ValidationError('give scopes, customClaims or both');
    if (input.scopes !== undefined) assertScopeValues(input.scopes);
    const customClaims = input.customClaims === undefined ? undefined : assertCustomClaims(input.customClaims ?? {});
    const write = (store: Store) => store.transaction(async (tx) => {
      if ((await tx.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
      const existing = await tx.getGrant(tenantId, id);
      if (existing === null) throw new NotFoundError('grant', id);
      let scopes: string[] | undefined;
      if (input.scopes !== undefined) {
        const api = await tx.getApi(tenantId, existing.apiId);
        const known = new Set(api?.scopes.map((s) => s.value) ?? []);
        const unknown = input.scopes.filter((s) => !known.has(s));
        if (unknown.length > 0) throw new ValidationError(`scopes not defined by the API: ${unknown.join(' ')}`);
        scopes = [...new Set(input.scopes)];
      }
      const updated = await tx.updateGrant(tenantId, id, { ...(scopes !== undefined ? { scopes } : {}), ...(customClaims !== undefined ? { customClaims } : {}) }, {
        tenantId,
        actor,
        action: 'grant.update',
        targetType: 'grant',
        targetId: id,
        details: {
          clientId: existing.clientId,
          audience: existing.audience,
          ...(scopes !== undefined ? { scopes, previousScopes: existing.scopes } : {}),
          ...(customClaims !== undefined ? { customClaims: Object.keys(customClaims) } : {}),
        },
      });
      if (updated === null) throw new NotFoundError('grant', id);
      return updated;
    });
    // Taking manage:write away is a revocation as far as the administrators are concerned.
    const before = await this.ctx.store.getGrant(tenantId, id);
    const dropsWrite = before !== null && input.scopes !== undefined && before.scopes.includes('manage:write') && !input.scopes.includes('manage:write');
    return dropsWrite ? keepingAdminAccess(this.ctx.store, tenantId, { kind: 'grant', grantId: id }, write) : write(this.ctx.store);
  }

  async delete(tenantId: string, id: string, actor: string): Promise<void> {
    if ((await this.ctx.store.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
    const deleted = await keepingAdminAccess(this.ctx.store, tenantId, { kind: 'grant', grantId: id }, (store) =>
      store.deleteGrant(tenantId, id, { tenantId, actor, action: 'grant.delete', targetType: 'grant', targetId: id, details: {} }));
    if (!deleted) {
      throw new NotFoundError('grant', id);
    }
  }
}
