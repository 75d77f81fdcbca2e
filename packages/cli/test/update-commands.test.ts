/** `tessera grants update` and `tessera federations update`: changes in place, same id, nothing deleted. */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './config-as-code/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await h.t.manage('POST', '/tenants/default/apis', { identifier: 'https://orders', scopes: [{ value: 'read' }, { value: 'write' }] });
  await h.t.manage('POST', '/tenants/default/clients', { clientId: 'svc', name: 'Service' });
  await h.t.manage('POST', '/tenants/default/clients', { clientId: 'other', name: 'Other' });
});
afterAll(() => h.close());

describe('tessera grants update', () => {
  it('replaces the scopes, then the claims, keeping the id', async () => {
    const grant = (await h.t.manage('POST', '/tenants/default/grants', { clientId: 'svc', audience: 'https://orders', scopes: ['read', 'write'] })).body;
    const narrowed = await h.cli(['grants', 'update', grant.id, '--scope', 'read', '--json']);
    expect(narrowed.code).toBe(0);
    expect(JSON.parse(narrowed.stdout)).toMatchObject({ id: grant.id, scopes: ['read'] });
    const claims = await h.cli(['grants', 'update', grant.id, '--claim', 'tier=gold', '--claim', 'level=3', '--json']);
    expect(JSON.parse(claims.stdout)).toMatchObject({ id: grant.id, scopes: ['read'], customClaims: { tier: 'gold', level: 3 } });
    const cleared = await h.cli(['grants', 'update', grant.id, '--clear-claims', '--json']);
    expect(JSON.parse(cleared.stdout).customClaims).toEqual({});
  });

  it('refuses nothing to change (exit 2) and a scope the API lacks (exit 1, the API\'s message)', async () => {
    const grant = (await h.t.manage('GET', '/tenants/default/grants?clientId=svc')).body.items[0];
    expect((await h.cli(['grants', 'update', grant.id])).code).toBe(2);
    const unknown = await h.cli(['grants', 'update', grant.id, '--scope', 'delete']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/scopes not defined by the API: delete/);
  });
});

describe('tessera federations update', () => {
  it('replaces the rules and the replay mode in place; switching to a key file drops the jwks URI', async () => {
    const created = await h.cli(['federations', 'create', '--name', 'ci', '--issuer', 'https://ci.example', '--jwks-uri', 'https://ci.example/jwks', '--rule', 'repo:acme/*=>svc', '--json']);
    const federation = JSON.parse(created.stdout);
    const updated = await h.cli(['federations', 'update', federation.id, '--rule', 'repo:acme/app:*=>other;ref^=refs/heads/', '--replay', 'single-use', '--json']);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({
      id: federation.id, name: 'ci', jwksUri: 'https://ci.example/jwks',
      rules: [{ subject: 'repo:acme/app:*', clientId: 'other', claims: { ref: { prefix: 'refs/heads/' } } }], replayProtection: { mode: 'single-use' },
    });
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keys = await h.file('ci-jwks.json', JSON.stringify({ keys: [publicKey.export({ format: 'jwk' })] }));
    const keyed = JSON.parse((await h.cli(['federations', 'update', federation.id, '--jwks-file', keys, '--json'])).stdout);
    expect(keyed).toMatchObject({ id: federation.id, jwksUri: null, jwks: { keys: [{ kty: 'EC' }] } });
    const text = await h.cli(['federations', 'update', federation.id, '--name', 'github']);
    expect(text.stdout).toMatch(/^name: +github$/m);
    expect((await h.cli(['federations', 'update', federation.id])).code).toBe(2);
    expect((await h.cli(['federations', 'update', federation.id, '--rule', 'x=>ghost'])).stderr).toMatch(/ghost/);
  });
});
