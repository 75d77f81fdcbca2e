/**
 * Deleting a client or a tenant ends its state through the state store, after the
 * audited registry change: opaque tokens, revocations, single-use ids, usage counts.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { basic, createTestServer, type TestServer } from './helpers/app.js';

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url');

describe('state of deleted clients and tenants', () => {
  let t: TestServer;
  afterEach(() => t?.close());

  it('a deleted client\'s opaque tokens are gone from the state store', async () => {
    t = await createTestServer({ startAt: Date.now() });
    const c = await t.setupClient('default', { tokenFormat: 'opaque' });
    const issued = await t.post('default', 'token', { grant_type: 'client_credentials', audience: c.identifier }, basic(c.clientId, c.clientSecret));
    const value = (issued.json() as { access_token: string }).access_token;
    const state = t.store.state();
    expect(await state.getOpaqueToken('default', hashOf(value))).not.toBeNull();
    expect((await t.manage('DELETE', `/tenants/default/clients/${c.clientId}`)).status).toBe(204);
    expect(await state.getOpaqueToken('default', hashOf(value))).toBeNull();
  });

  it('a deleted tenant\'s tokens, revocations and usage rows are gone', async () => {
    t = await createTestServer({ startAt: Date.now() });
    expect((await t.manage('POST', '/tenants', { id: 'doomed', name: 'Doomed' })).status).toBe(201);
    const c = await t.setupClient('doomed', { tokenFormat: 'opaque' });
    const issued = await t.post('doomed', 'token', { grant_type: 'client_credentials', audience: c.identifier }, basic(c.clientId, c.clientSecret));
    const value = (issued.json() as { access_token: string }).access_token;
    await t.app.tessera.usage.recorder?.flush();
    const state = t.store.state();
    await state.revokeJti('doomed', 'some-jti', Date.now() + 60_000);
    expect(await t.store.usage().lastUses('doomed', 'client')).not.toEqual(new Map());
    expect((await t.manage('DELETE', '/tenants/doomed')).status).toBe(204);
    expect(await state.getOpaqueToken('doomed', hashOf(value))).toBeNull();
    expect(await state.isJtiRevoked('doomed', 'some-jti')).toBe(false);
    expect(await t.store.usage().lastUses('doomed', 'client')).toEqual(new Map());
  });
});
