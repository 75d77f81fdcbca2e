/**
 * First start on an empty store (SPEC §1): the `default` tenant, the `admin` tenant
 * with the management API and one admin client granted it, a console user, and
 * signing keys for each tenant. Runs exactly once per database, however many
 * replicas start at the same moment.
 *
 * The bootstrap is not complete until its credentials are safe: `persist` (main.ts
 * writes admin.json, atomically) runs inside the bootstrap transaction, as its last
 * step. If it fails, or the process dies before the commit, nothing of the bootstrap
 * remains in the store and the next start runs it again; once the commit is through,
 * the credentials are already on disk. There is no state in between.
 */
import { randomBytes } from 'node:crypto';
import { defaults } from '../config/defaults.js';
import { hashPassword } from '../crypto/passwords.js';
import { ApiService } from './apis.js';
import { ClientService } from './clients.js';
import { CONSOLE_CLIENT_META } from './console.js';
import type { DomainContext } from './context.js';
import { GrantService } from './grants.js';
import { writePublicUrl } from './public-url.js';
import { TenantService } from './tenants.js';

export interface BootstrapResult {
  adminClientId: string;
  adminClientSecret: string;
  consoleUser: string;
  consolePassword: string;
  /** Which credentials came from the environment (TESSERA_BOOTSTRAP_*): admin.json leaves them out. */
  fromEnvironment: { adminSecret: boolean; consolePassword: boolean };
}

const ACTOR = 'bootstrap';
/** The bootstrap admin client's id: `tessera admin reset` gives it a new secret. */
export const ADMIN_CLIENT_META = 'admin-client';

export async function bootstrap(ctx: DomainContext, persist: (result: BootstrapResult) => Promise<void> = async () => {}): Promise<BootstrapResult | null> {
  const { adminTenant, defaultTenant, audience } = defaults.management;
  const result = await ctx.store.bootstrapOnce(async (tx) => {
    const txCtx: DomainContext = { ...ctx, store: tx };
    const tenants = new TenantService(txCtx);
    await tenants.create({ id: defaultTenant, name: 'Default' }, ACTOR);
    await tenants.create({ id: adminTenant, name: 'Tessera administration' }, ACTOR);
    await new ApiService(txCtx).create(adminTenant, {
      identifier: audience,
      name: 'Tessera management API',
      scopes: [
        { value: 'manage:read', description: 'read tenants, clients, APIs, grants, keys and the audit log' },
        { value: 'manage:write', description: 'change them' },
      ],
    }, ACTOR);
    const given = ctx.config.bootstrap;
    // TESSERA_BOOTSTRAP_ADMIN_SECRET is a secret the caller brings, like any other: stored hashed.
    const client = await new ClientService(txCtx).create(adminTenant, { name: 'Bootstrap admin', ...(given.adminSecret !== null ? { clientSecret: given.adminSecret } : {}) }, ACTOR);
    await tx.setMeta(ADMIN_CLIENT_META, client.clientId);
    await new GrantService(txCtx).create(adminTenant, { clientId: client.clientId, audience, scopes: ['manage:read', 'manage:write'] }, ACTOR);
    // The console's own client: never authenticates itself (its secret is dropped here);
    // console sign-in issues its short-lived tokens (domain/console.ts).
    const consoleClient = await new ClientService(txCtx).create(adminTenant, { name: 'Tessera console', accessTokenLifetime: 900 }, ACTOR);
    await new GrantService(txCtx).create(adminTenant, { clientId: consoleClient.clientId, audience, scopes: ['manage:read', 'manage:write'] }, ACTOR);
    for (const secret of consoleClient.secrets) await tx.deleteClientSecret(adminTenant, consoleClient.clientId, secret.id);
    await tx.setMeta(CONSOLE_CLIENT_META, consoleClient.clientId);
    const consolePassword = given.consolePassword ?? randomBytes(18).toString('base64url');
    await tx.createConsoleUser({ username: 'admin', passwordHash: await hashPassword(consolePassword), createdAt: ctx.now() });
    const adminClientSecret = given.adminSecret ?? client.clientSecret;
    if (adminClientSecret === undefined) throw new Error('bootstrap admin client has no secret');
    await writePublicUrl(tx, { url: ctx.config.publicUrl, configured: ctx.config.publicUrlConfigured });
    const result: BootstrapResult = {
      adminClientId: client.clientId,
      adminClientSecret,
      consoleUser: 'admin',
      consolePassword,
      fromEnvironment: { adminSecret: given.adminSecret !== null, consolePassword: given.consolePassword !== null },
    };
    await persist(result);
    return result;
  });
  return result;
}
