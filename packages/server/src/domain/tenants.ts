import { defaults } from '../config/defaults.js';
import { SIGNING_ALGS } from '../crypto/signing.js';
import type { SigningAlg, Tenant } from '../store/types.js';
import { type DomainContext, issuerOf } from './context.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from './errors.js';
import { assertLifetime, assertName, assertTenantId } from './rules.js';

export interface TenantView extends Tenant {
  issuer: string;
}

export interface CreateTenantInput {
  id: string;
  name?: string;
  signingAlg?: SigningAlg;
  accessTokenLifetime?: number | null;
  tokenQuotaPerMinute?: number | null;
  trustDomain?: string | null;
  dpopNonceRequired?: boolean;
}

export type TenantPatch = Partial<Pick<Tenant, 'name' | 'accessTokenLifetime' | 'tokenQuotaPerMinute' | 'signingAlg' | 'trustDomain' | 'dpopNonceRequired'>>;

/** A trust domain names the audience of transaction tokens: a URI or a name such as trust-domain.example. */
function assertTrustDomain(value: string | null | undefined): void {
  if (value == null) return;
  if (value.length === 0 || value.length > 2048 || /[\s\u0000-\u001f\u007f]/.test(value)) throw new ValidationError('trustDomain must be 1 to 2048 characters without whitespace');
}

export class TenantService {
  constructor(private readonly ctx: DomainContext) {}

  view(tenant: Tenant): TenantView {
    const issuer = issuerOf(this.ctx.config, tenant.id);
    return { ...tenant, issuer, trustDomain: tenant.trustDomain ?? issuer, dpopNonceRequired: tenant.dpopNonceRequired ?? false };
  }

  async create(input: CreateTenantInput, actor: string): Promise<TenantView> {
    assertTenantId(input.id);
    if (input.name !== undefined) assertName(input.name, 'name');
    const signingAlg = input.signingAlg ?? this.ctx.config.keys.defaultAlg;
    if (!SIGNING_ALGS.includes(signingAlg)) throw new ValidationError(`signingAlg must be one of ${SIGNING_ALGS.join(', ')}`);
    assertLifetime(input.accessTokenLifetime, this.ctx.config.tokens, 'accessTokenLifetime');
    assertTrustDomain(input.trustDomain);
    const tenant: Tenant = {
      id: input.id,
      name: input.name ?? input.id,
      signingAlg,
      accessTokenLifetime: input.accessTokenLifetime ?? null,
      tokenQuotaPerMinute: input.tokenQuotaPerMinute ?? null,
      trustDomain: input.trustDomain ?? null,
      dpopNonceRequired: input.dpopNonceRequired ?? false,
      createdAt: this.ctx.now(),
    };
    // Keys are generated before the transaction: never while it holds the write lock.
    const keys = await this.ctx.keys.prepare(signingAlg, 2);
    await this.ctx.store.transaction(async (tx) => {
      if ((await tx.getTenant(tenant.id)) !== null) throw new ConflictError(`tenant ${JSON.stringify(tenant.id)} already exists`);
      await tx.createTenant(tenant, { tenantId: tenant.id, actor, action: 'tenant.create', targetType: 'tenant', targetId: tenant.id, details: { name: tenant.name, signingAlg } });
      await this.ctx.keys.createInitialKeys(tx, tenant.id, signingAlg, actor, keys);
    });
    return this.view(tenant);
  }

  async list(): Promise<TenantView[]> {
    return (await this.ctx.store.listTenants()).map((t) => this.view(t));
  }

  async get(id: string): Promise<TenantView> {
    const tenant = await this.ctx.store.getTenant(id);
    if (tenant === null) throw new NotFoundError('tenant', id);
    return this.view(tenant);
  }

  /** A new `signingAlg` takes effect at the next rotation: its key is published now (KeyService.replaceNextKey). */
  async update(id: string, patch: TenantPatch, actor: string): Promise<TenantView> {
    if (patch.name !== undefined) assertName(patch.name, 'name');
    assertTrustDomain(patch.trustDomain);
    assertLifetime(patch.accessTokenLifetime, this.ctx.config.tokens, 'accessTokenLifetime');
    if (patch.signingAlg !== undefined && !SIGNING_ALGS.includes(patch.signingAlg)) {
      throw new ValidationError(`signingAlg must be one of ${SIGNING_ALGS.join(', ')}`);
    }
    // A key of the new algorithm is generated before the lock (not while holding it).
    const keys = await this.ctx.keys.prepare(patch.signingAlg ?? 'ES256', patch.signingAlg !== undefined ? 1 : 0);
    // Under the tenant's key lock: a rotation running at the same time must not promote
    // the next key this change replaces.
    const updated = await this.ctx.store.withLock(`keys:${id}`, async (tx) => {
      const current = await tx.getTenant(id);
      if (current === null) throw new NotFoundError('tenant', id);
      const result = await tx.updateTenant(id, patch, { tenantId: id, actor, action: 'tenant.update', targetType: 'tenant', targetId: id, details: { ...patch } });
      if (patch.signingAlg !== undefined && patch.signingAlg !== current.signingAlg) {
        await this.ctx.keys.replaceNextKey(tx, id, patch.signingAlg, actor, keys);
      }
      return result;
    });
    if (updated === null) throw new NotFoundError('tenant', id);
    return this.view(updated);
  }

  async delete(id: string, actor: string): Promise<void> {
    if (id === defaults.management.adminTenant) throw new ForbiddenError('the admin tenant cannot be deleted');
    // Recorded in the admin tenant: the tenant's own audit log goes with it.
    const deleted = await this.ctx.store.deleteTenant(id, { tenantId: defaults.management.adminTenant, actor, action: 'tenant.delete', targetType: 'tenant', targetId: id, details: {} });
    if (!deleted) throw new NotFoundError('tenant', id);
    // After the registry commit, outside it: the tenant's tokens fail already; this frees
    // its state and usage rows (what a failure leaves behind expires or is rolled away).
    await Promise.all([this.ctx.state.endTenant(id), this.ctx.store.usage().deleteTenant(id)]).catch(() => undefined);
  }

  /** Throws NotFoundError unless the tenant exists; used by every nested resource. */
  async require(id: string): Promise<Tenant> {
    const tenant = await this.ctx.store.getTenant(id);
    if (tenant === null) throw new NotFoundError('tenant', id);
    return tenant;
  }
}
