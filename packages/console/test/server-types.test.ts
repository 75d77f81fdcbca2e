/**
 * The console's types are the server's (src/api.ts imports them from @tessera/server):
 * these fixtures, typed as the console sees the management API, must also be what the
 * server's response schemas accept, field for field. A field renamed, added as required
 * or removed on either side fails here (and in `npm run typecheck`).
 */
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import * as ConsoleUsers from '../../server/src/manage/console-user-schemas.js';
import * as S from '../../server/src/manage/schemas.js';
import * as Usage from '../../server/src/manage/usage-schemas.js';
import type { Api, AuditEntry, Client, ConsoleUser, Federation, Grant, SigningKey, Tenant, UnusedGrant, UsageTop, Whoami } from '../src/api.js';

const client: Client = {
  clientId: 'c1', name: 'billing', tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic', jwks: null, jwksUri: null,
  tlsClientAuthSubjectDn: null, accessTokenLifetime: null, tokenQuotaPerMinute: null, disabled: false, customClaims: {},
  issuer: 'http://x/t/default', tokenEndpoint: 'http://x/t/default/token', discoveryEndpoint: 'http://x/t/default/.well-known/openid-configuration',
  createdAt: 1, updatedAt: 1, secrets: [{ id: 'sec_1', createdAt: 1, lastUsedAt: 2 }],
};
const tenant: Tenant = { id: 'default', name: 'Default', signingAlg: 'ES256', accessTokenLifetime: null, tokenQuotaPerMinute: null, issuer: 'http://x/t/default', createdAt: 1 };
const api: Api = { id: 'a1', tenantId: 'default', identifier: 'https://orders', name: 'Orders', scopes: [{ value: 'read', description: 'Read' }], accessTokenLifetime: 600, tokenFormat: 'jwt', introspectors: [], createdAt: 1, updatedAt: 1 };
const grant: Grant = { id: 'g1', tenantId: 'default', clientId: 'c1', apiId: 'a1', audience: 'https://orders', scopes: ['read'], customClaims: {}, createdAt: 1 };
const audit: AuditEntry = { id: 'e1', tenantId: 'default', actor: 'console:admin', action: 'client.create', targetType: 'client', targetId: 'c1', details: { name: 'billing' }, at: 1 };
const user: ConsoleUser = { username: 'vera', role: 'viewer', tenants: ['default'], createdAt: 1, updatedAt: null };
const whoami: Whoami = { actor: 'console:vera', clientId: 'cli_console', scopes: ['manage:read'], tenants: ['default'], role: 'viewer' };
const top: UsageTop = { by: 'client', from: 0, to: 60_000, rows: [{ clientId: 'c1', name: 'billing', issued: 3, refused: 1, lastUsedAt: 5 }] };
const unused: UnusedGrant = { grantId: 'g1', clientId: 'c1', audience: 'https://orders', grantedScopes: ['read', 'write'], usedScopes: ['read'], unusedScopes: ['write'], lastUsedAt: 1, suggestion: { action: 'narrow', scopes: ['read'] } };

/** Every field of `value` the schema declares, and every required one present and valid. */
function expectMatches(schema: TSchema, value: unknown): void {
  const errors = [...Value.Errors(schema, value)].map((e) => `${e.path}: ${e.message}`);
  expect(errors).toEqual([]);
  const declared = Object.keys((schema as { properties?: Record<string, unknown> }).properties ?? {});
  expect(Object.keys(value as object).filter((key) => !declared.includes(key))).toEqual([]);
}

describe("the console's types are the management API's", () => {
  it.each([
    ['client', S.ClientBody, client],
    ['tenant', S.TenantBody, tenant],
    ['api', S.ApiBody, api],
    ['grant', S.GrantBody, grant],
    ['audit entry', S.AuditBody, audit],
    ['console user', ConsoleUsers.ConsoleUserBody, user],
    ['whoami', ConsoleUsers.WhoamiBody, whoami],
    ['usage top', Usage.TopBody, top],
    ['unused grants', Usage.UnusedBody, { days: 30, grants: [unused] }],
  ] as const)('a %s the console reads is what the server answers', (_name, schema, value) => {
    expectMatches(schema, value);
  });

  it('keys and federations as the server answers them are what the console reads', () => {
    const key: SigningKey = { kid: 'k1', alg: 'ES256', status: 'active', publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, createdAt: 1, activatedAt: 1, retiredAt: null, publishUntil: null };
    expectMatches(S.KeyBody, key);
    const federation: Federation = {
      id: 'f1', tenantId: 'default', name: 'ci', kind: 'jwt-bearer', issuer: 'https://token.actions.githubusercontent.com', jwksUri: null, jwks: null, audience: null,
      rules: [{ subject: 'repo:x/y:ref:refs/heads/main', clientId: 'c1' }], exchangeRules: [], claimMappings: {}, replayProtection: { mode: 'none' }, createdAt: 1,
    };
    expectMatches(S.FederationBody, federation);
  });
});
