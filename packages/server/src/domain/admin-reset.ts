/**
 * Break-glass (`tessera admin reset`, docs/deploy.md): the bootstrap admin client gets
 * a new secret and loses every other, in one transaction that also writes the new
 * admin.json (like the bootstrap, domain/bootstrap.ts: if the file cannot be written,
 * nothing changed). Whatever stood between the client and the management API is put
 * back: it is enabled, authenticates with a secret again, and holds manage:read and
 * manage:write. Every step is in the admin tenant's audit log under the reset's actor.
 *
 * Running servers see the change through the change feed, like any other write: the
 * old secret stops working on every replica within the feed's poll interval.
 */
import { defaults } from '../config/defaults.js';
import { generateSecret, hashSecret } from '../crypto/secrets.js';
import type { Client, NewAuditEntry, Store } from '../store/types.js';
import { ADMIN_CLIENT_META } from './bootstrap.js';
import { ClientService, newSecretId } from './clients.js';
import { CONSOLE_CLIENT_META } from './console.js';
import type { DomainContext } from './context.js';
import { GrantService } from './grants.js';

export interface AdminResetResult {
  adminClientId: string;
  adminClientSecret: string;
  /** Ids of the secrets the client had, now deleted. */
  revokedSecrets: string[];
  /** What else had to be put back (`enabled`, `secret authentication`, `grant`, `created`). */
  repaired: string[];
}

/** The same lock as domain/admin-access.ts: no one revokes the admin grant halfway through a reset. */
const LOCK = 'admin-access';
const SCOPES = ['manage:read', 'manage:write'];

export async function resetAdminClient(ctx: DomainContext, actor: string, persist: (result: AdminResetResult) => Promise<void>): Promise<AdminResetResult> {
  const { adminTenant, audience } = defaults.management;
  return ctx.store.withLock(LOCK, async (tx) => {
    const txCtx: DomainContext = { ...ctx, store: tx };
    const entry = (action: string, clientId: string, details: Record<string, unknown>): NewAuditEntry => ({ tenantId: adminTenant, actor, action, targetType: 'client', targetId: clientId, details });
    if ((await tx.getTenant(adminTenant)) === null) throw new Error('this store has no admin tenant: it was never bootstrapped (start the server once)');
    const api = await tx.getApiByIdentifier(adminTenant, audience);
    if (api === null) throw new Error(`the admin tenant has no management API (${audience}); this store cannot be repaired by a reset`);
    const repaired: string[] = [];
    let client = await findAdminClient(tx);
    if (client === null) {
      const created = await new ClientService(txCtx).create(adminTenant, { name: 'Bootstrap admin' }, actor);
      for (const secret of created.secrets) await tx.deleteClientSecret(adminTenant, created.clientId, secret.id);
      client = (await tx.getClient(adminTenant, created.clientId)) as Client;
      repaired.push('created');
    }
    const clientId = client.clientId;
    if (client.disabled || (client.tokenEndpointAuthMethod !== 'client_secret_basic' && client.tokenEndpointAuthMethod !== 'client_secret_post')) {
      const patch = { disabled: false, tokenEndpointAuthMethod: 'client_secret_basic' as const, updatedAt: ctx.now() };
      if (client.disabled) repaired.push('enabled');
      if (patch.tokenEndpointAuthMethod !== client.tokenEndpointAuthMethod) repaired.push('secret authentication');
      await tx.updateClient(adminTenant, clientId, patch, entry('client.update', clientId, { disabled: false, tokenEndpointAuthMethod: patch.tokenEndpointAuthMethod, reason: 'admin reset' }));
    }
    const grants = (await tx.listGrants(adminTenant, { clientId, audience }, { limit: defaults.management.maxPageSize, cursor: null })).items.filter((g) => g.apiId === api.id);
    const grant = grants[0];
    if (grant === undefined) {
      await new GrantService(txCtx).create(adminTenant, { clientId, audience, scopes: SCOPES }, actor);
      repaired.push('grant');
    } else if (!SCOPES.every((scope) => grant.scopes.includes(scope))) {
      await tx.updateGrant(adminTenant, grant.id, { scopes: [...new Set([...grant.scopes, ...SCOPES])] }, { tenantId: adminTenant, actor, action: 'grant.update', targetType: 'grant', targetId: grant.id, details: { scopes: SCOPES, reason: 'admin reset' } });
      repaired.push('grant');
    }
    const revokedSecrets: string[] = [];
    for (const secret of await tx.listClientSecrets(adminTenant, clientId)) {
      await tx.deleteClientSecret(adminTenant, clientId, secret.id, entry('client.secret.delete', clientId, { secretId: secret.id, reason: 'admin reset' }));
      revokedSecrets.push(secret.id);
    }
    const value = generateSecret();
    const secretId = newSecretId();
    await tx.addClientSecret(
      { id: secretId, tenantId: adminTenant, clientId, hash: hashSecret(value), createdAt: ctx.now(), lastUsedAt: null },
      entry('admin.reset', clientId, { secretId, revokedSecrets, repaired }),
    );
    await tx.setMeta(ADMIN_CLIENT_META, clientId);
    const result: AdminResetResult = { adminClientId: clientId, adminClientSecret: value, revokedSecrets, repaired };
    await persist(result);
    return result;
  });
}

/**
 * The client the bootstrap made (recorded since this release), else, for a store
 * bootstrapped before, the oldest client of the admin tenant other than the console's
 * that holds a grant of the management API. Null: there is none left.
 */
async function findAdminClient(store: Store): Promise<Client | null> {
  const { adminTenant, audience, maxPageSize } = defaults.management;
  const recorded = await store.getMeta(ADMIN_CLIENT_META);
  if (recorded !== null) {
    const client = await store.getClient(adminTenant, recorded);
    if (client !== null) return client;
  }
  const consoleClientId = await store.getMeta(CONSOLE_CLIENT_META);
  let oldest: Client | null = null;
  let cursor: string | null = null;
  do {
    const page = await store.listGrants(adminTenant, { audience }, { limit: maxPageSize, cursor });
    for (const grant of page.items) {
      if (grant.clientId === consoleClientId) continue;
      const client = await store.getClient(adminTenant, grant.clientId);
      if (client !== null && (oldest === null || client.createdAt < oldest.createdAt)) oldest = client;
    }
    cursor = page.nextCursor;
  } while (cursor !== null);
  return oldest;
}
