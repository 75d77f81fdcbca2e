import { randomBytes } from 'node:crypto';
import type { Grant, Page } from '../store/types.js';
import { keepingAdminAccess } from './admin-access.js';
import { clampPageSize, type DomainContext } from './context.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import { assertScopeValues } from './rules.js';

export interface GrantInput {
  clientId: string;
  /** The API identifier. */
  audience: string;
  scopes: string[];
}

/** Deny by default: a client gets a token for an API only through a grant. */
export class GrantService {
  constructor(private readonly ctx: DomainContext) {}

  async create(tenantId: string, input: GrantInput, actor: string): Promise<Grant> {
    assertScopeValues(input.scopes);
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
        throw new ConflictError(`client already has a grant on this API (${existing.items[0]?.id}); delete it and grant again to change scopes`);
      }
      const created: Grant = {
        id: `grt_${randomBytes(12).toString('hex')}`,
        tenantId,
        clientId: input.clientId,
        apiId: api.id,
        audience: api.identifier,
        scopes: input.scopes,
        createdAt: this.ctx.now(),
      };
      await tx.createGrant(created, { tenantId, actor, action: 'grant.create', targetType: 'grant', targetId: created.id, details: { clientId: created.clientId, audience: created.audience, scopes: created.scopes } });
      return created;
    });
    this.ctx.registry.invalidate(tenantId);
    return grant;
  }

  async list(tenantId: string, filter: { clientId?: string; audience?: string }, page: { limit?: number; cursor?: string | null }): Promise<Page<Grant>> {
    if ((await this.ctx.store.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
    return this.ctx.store.listGrants(tenantId, filter, { limit: clampPageSize(page.limit), cursor: page.cursor ?? null });
  }

  async get(tenantId: string, id: string): Promise<Grant> {
    const grant = await this.ctx.store.getGrant(tenantId, id);
    if (grant === null) throw new NotFoundError('grant', id);
    return grant;
  }

  async delete(tenantId: string, id: string, actor: string): Promise<void> {
    if ((await this.ctx.store.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
    const deleted = await keepingAdminAccess(this.ctx.store, tenantId, { kind: 'grant', grantId: id }, (store) =>
      store.deleteGrant(tenantId, id, { tenantId, actor, action: 'grant.delete', targetType: 'grant', targetId: id, details: {} }));
    if (!deleted) {
      throw new NotFoundError('grant', id);
    }
    this.ctx.registry.invalidate(tenantId);
  }
}
