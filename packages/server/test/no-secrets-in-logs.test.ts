import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { basic, createTestServer } from './helpers/app.js';

describe('logs', () => {
  it('never contain a secret, a password, a token or key material, even at debug level', { timeout: 60_000 }, async () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
    const t = await createTestServer({ config: { logLevel: 'debug' }, logStream: stream });
    try {
      const c = await t.setupClient('default');
      const ok = await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, c.clientSecret));
      const token = ok.json().access_token as string;
      await t.post('default', 'token', { grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret });
      await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, `${c.clientSecret}x`));
      await t.post('default', 'introspect', { token }, basic(c.clientId, c.clientSecret));
      await t.app.inject({ method: 'POST', url: '/console/login', payload: { username: 'admin', password: t.console.password } });
      await t.app.inject({ method: 'POST', url: '/console/login', payload: { username: 'admin', password: 'wrong-password-123' } });
      // A secret in a query string (a misconfigured client) stays out of the access log.
      await t.app.inject({ method: 'GET', url: `/t/default/token?client_secret=${c.clientSecret}` });
      await t.app.inject({ method: 'POST', url: `/t/default/token?client_secret=${c.clientSecret}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `grant_type=client_credentials&client_id=${c.clientId}` });
      // Failed authentications until the back-off answers 429: nothing of them logged either.
      for (let i = 0; i < 11; i += 1) await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, `wrong-secret-${i}-abcdef`));
      const assertion = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ';
      await t.post('default', 'token', { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
      const added = await t.manage('POST', `/tenants/default/clients/${c.clientId}/secrets`);
      await t.manage('POST', '/tenants/default/keys/rotate', {});
      const all = lines.join('');
      expect(all.length).toBeGreaterThan(0); // request logging is on at debug level
      expect(all).toMatch(/"status":429/); // the back-off was reached and its request logged
      for (const line of all.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow(); // JSON lines only
      for (const secret of [c.clientSecret, added.body.clientSecret, t.admin.clientSecret, t.console.password, 'wrong-password-123', token, await t.adminToken(), assertion, 'wrong-secret-3-abcdef', 'c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ']) {
        expect(all).not.toContain(secret);
      }
      expect(all).not.toMatch(/PRIVATE KEY|authorization|"d":/i);
    } finally {
      await t.close();
    }
  });

  it('query strings are redacted at debug level (client_secret, access_token, assertions)', async () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
    const t = await createTestServer({ config: { logLevel: 'debug' }, logStream: stream });
    try {
      await t.app.inject({ method: 'POST', url: '/t/default/token?client_secret=QS-SECRET-1&grant_type=client_credentials', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '' });
      await t.app.inject({ method: 'GET', url: '/manage/v1/tenants?access_token=QS-TOKEN-2&limit=5' });
      await t.app.inject({ method: 'GET', url: '/t/default/jwks.json?client_assertion=QS-ASSERTION-3&Client%5FSecret=QS-SECRET-4' });
      const all = lines.join('');
      expect(all).toContain('limit=5');
      expect(all).toContain('client_secret=[redacted]');
      for (const value of ['QS-SECRET-1', 'QS-TOKEN-2', 'QS-ASSERTION-3', 'QS-SECRET-4']) expect(all).not.toContain(value);
    } finally {
      await t.close();
    }
  });

  it('failed client authentications are logged at info: client id, method, reason, source address; never the secret', async () => {
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
    const t = await createTestServer({ config: { logLevel: 'info' }, logStream: stream });
    try {
      const c = await t.setupClient('default');
      await t.post('default', 'token', { grant_type: 'client_credentials' }, basic(c.clientId, 'wrong-secret-basic-xyz'));
      await t.post('default', 'token', { grant_type: 'client_credentials', client_id: c.clientId, client_secret: 'wrong-secret-post-xyz' });
      const events = lines.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => e['event'] === 'client_authentication_failed');
      expect(events).toHaveLength(2);
      expect(events[0]).toMatchObject({ level: 30, clientId: c.clientId, method: 'client_secret_basic', tenant: 'default', ip: '127.0.0.1' });
      expect(events[1]).toMatchObject({ clientId: c.clientId, method: 'client_secret_post' });
      expect(typeof events[0]?.['reason']).toBe('string');
      expect(lines.join('')).not.toMatch(/wrong-secret/);
    } finally {
      await t.close();
    }
  });
});
