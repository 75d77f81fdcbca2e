/**
 * In-memory stores (test issuers): every one after the first of a process is a copy of
 * the freshly migrated image, so each must still be a database of its own, writable,
 * and untouched by what the others wrote.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createStore } from './index.js';
import type { Tenant } from './types.js';

const tenant = (id: string): Tenant => ({ id, name: 'Tenant', signingAlg: 'ES256', accessTokenLifetime: null, tokenQuotaPerMinute: null, trustDomain: null, dpopNonceRequired: false, createdAt: Date.now() });

describe('createStore({ inMemory: true })', () => {
  it('each store is its own database: written by none of the others, before or after it opened', async () => {
    const first = await createStore({ dataDir: '/nonexistent', inMemory: true });
    const before = `t-${randomUUID().slice(0, 8)}`;
    await first.createTenant(tenant(before));
    const second = await createStore({ dataDir: '/nonexistent', inMemory: true });
    const after = `t-${randomUUID().slice(0, 8)}`;
    await first.createTenant(tenant(after));
    await second.createTenant(tenant('mine'));
    const third = await createStore({ dataDir: '/nonexistent', inMemory: true });
    try {
      expect(await second.getTenant(before)).toBeNull();
      expect(await second.getTenant(after)).toBeNull();
      expect(await second.getTenant('mine')).toMatchObject({ id: 'mine' });
      expect(await first.getTenant('mine')).toBeNull();
      for (const id of [before, after, 'mine']) expect(await third.getTenant(id)).toBeNull();
      // The tables outside the registry came along too (state store, audit log).
      const expiresAt = Date.now() + 60_000;
      expect(await first.state().useOnce('jti', 'mine', 'once', expiresAt)).toBe(true);
      expect(await second.state().useOnce('jti', 'mine', 'once', expiresAt)).toBe(true);
      expect(await second.state().useOnce('jti', 'mine', 'once', expiresAt)).toBe(false);
      expect((await second.listAudit('mine', { limit: 10 })).items).toEqual([]);
    } finally {
      await Promise.all([first.close(), second.close(), third.close()]);
    }
  });
});
