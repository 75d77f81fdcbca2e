/**
 * Nobody can lock the administrators out (SPEC §5): the console's own client and the
 * last grant of `manage:write` in the admin tenant cannot be disabled, deleted,
 * revoked or given a secret. Whoever asks gets 409; the page is not the only guard.
 *
 * "The last grant" counts the grants a client can still use to call the management
 * API with manage:write: on the management API, holding manage:write, of an enabled
 * client other than the console's (which cannot authenticate at the token endpoint,
 * so it is no way in for the CLI or a script).
 */
import { defaults } from '../config/defaults.js';
import type { Grant, Store } from '../store/types.js';
import { CONSOLE_CLIENT_META } from './console.js';
import { ConflictError } from './errors.js';

export type AdminAccessChange =
  | { kind: 'client'; clientId: string; action: 'disable' | 'delete' | 'add-secret' | 'add-credential' }
  | { kind: 'grant'; grantId: string }
  | { kind: 'api'; apiId: string; action: 'delete' | { identifier: string; scopes: string[] } };

const LOCK = 'admin-access';
const WRITE = 'manage:write';

/**
 * Runs `change` (a store write) after checking that it keeps the admin tenant
 * manageable. In the admin tenant the check and the write share one lock, so two
 * concurrent revocations cannot each see the other's grant as the survivor.
 */
export async function keepingAdminAccess<T>(store: Store, tenantId: string, change: AdminAccessChange, write: (store: Store) => Promise<T>): Promise<T> {
  if (tenantId !== defaults.management.adminTenant) return write(store);
  return store.withLock(LOCK, async (tx) => {
    await assertKeepsAdminAccess(tx, change);
    return write(tx);
  });
}

async function assertKeepsAdminAccess(store: Store, change: AdminAccessChange): Promise<void> {
  const tenantId = defaults.management.adminTenant;
  const consoleClientId = await store.getMeta(CONSOLE_CLIENT_META);
  const api = await store.getApiByIdentifier(tenantId, defaults.management.audience);
  switch (change.kind) {
    case 'client': {
      if (change.clientId === consoleClientId) {
        const verb = { disable: 'disabled', delete: 'deleted', 'add-secret': 'given a secret', 'add-credential': 'given keys, a certificate or another authentication method' }[change.action];
        throw new ConflictError(`the console's own client cannot be ${verb}: the web console signs in through it, and it must never authenticate by itself`);
      }
      if (change.action === 'add-secret' || change.action === 'add-credential' || api === null) return;
      const holders = await writeHolders(store, api.id, consoleClientId);
      if (holders.length > 0 && holders.every((g) => g.clientId === change.clientId)) {
        throw new ConflictError(`this client holds the last grant of ${WRITE} in the admin tenant and cannot be ${change.action === 'disable' ? 'disabled' : 'deleted'}: grant ${WRITE} to another admin client first`);
      }
      return;
    }
    case 'grant': {
      if (api === null) return;
      const grant = await store.getGrant(tenantId, change.grantId);
      if (grant === null || grant.apiId !== api.id) return;
      if (grant.clientId === consoleClientId) throw new ConflictError('the console\'s own grant of the management API cannot be revoked: the web console would lock everyone out');
      const holders = await writeHolders(store, api.id, consoleClientId);
      if (holders.length === 1 && holders[0]?.id === grant.id) {
        throw new ConflictError(`this is the last grant of ${WRITE} in the admin tenant and cannot be revoked: grant ${WRITE} to another admin client first`);
      }
      return;
    }
    case 'api': {
      if (api === null || change.apiId !== api.id) return;
      if (change.action === 'delete') throw new ConflictError('the management API of the admin tenant cannot be deleted: every administrator would be locked out');
      if (change.action.identifier !== api.identifier || !change.action.scopes.includes(WRITE) || !change.action.scopes.includes('manage:read')) {
        throw new ConflictError(`the management API keeps its identifier ${api.identifier} and its scopes manage:read and ${WRITE}`);
      }
      return;
    }
  }
}

/** The usable manage:write grants of the admin tenant (see the module comment). */
async function writeHolders(store: Store, apiId: string, consoleClientId: string | null): Promise<Grant[]> {
  const tenantId = defaults.management.adminTenant;
  const holders: Grant[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listGrants(tenantId, { audience: defaults.management.audience }, { limit: defaults.management.maxPageSize, cursor });
    for (const grant of page.items) {
      if (grant.apiId !== apiId || grant.clientId === consoleClientId || !grant.scopes.includes(WRITE)) continue;
      const client = await store.getClient(tenantId, grant.clientId);
      if (client !== null && !client.disabled) holders.push(grant);
    }
    cursor = page.nextCursor;
  } while (cursor !== null);
  return holders;
}
