/**
 * `tessera export`: the registry as a file, deterministic and ready to commit; applied
 * to an empty second server, it gives the same registry, object by object (secrets and
 * signing keys aside: those are each server's own).
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Harness, startHarness } from './harness.js';

let source: Harness;
let target: Harness;

beforeAll(async () => {
  [source, target] = await Promise.all([startHarness(), startHarness()]);
  const m = source.t.manage;
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
  expect((await m('POST', '/tenants', { id: 'shop', name: 'Shop', signingAlg: 'EdDSA', accessTokenLifetime: 900, tokenQuotaPerMinute: 600 })).status).toBe(201);
  expect((await m('POST', '/tenants/shop/apis', { identifier: 'https://orders', name: 'Orders', scopes: [{ value: 'orders:read', description: 'Read' }, { value: 'orders:write' }], accessTokenLifetime: 300, tokenFormat: 'opaque' })).status).toBe(201);
  expect((await m('POST', '/tenants/shop/apis', { identifier: 'https://inventory', scopes: [{ value: 'stock' }] })).status).toBe(201);
  expect((await m('POST', '/tenants/shop/clients', { clientId: 'checkout', name: 'Checkout', customClaims: { team: 'payments' }, tokenQuotaPerMinute: 50 })).status).toBe(201);
  expect((await m('POST', '/tenants/shop/clients', { clientId: 'signer', name: 'Signer', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [jwk] }, accessTokenLifetime: 120 })).status).toBe(201);
  expect((await m('POST', '/tenants/shop/clients', { clientId: 'mtls', name: 'mTLS', tokenEndpointAuthMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=mtls,O=Shop', disabled: true })).status).toBe(201);
  expect((await m('POST', '/tenants/shop/clients', { name: 'Generated id' })).status).toBe(201);
  const inventory = (await m('GET', '/tenants/shop/apis')).body.items.find((a: { identifier: string }) => a.identifier === 'https://inventory');
  expect((await m('PATCH', `/tenants/shop/apis/${inventory.id}`, { introspectors: ['checkout'] })).status).toBe(200);
  expect((await m('POST', '/tenants/shop/grants', { clientId: 'checkout', audience: 'https://orders', scopes: ['orders:read', 'orders:write'], customClaims: { tier: 'gold' } })).status).toBe(201);
  expect((await m('POST', '/tenants/shop/grants', { clientId: 'signer', audience: 'https://inventory', scopes: ['stock'] })).status).toBe(201);
  expect((await m('POST', '/tenants/shop/federations', {
    name: 'ci', issuer: 'https://ci.example', jwks: { keys: [jwk] }, audience: 'https://shop',
    rules: [{ subject: 'repo:shop/*', claims: { ref: { prefix: 'refs/heads/' } }, clientId: 'signer' }],
    claimMappings: { repo: 'repository' }, replayProtection: { mode: 'single-use' },
  })).status).toBe(201);
  expect((await m('POST', '/tenants/shop/federations', { kind: 'subject', name: 'users', issuer: 'https://idp.example', jwksUri: 'https://idp.example/jwks', exchangeRules: [{ audience: 'api://shop', clients: ['checkout'] }] })).status).toBe(201);
  expect((await m('POST', '/tenants', { id: 'empty' })).status).toBe(201);
  expect((await m('POST', '/tenants', { id: 'txn', trustDomain: 'trust-domain.example', dpopNonceRequired: true })).status).toBe(201);
  expect((await m('POST', '/tenants/txn/clients', { clientId: 'minter', name: 'Minter', txnTokenService: true, dpopBoundAccessTokens: true })).status).toBe(201);
});
afterAll(async () => {
  await Promise.all([source?.close(), target?.close()]);
});

/** A tenant's registry without what each server makes its own: ids, times, secrets, URLs. */
async function registryOf(h: Harness, tenant: string) {
  const get = async (path: string) => (await h.t.manage('GET', `/tenants/${tenant}${path}`)).body;
  const { createdAt: _c, issuer: _i, ...tenantFields } = await get('');
  const strip = ({ id: _id, tenantId: _t, createdAt: _ca, updatedAt: _u, apiId: _a, secrets: _s, issuer: _is, tokenEndpoint: _te, discoveryEndpoint: _de, ...rest }: Record<string, unknown>) => rest;
  const by = (key: string) => (a: Record<string, unknown>, b: Record<string, unknown>) => String(a[key]).localeCompare(String(b[key]));
  return {
    tenant: tenantFields,
    apis: (await get('/apis')).items.map(strip).sort(by('identifier')),
    clients: (await get('/clients')).items.map(strip).sort(by('clientId')),
    grants: (await get('/grants')).items.map(strip).sort(by('clientId')),
    federations: (await get('/federations')).items.map(strip).sort(by('name')),
  };
}

describe('tessera export', () => {
  it('prints every tenant but admin, in a stable order, with defaults and secrets left out', async () => {
    const first = await source.cli(['export']);
    expect(first.code).toBe(0);
    expect((await source.cli(['export'])).stdout).toBe(first.stdout);
    const config = parse(first.stdout);
    expect(config.version).toBe(1);
    expect(config.tenants.map((t: { id: string }) => t.id)).toEqual(['default', 'empty', 'shop', 'txn']);
    const shop = config.tenants[2];
    expect(shop.apis.map((a: { identifier: string }) => a.identifier)).toEqual(['https://inventory', 'https://orders']);
    expect(shop.apis[1].scopes).toEqual([{ value: 'orders:read', description: 'Read' }, 'orders:write']);
    expect(shop.clients.find((c: { clientId: string }) => c.clientId === 'checkout')).toEqual({ clientId: 'checkout', name: 'Checkout', tokenEndpointAuthMethod: 'client_secret_basic', tokenQuotaPerMinute: 50, customClaims: { team: 'payments' } });
    expect(first.stdout).not.toMatch(/clientSecret|secrets:|"d":|createdAt/);
    // The trust domain the server computes (the issuer) is not exported as this server's URL.
    expect(config.tenants[1]).toEqual({ id: 'empty', name: 'empty', signingAlg: 'ES256' });
    expect(config.tenants[3]).toMatchObject({ id: 'txn', trustDomain: 'trust-domain.example', dpopNonceRequired: true, clients: [{ clientId: 'minter', txnTokenService: true, dpopBoundAccessTokens: true }] });
  });

  it('--tenant and --format json pick one tenant and JSON', async () => {
    const result = await source.cli(['export', '--tenant', 'shop', '--format', 'json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).tenants.map((t: { id: string }) => t.id)).toEqual(['shop']);
    expect((await source.cli(['export', '--tenant', 'admin'])).code).toBe(2);
    expect((await source.cli(['export', '--tenant', 'nope'])).code).toBe(1);
  });

  it('then apply to an empty server gives the same registry, object by object; a second apply changes nothing', async () => {
    const exported = await source.cli(['export', '--tenant', 'shop', '--tenant', 'txn', '--tenant', 'empty']);
    const path = await target.file('shop.yaml', exported.stdout);
    const applied = await target.cli(['apply', '-f', path]);
    expect(applied.stderr).toMatch(/shown only once/);
    expect(applied.code).toBe(0);
    for (const tenant of ['shop', 'txn', 'empty']) {
      const [before, after] = await Promise.all([registryOf(source, tenant), registryOf(target, tenant)]);
      expect(after.tenant, tenant).toEqual(before.tenant);
      expect(after.apis, tenant).toEqual(before.apis);
      expect(after.clients, tenant).toEqual(before.clients);
      expect(after.grants, tenant).toEqual(before.grants);
      expect(after.federations, tenant).toEqual(before.federations);
    }
    expect((await target.cli(['apply', '-f', path])).stdout).toMatch(/^No changes\./);
    // And the source agrees with its own export.
    expect((await source.cli(['plan', '-f', await source.file('shop.yaml', exported.stdout)])).stdout).toMatch(/^No changes\./);
  });
});
