import { describe, expect, it } from 'vitest';
import type { ApiResource, ClientResource, TenantResource } from '@tessera/server';
import { parseConfig } from './file.js';
import { computePlan } from './plan.js';
import type { TenantState } from './registry.js';

const tenant: TenantResource = { id: 'shop', name: 'Shop', signingAlg: 'ES256', accessTokenLifetime: null, tokenQuotaPerMinute: null, issuer: 'https://a/t/shop', createdAt: 1 };
const api: ApiResource = {
  id: 'api_1', tenantId: 'shop', identifier: 'https://orders', name: 'Orders', accessTokenLifetime: null, tokenFormat: 'jwt', introspectors: ['svc'], createdAt: 1, updatedAt: 1,
  scopes: [{ value: 'read', description: 'Read' }, { value: 'write' }],
};
const jwk = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k1' };
const client = {
  clientId: 'svc', name: 'Service', tenantId: 'shop', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] }, jwksUri: null, tlsClientAuthSubjectDn: null,
  accessTokenLifetime: null, tokenQuotaPerMinute: null, disabled: false, customClaims: {}, issuer: 'https://a/t/shop', tokenEndpoint: 'https://a/t/shop/token',
  discoveryEndpoint: 'https://a/t/shop/.well-known/openid-configuration', createdAt: 1, updatedAt: 1, secrets: [],
} as ClientResource;
const state: TenantState = { tenant, apis: [api], clients: [client], grants: [], federations: [] };

const planOf = (yaml: string, prune = false) => computePlan(parseConfig(yaml), new Map([['shop', state]]), { prune });

describe('computePlan', () => {
  it('finds no difference in what the file leaves out, nor in values the server keeps otherwise', () => {
    const plan = planOf(`version: 1
tenants:
  - id: shop
    apis:
      - identifier: https://orders
        scopes: [write, read]          # order, and a description left out
        introspectors: [svc, svc]
    clients:
      - clientId: svc
        name: Service
        customClaims: null
        jwks: { keys: [{ kty: EC, crv: P-256, x: x, y: y, kid: k1, ext: true, key_ops: [verify] }] }
`);
    expect(plan.changes).toEqual([]);
  });

  it('says each changed field with its value before and after, and keeps a description the file leaves out', () => {
    const plan = planOf(`version: 1
tenants:
  - id: shop
    name: Shop EU
    apis:
      - identifier: https://orders
        scopes: [read, create]
`);
    expect(plan.changes.map((c) => [c.action, c.kind, c.name, c.fields])).toEqual([
      ['update', 'tenant', 'shop', [{ field: 'name', before: 'Shop', after: 'Shop EU' }]],
      ['update', 'api', 'https://orders', [{ field: 'scopes', before: api.scopes, after: [{ value: 'read', description: 'Read' }, { value: 'create' }] }]],
    ]);
    expect(plan.changes[1]?.request).toEqual({ method: 'PATCH', path: '/tenants/shop/apis/api_1', body: { scopes: [{ value: 'read', description: 'Read' }, { value: 'create' }] } });
  });

  it('a jwksUri that replaces keys clears them in the same request; a secret method without a secret gets one', () => {
    const plan = planOf(`version: 1
tenants:
  - id: shop
    clients:
      - clientId: svc
        name: Service
        tokenEndpointAuthMethod: client_secret_basic
`);
    expect(plan.changes.map((c) => `${c.action} ${c.kind}`)).toEqual(['update client', 'create secret']);
    const keyed = planOf(`version: 1
tenants:
  - id: shop
    clients:
      - clientId: svc
        name: Service
        jwksUri: https://svc.example/jwks
`);
    expect(keyed.changes[0]?.request.body).toEqual({ jwksUri: 'https://svc.example/jwks', jwks: null });
  });

  it('lists what the file does not name, and deletes it only with prune, in reverse dependency order', () => {
    const empty = 'version: 1\ntenants:\n  - id: shop\n    apis: []\n    clients: []\n';
    expect(planOf(empty).changes).toEqual([]);
    expect(planOf(empty).unmanaged.map((u) => `${u.kind} ${u.name}`)).toEqual(['client svc', 'api https://orders']);
    expect(planOf(empty, true).changes.map((c) => `${c.action} ${c.kind} ${c.request.path}`)).toEqual(['delete client /tenants/shop/clients/svc', 'delete api /tenants/shop/apis/api_1']);
  });

  it('prunes only the collections the file states: a tenant without clients: leaves them alone', () => {
    const withGrant: TenantState = { ...state, grants: [{ id: 'grt_1', tenantId: 'shop', clientId: 'svc', apiId: 'api_1', audience: 'https://orders', scopes: ['read'], customClaims: {}, createdAt: 1 }] };
    const plan = (yaml: string) => computePlan(parseConfig(yaml), new Map([['shop', withGrant]]), { prune: true });
    expect(plan('version: 1\ntenants:\n  - id: shop\n').changes).toEqual([]);
    // The client goes, so its grant is listed too, although the file says nothing of grants.
    expect(plan('version: 1\ntenants:\n  - id: shop\n    clients: []\n').changes.map((c) => `${c.action} ${c.kind} ${c.name}`)).toEqual(['delete grant svc → https://orders', 'delete client svc']);
  });

  it('creates in dependency order, and an API whose introspector is new gets it once the client exists', () => {
    const plan = computePlan(parseConfig(`version: 1
tenants:
  - id: fresh
    grants: [{ clientId: c, audience: https://x, scopes: [s] }]
    clients: [{ clientId: c, name: C }]
    apis: [{ identifier: https://x, scopes: [s], introspectors: [c] }]
`), new Map([['fresh', null]]), { prune: false });
    expect(plan.changes.map((c) => `${c.action} ${c.kind}`)).toEqual(['create tenant', 'create api', 'create client', 'update api', 'create grant']);
    expect(plan.changes[1]?.request.body).toMatchObject({ introspectors: [] });
    expect(plan.changes[3]).toMatchObject({ createdApi: 'https://x', request: { body: { introspectors: ['c'] } } });
    expect(plan.changes[2]?.secretFor).toBe('c');
  });
});
