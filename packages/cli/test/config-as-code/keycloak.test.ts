/**
 * Moving in from Keycloak: a realistic realm export (test/fixtures/keycloak, written from
 * Keycloak's documented export format) imports into a file that apply accepts, and its
 * services get tokens with the credentials they already have: the carried-over secrets,
 * and the key of the certificate the realm registered.
 */
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { importPKCS8, SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic } from '../../../server/test/helpers/app.js';
import { parseConfig } from '../../src/config-as-code/file.js';
import { importKeycloakRealm } from '../../src/config-as-code/keycloak.js';
import { REPO_ROOT } from '../helpers/tessera-process.js';
import { type Harness, startHarness } from './harness.js';

const FIXTURE = `${REPO_ROOT}test/fixtures/keycloak/acme-realm.json`;
const TEST_KEY = `${REPO_ROOT}test/fixtures/keycloak/ledger-service.test-key.pem`;

let h: Harness;
let realm: { clients: { clientId: string; secret?: string }[] };
beforeAll(async () => {
  h = await startHarness();
  realm = JSON.parse(await readFile(FIXTURE, 'utf8'));
});
afterAll(() => h.close());

const secretOf = (clientId: string) => realm.clients.find((c) => c.clientId === clientId)?.secret ?? '';

describe('tessera import keycloak', () => {
  let configPath: string;
  let secretsDir: string;

  it('prints a file that passes the checks, with what has no equivalent as comments, and no secret', async () => {
    secretsDir = join(h.dir.path, 'kc-secrets');
    const result = await h.run(['import', 'keycloak', FIXTURE, '--secrets-out', secretsDir]);
    expect(result.code).toBe(0);
    const text = result.stdout;
    configPath = await h.file('acme.yaml', text);
    const config = parseConfig(text, configPath);
    const tenant = config.tenants[0];
    expect(tenant).toMatchObject({ id: 'acme', name: 'ACME Corp', accessTokenLifetime: 300, signingAlg: 'RS256' });
    expect(tenant?.apis?.map((a) => a.identifier)).toEqual(['inventory-api', 'orders-api']);
    expect(tenant?.clients?.map((c) => `${c.clientId}:${c.tokenEndpointAuthMethod}`)).toEqual([
      'audit-exporter:private_key_jwt', 'billing-service:client_secret_basic', 'ledger-service:private_key_jwt', 'legacy-batch:client_secret_basic', 'shipping-service:private_key_jwt', 'warehouse-robot:tls_client_auth',
    ]);
    expect(tenant?.clients?.find((c) => c.clientId === 'warehouse-robot')?.tlsClientAuthSubjectDn).toBe('CN=warehouse-robot,O=ACME,C=DE');
    expect(tenant?.clients?.find((c) => c.clientId === 'shipping-service')).toMatchObject({ jwksUri: 'https://shipping.acme.example/.well-known/jwks.json', dpopBoundAccessTokens: true });
    expect(tenant?.grants?.find((g) => g.clientId === 'billing-service' && g.audience === 'orders-api')?.scopes).toEqual(['orders:read', 'orders:write']);
    expect(tenant?.clients?.find((c) => c.clientId === 'audit-exporter')?.jwks?.keys).toEqual([expect.objectContaining({ kty: 'EC', kid: 'audit-1' })]);
    for (const [subject, reason] of [
      ['client web-portal', 'a public client'],
      ['client reporting-ui', 'without a service account'],
      ['client fleet-robots', 'regular expression'],
      ['role orders-api/orders admin', 'not a valid scope value'],
      ['roles of warehouse-robot on realm-management', 'built-in client'],
      ['realm roles of billing-service: auditor', 'realm roles belong to no API'],
      ['identity provider google', 'no equivalent'],
      ['1 user(s)', 'Tessera has no users'],
      ['client legacy-batch', 'client-secret-jwt'],
    ]) expect(text).toMatch(new RegExp(`^#   - ${subject?.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*${reason}`, 'm'));
    for (const client of realm.clients) if (client.secret !== undefined) expect(text).not.toContain(client.secret);
  });

  it('--secrets-out wrote the realm\'s secrets, one mode-0600 file per client id', async () => {
    expect((await readFile(join(secretsDir, 'billing-service'), 'utf8')).trim()).toBe(secretOf('billing-service'));
    expect((await stat(join(secretsDir, 'billing-service'))).mode & 0o777).toBe(0o600);
    expect((await readFile(join(secretsDir, 'legacy-batch'), 'utf8')).trim()).toBe(secretOf('legacy-batch'));
  });

  it('applies with --secrets-from: the services authenticate as before, and get what their roles gave them', async () => {
    const applied = await h.cli(['apply', '-f', configPath, '--secrets-from', secretsDir, '--json']);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const report = JSON.parse(applied.stdout);
    expect(report.secrets).toEqual([]); // nothing generated: every secret was carried over
    expect(report.failed).toBe(0);

    const billing = await h.t.post('acme', 'token', { grant_type: 'client_credentials', audience: 'orders-api' }, basic('billing-service', secretOf('billing-service')));
    expect(billing.statusCode).toBe(200);
    expect(decodeJwt(billing.json().access_token)).toMatchObject({ sub: 'billing-service', aud: 'orders-api', scope: 'orders:read orders:write', tenant: 'acme' });
    expect(billing.json().expires_in).toBe(600);
    const legacy = await h.t.post('acme', 'token', { grant_type: 'client_credentials' }, basic('legacy-batch', secretOf('legacy-batch')));
    expect(legacy.statusCode).toBe(200);
    expect(legacy.json().scope).toBe('orders:read');
    // The stored secret is a hash, not the value.
    for (const secret of await h.t.store.listClientSecrets('acme', 'billing-service')) expect(secret.hash).not.toContain(secretOf('billing-service'));
  });

  it('the client whose certificate the realm registered authenticates with its key (private_key_jwt, RFC 7523 §2.2)', async () => {
    const key = await importPKCS8(await readFile(TEST_KEY, 'utf8'), 'RS256');
    const now = Math.floor(h.t.clock.now / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer('ledger-service')
      .setSubject('ledger-service')
      .setAudience('http://tessera.test/t/acme/token')
      .setIssuedAt(now)
      .setExpirationTime(now + 120)
      .setJti(randomUUID())
      .sign(key);
    const res = await h.t.post('acme', 'token', {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().scope).toBe('stock.adjust');
  });

  it('a second apply of the imported file changes nothing (the file read from stdin, as in a pipe)', async () => {
    const imported = await h.run(['import', 'keycloak', FIXTURE]);
    const piped = await h.run(['plan', '-f', '-', '--url', h.url, '--admin', join(h.dir.path, 'admin.json')], imported.stdout);
    expect(piped.stdout).toMatch(/^No changes\./);
  });

  it('refuses what is not a realm export', () => {
    expect(() => importKeycloakRealm({ clients: [] })).toThrow(/not a Keycloak realm export/);
    expect(() => importKeycloakRealm({ realm: 'admin' })).toThrow(/--tenant/);
    expect(importKeycloakRealm({ realm: 'admin' }, { tenant: 'legacy' }).config.tenants[0]?.id).toBe('legacy');
    expect(importKeycloakRealm([realm]).config.tenants[0]?.id).toBe('acme');
    expect(() => importKeycloakRealm([realm, realm])).toThrow(/holds 2 realms/);
  });
});
