import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';

let t: TestServer;
let c: { clientId: string; clientSecret: string; identifier: string };
/** Each test gets a tenant of its own, with fresh keys: none depends on what another did. */
let tenant: string;
let tenants = 0;

beforeAll(async () => {
  t = await createTestServer({ config: { keys: { rotationInterval: 86_400, publishLeadTime: 3600, checkInterval: 60_000, defaultAlg: 'ES256' } } });
});
beforeEach(async () => {
  tenant = `keys-${++tenants}`;
  expect((await t.manage('POST', '/tenants', { id: tenant })).status).toBe(201);
  c = await t.setupClient(tenant);
});
afterAll(() => t.close());

async function token(): Promise<string> {
  return (await t.post(tenant, 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret))).json().access_token;
}
async function jwks(): Promise<{ keys: { kid: string }[] }> {
  return (await t.app.inject({ method: 'GET', url: `/t/${tenant}/jwks.json` })).json();
}
async function keys(): Promise<{ kid: string; status: string }[]> {
  return (await t.manage('GET', `/tenants/${tenant}/keys`)).body.items;
}
const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid as string;

describe('key rotation', () => {
  it('the next key is published before it signs anything', async () => {
    const list = await keys();
    const next = list.find((k) => k.status === 'next');
    const active = list.find((k) => k.status === 'active');
    expect(next).toBeDefined();
    const published = (await jwks()).keys.map((k) => k.kid);
    expect(published).toEqual(expect.arrayContaining([next!.kid, active!.kid]));
    expect(kidOf(await token())).toBe(active!.kid);
  });

  it('manual rotation: the next key signs, the old one stays published, old tokens still verify', async () => {
    const before = await keys();
    const oldToken = await token();
    const rotated = await t.manage('POST', `/tenants/${tenant}/keys/rotate`, {});
    expect(rotated.status).toBe(200);
    const after = await keys();
    const formerNext = before.find((k) => k.status === 'next')!.kid;
    const formerActive = before.find((k) => k.status === 'active')!.kid;
    expect(after.find((k) => k.status === 'active')!.kid).toBe(formerNext);
    expect(after.find((k) => k.kid === formerActive)!.status).toBe('retired');
    expect(after.filter((k) => k.status === 'next')).toHaveLength(1);
    const set = createLocalJWKSet(await jwks() as never);
    await jwtVerify(oldToken, set, { currentDate: new Date(t.clock.now) });
    const newToken = await token();
    expect(kidOf(newToken)).toBe(formerNext);
    await jwtVerify(newToken, set, { currentDate: new Date(t.clock.now) });
    const introspected = await t.post(tenant, 'introspect', { token: oldToken }, basic(c.clientId, c.clientSecret));
    expect(introspected.json().active).toBe(true);
  });

  it('a retired key leaves the JWKS only after every token it signed has expired', async () => {
    expect((await t.manage('POST', `/tenants/${tenant}/keys/rotate`, {})).status).toBe(200);
    const retired = (await keys()).find((k) => k.status === 'retired')!.kid;
    t.clock.advance(3600_000);
    await t.app.tessera.keys.runSchedule([tenant]);
    expect((await jwks()).keys.map((k) => k.kid)).toContain(retired);
    t.clock.advance(86_400_000 + 120_000);
    await t.app.tessera.keys.runSchedule([tenant]);
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(retired);
  });

  it('scheduled rotation happens once the interval has passed', async () => {
    const active = (await keys()).find((k) => k.status === 'active')!.kid;
    // Not due yet: the one-query schedule (every replica, every minute) leaves it alone.
    await t.app.tessera.keys.runDueSchedule();
    expect((await keys()).find((k) => k.status === 'active')!.kid).toBe(active);
    t.clock.advance(86_400_000 + 1000);
    await t.app.tessera.keys.runDueSchedule();
    const now = await keys();
    expect(now.find((k) => k.status === 'active')!.kid).not.toBe(active);
    expect(now.find((k) => k.kid === active)!.status).toBe('retired');
    // The token endpoint signs with the new key at once: the rotation went through the change feed.
    expect(kidOf(await token())).toBe(now.find((k) => k.status === 'active')!.kid);
  });

  it('emergency rotation removes the compromised key at once', async () => {
    const compromised = (await keys()).find((k) => k.status === 'active')!.kid;
    const signed = await token();
    const res = await t.manage('POST', `/tenants/${tenant}/keys/rotate`, { emergency: true });
    expect(res.status).toBe(200);
    expect((await keys()).map((k) => k.kid)).not.toContain(compromised);
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(compromised);
    const introspected = await t.post(tenant, 'introspect', { token: signed }, basic(c.clientId, c.clientSecret));
    expect(introspected.json()).toEqual({ active: false });
    expect(kidOf(await token())).not.toBe(compromised);
    const audit = await t.manage('GET', `/tenants/${tenant}/audit?action=key.rotate.emergency`);
    expect(audit.body.items.length).toBeGreaterThan(0);
  });

  it('private keys are stored encrypted, never in clear', async () => {
    const stored = await t.store.listSigningKeys(tenant);
    for (const key of stored) {
      expect(key.privateKeyEncrypted).toMatch(/^v1\./);
      expect(key.privateKeyEncrypted).not.toContain('PRIVATE KEY');
      expect(JSON.stringify(key.publicJwk)).not.toContain('"d"');
    }
  });
});

describe('changing the algorithm', () => {
  it('publishes the new algorithm\'s key first; it signs only from the next rotation', async () => {
    const t2 = await createTestServer();
    try {
      await t2.manage('POST', '/tenants', { id: 'algs' });
      const setup = await t2.setupClient('algs');
      const sign = async () => (await t2.post('algs', 'token', { grant_type: 'client_credentials' }, basic(setup.clientId, setup.clientSecret))).json().access_token as string;
      const patched = await t2.manage('PATCH', '/tenants/algs', { signingAlg: 'EdDSA' });
      expect(patched.status).toBe(200);
      expect(patched.body.signingAlg).toBe('EdDSA');
      expect(decodeProtectedHeader(await sign()).alg).toBe('ES256');
      const published = (await t2.app.inject({ method: 'GET', url: '/t/algs/jwks.json' })).json().keys as { kid: string; alg: string }[];
      const next = published.find((k) => k.alg === 'EdDSA');
      expect(next).toBeDefined();
      expect((await t2.manage('POST', '/tenants/algs/keys/rotate', {})).status).toBe(200);
      const header = decodeProtectedHeader(await sign());
      expect(header).toMatchObject({ alg: 'EdDSA', kid: next!.kid });
      expect((await t2.manage('POST', '/tenants/algs/keys/rotate', { alg: 'RS256' })).status).toBe(400);
    } finally {
      await t2.close();
    }
  });
});
