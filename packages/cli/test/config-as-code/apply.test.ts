/**
 * `tessera plan` and `tessera apply` against an in-process server: the first apply
 * creates everything, the second changes nothing (and audits nothing), changes happen
 * in place, --prune deletes only what the plan showed, and a bad file changes nothing.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { basic } from '../../../server/test/helpers/app.js';
import { applyPlan } from '../../src/config-as-code/apply.js';
import { parseConfig } from '../../src/config-as-code/file.js';
import { computePlan } from '../../src/config-as-code/plan.js';
import { readRegistry } from '../../src/config-as-code/registry.js';
import { createManagementApi, type ManagementApi } from '../../src/management-api.js';
import { type Harness, startHarness } from './harness.js';

const ORDERS = 'https://orders.example.com';

const BASE = `# yaml-language-server: $schema=../../docs/tessera-config.schema.json
version: 1
tenants:
  - id: payments
    name: Payments
    signingAlg: ES256
    apis:
      - identifier: ${ORDERS}
        name: Orders
        scopes: [orders:read, { value: orders:write, description: Create orders }]
    clients:
      - clientId: billing-service
        name: Billing
        tokenEndpointAuthMethod: client_secret_basic
      - clientId: reporting
        name: Reporting
    grants:
      - clientId: billing-service
        audience: ${ORDERS}
        scopes: [orders:read, orders:write]
      - clientId: reporting
        audience: ${ORDERS}
        scopes: [orders:read]
    federations: []
`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  // Something the file does not name, in a tenant it does not name: never touched.
  await h.t.manage('POST', '/tenants/default/clients', { clientId: 'outsider', name: 'Outsider' });
});
afterAll(() => h.close());

async function grantOf(clientId: string) {
  const list = await h.t.manage('GET', `/tenants/payments/grants?clientId=${clientId}`);
  return list.body.items[0] as { id: string; scopes: string[] };
}

describe('apply on an empty server', () => {
  let secrets: Map<string, string>;

  it('creates the tenant, its API, clients and grants, and prints each new secret once', async () => {
    const path = await h.file('payments.yaml', BASE);
    const result = await h.cli(['apply', '-f', path, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.applied).toEqual({ create: 6, update: 0, delete: 0 });
    expect(report.outcomes.map((o: { kind: string; name: string }) => `${o.kind} ${o.name}`)).toEqual([
      'tenant payments', `api ${ORDERS}`, 'client billing-service', 'client reporting', `grant billing-service → ${ORDERS}`, `grant reporting → ${ORDERS}`,
    ]);
    // The plan itself never carries a secret.
    expect(JSON.stringify(report.changes)).not.toMatch(/clientSecret/);
    secrets = new Map(report.secrets.map((s: { clientId: string; clientSecret: string }) => [s.clientId, s.clientSecret]));
    expect([...secrets.keys()]).toEqual(['billing-service', 'reporting']);

    const tenant = await h.t.manage('GET', '/tenants/payments');
    expect(tenant.body).toMatchObject({ id: 'payments', name: 'Payments', signingAlg: 'ES256' });
    const api = (await h.t.manage('GET', '/tenants/payments/apis')).body.items[0];
    expect(api).toMatchObject({ identifier: ORDERS, name: 'Orders', scopes: [{ value: 'orders:read' }, { value: 'orders:write', description: 'Create orders' }] });
  });

  it('the created clients get tokens with their secrets, for what the file grants', async () => {
    const res = await h.t.post('payments', 'token', { grant_type: 'client_credentials' }, basic('billing-service', secrets.get('billing-service') ?? ''));
    expect(res.statusCode).toBe(200);
    expect(res.json().scope).toBe('orders:read orders:write');
  });

  it('audits every change with the applying admin client as the actor', async () => {
    const entries = await h.audit('payments');
    expect(entries.length).toBeGreaterThanOrEqual(6);
    expect(new Set(entries.map((e) => e.actor))).toEqual(new Set([h.t.admin.clientId]));
  });

  it('a second apply says "No changes.", writes nothing and audits nothing', async () => {
    const before = (await h.audit('payments')).length;
    const path = await h.file('payments.yaml', BASE);
    const result = await h.cli(['apply', '-f', path]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^No changes\./);
    expect((await h.audit('payments')).length).toBe(before);
    const plan = await h.cli(['plan', '-f', path, '--json']);
    expect(JSON.parse(plan.stdout).summary).toEqual({ create: 0, update: 0, delete: 0 });
  });
});

describe('changes in place', () => {
  it('renames a scope: the API and the grant are updated, the grant keeps its id', async () => {
    const before = await grantOf('billing-service');
    const renamed = BASE.replace('{ value: orders:write, description: Create orders }', '{ value: orders:create, description: Create orders }').replace('scopes: [orders:read, orders:write]', 'scopes: [orders:read, orders:create]');
    const path = await h.file('renamed.yaml', renamed);
    const plan = await h.cli(['plan', '-f', path]);
    expect(plan.stdout).toContain(`~ api ${ORDERS}`);
    expect(plan.stdout).toContain('scopes: [orders:read, orders:write ("Create orders")] → [orders:read, orders:create ("Create orders")]');
    expect(plan.stdout).toContain(`~ grant billing-service → ${ORDERS}`);
    expect(plan.stdout).toContain('Plan: 0 to create, 2 to update, 0 to delete.');
    expect((await h.cli(['apply', '-f', path])).code).toBe(0);
    const after = await grantOf('billing-service');
    expect(after).toMatchObject({ id: before.id, scopes: ['orders:read', 'orders:create'] });
    expect((await h.cli(['apply', '-f', path])).stdout).toMatch(/^No changes\./);
    await h.cli(['apply', '-f', await h.file('payments.yaml', BASE)]);
  });

  it('narrows a grant with PATCH: same id, one grant.update in the audit, no delete', async () => {
    const before = await grantOf('billing-service');
    const auditBefore = await h.audit('payments');
    const path = await h.file('narrow.yaml', BASE.replace('scopes: [orders:read, orders:write]', 'scopes: [orders:read]'));
    const result = await h.cli(['apply', '-f', path]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('scopes: [orders:read, orders:write] → [orders:read]');
    expect(await grantOf('billing-service')).toMatchObject({ id: before.id, scopes: ['orders:read'] });
    const added = (await h.audit('payments')).slice(0, (await h.audit('payments')).length - auditBefore.length);
    expect(added.map((e) => e.action)).toEqual(['grant.update']);
  });

  it('changes a client\'s method: to private_key_jwt (its secrets go), and back (it gets a new secret, shown once)', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'reporting-1', alg: 'ES256' };
    const keyed = BASE.replace('      - clientId: reporting\n        name: Reporting\n', `      - clientId: reporting\n        name: Reporting\n        tokenEndpointAuthMethod: private_key_jwt\n        jwks: { keys: [${JSON.stringify(jwk)}] }\n`);
    const path = await h.file('keyed.yaml', keyed);
    const result = await h.cli(['apply', '-f', path]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('tokenEndpointAuthMethod: "client_secret_basic" → "private_key_jwt"');
    const client = (await h.t.manage('GET', '/tenants/payments/clients/reporting')).body;
    expect(client).toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ kid: 'reporting-1' }] }, secrets: [] });
    expect((await h.cli(['apply', '-f', path])).stdout).toMatch(/^No changes\./);

    const back = await h.cli(['apply', '-f', await h.file('back.yaml', BASE.replace('      - clientId: reporting\n        name: Reporting\n', '      - clientId: reporting\n        name: Reporting\n        tokenEndpointAuthMethod: client_secret_basic\n')), '--json']);
    expect(back.code).toBe(0);
    const report = JSON.parse(back.stdout);
    expect(report.outcomes.map((o: { kind: string; status: string }) => `${o.kind}:${o.status}`)).toEqual(['client:applied', 'secret:applied']);
    const secret = report.secrets[0];
    expect(secret).toMatchObject({ tenant: 'payments', clientId: 'reporting' });
    expect((await h.t.post('payments', 'token', { grant_type: 'client_credentials' }, basic('reporting', secret.clientSecret))).statusCode).toBe(200);
  });
});

describe('tenant settings', () => {
  it('change in place, a new signing algorithm included, and then match', async () => {
    const changed = BASE.replace('    name: Payments\n    signingAlg: ES256\n', '    name: Payments EU\n    signingAlg: EdDSA\n    accessTokenLifetime: 600\n    tokenQuotaPerMinute: 1000\n');
    const path = await h.file('tenant.yaml', changed);
    const result = await h.cli(['apply', '-f', path]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('~ tenant payments');
    expect(result.stdout).toContain('signingAlg: "ES256" → "EdDSA"');
    expect((await h.t.manage('GET', '/tenants/payments')).body).toMatchObject({ name: 'Payments EU', signingAlg: 'EdDSA', accessTokenLifetime: 600, tokenQuotaPerMinute: 1000 });
    expect((await h.cli(['plan', '-f', path])).stdout).toMatch(/^No changes\./);
    // Dropping the settings from the file is no difference: the server keeps them.
    expect((await h.cli(['plan', '-f', await h.file('tenant-omitted.yaml', BASE.replace('    name: Payments\n    signingAlg: ES256\n', ''))])).stdout).toMatch(/^No changes\./);
  });
});

describe('--prune and --dry-run', () => {
  const withoutReporting = BASE.replace('      - clientId: reporting\n        name: Reporting\n', '').replace(`      - clientId: reporting\n        audience: ${ORDERS}\n        scopes: [orders:read]\n`, '');

  it('without --prune, what the file dropped stays and the plan says so', async () => {
    const path = await h.file('dropped.yaml', withoutReporting);
    const plan = await h.cli(['plan', '-f', path]);
    expect(plan.stdout).toContain('not in the file and stay as they are (apply --prune deletes them)');
    expect(plan.stdout).toContain('payments: client reporting');
    await h.cli(['apply', '-f', path]);
    expect((await h.t.manage('GET', '/tenants/payments/clients/reporting')).status).toBe(200);
  });

  it('--dry-run shows the deletions and changes nothing', async () => {
    const before = (await h.audit('payments')).length;
    const path = await h.file('dropped.yaml', withoutReporting);
    const result = await h.cli(['apply', '-f', path, '--prune', '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('- client reporting');
    expect(result.stdout).toContain('Dry run: nothing was changed.');
    expect((await h.audit('payments')).length).toBe(before);
    expect((await h.t.manage('GET', '/tenants/payments/clients/reporting')).status).toBe(200);
  });

  it('--prune deletes the client and its grant, only in the tenants the file names', async () => {
    const path = await h.file('dropped.yaml', withoutReporting);
    const result = await h.cli(['apply', '-f', path, '--prune']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Plan: 0 to create, 0 to update, 2 to delete.');
    expect((await h.t.manage('GET', '/tenants/payments/clients/reporting')).status).toBe(404);
    expect((await h.t.manage('GET', '/tenants/payments/clients/billing-service')).status).toBe(200);
    expect((await h.t.manage('GET', '/tenants/default/clients/outsider')).status).toBe(200);
    expect((await h.t.manage('GET', '/tenants/admin/clients')).body.items.length).toBeGreaterThan(0);
    expect((await h.cli(['apply', '-f', path, '--prune'])).stdout).toMatch(/^No changes\./);
  });
});

describe('a file is refused before any change, with the line and the field', () => {
  async function refused(name: string, text: string) {
    const before = (await h.audit('payments')).length;
    const tenantsBefore = (await h.t.manage('GET', '/tenants')).body.items.length;
    const path = await h.file(name, text);
    const result = await h.cli(['apply', '-f', path]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect((await h.audit('payments')).length).toBe(before);
    expect((await h.t.manage('GET', '/tenants')).body.items.length).toBe(tenantsBefore);
    return { path, stderr: result.stderr };
  }
  const withNewTenant = (extra: string) => `${BASE}  - id: fresh\n${extra}`;

  it('a secret value', async () => {
    const { path, stderr } = await refused('secret.yaml', BASE.replace('        name: Billing\n', '        name: Billing\n        clientSecret: s3cr3t-that-must-not-be-here\n'));
    expect(stderr).toContain(`${path}:14: tenants[0].clients[0].clientSecret: a secret value has no place in a configuration file`);
    expect(stderr).not.toContain('s3cr3t-that-must-not-be-here');
  });

  it('a private JWK (with "d")', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' });
    const { path, stderr } = await refused('private.yaml', withNewTenant(`    clients:\n      - clientId: k\n        name: K\n        tokenEndpointAuthMethod: private_key_jwt\n        jwks:\n          keys:\n            - ${JSON.stringify(jwk)}\n`));
    expect(stderr).toContain(`${path}:32: tenants[1].clients[0].jwks.keys[0].d: a private key member ("d")`);
    expect(stderr).not.toContain(String(jwk.d));
  });

  it('an unknown field (with --json: each problem as {line, field, message})', async () => {
    const { path, stderr } = await refused('unknown.yaml', withNewTenant('    colour: blue\n'));
    expect(stderr).toContain(`${path}:26: tenants[1].colour: unknown field`);
    const json = await h.cli(['plan', '-f', path, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: 'ConfigFileError', problems: [{ line: 26, field: 'tenants[1].colour', message: expect.stringMatching(/^unknown field/) }] });
  });

  it('a dangling clientId in a grant', async () => {
    const { path, stderr } = await refused('dangling-client.yaml', withNewTenant(`    apis:\n      - identifier: https://x\n        scopes: [a]\n    grants:\n      - clientId: ghost\n        audience: https://x\n        scopes: [a]\n`));
    expect(stderr).toContain(`${path}:30: tenants[1].grants[0].clientId: names client "ghost", which is not among this tenant's clients in the file`);
  });

  it('a dangling audience in a grant', async () => {
    const { path, stderr } = await refused('dangling-api.yaml', BASE.replace(`        audience: ${ORDERS}\n        scopes: [orders:read]\n`, '        audience: https://nowhere.example.com\n        scopes: [orders:read]\n'));
    expect(stderr).toContain(`${path}:22: tenants[0].grants[1].audience: names API "https://nowhere.example.com"`);
  });

  it('a value the API would refuse (a lifetime out of range), in JSON too', async () => {
    const json = JSON.stringify({ version: 1, tenants: [{ id: 'fresh', accessTokenLifetime: 5 }] }, null, 2);
    const { path, stderr } = await refused('bad.json', json);
    expect(stderr).toMatch(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6: tenants\\[0\\]\\.accessTokenLifetime: Expected integer to be greater or equal to 60`));
  });
});

describe('a failure midway', () => {
  it('leaves every object whole, lists what was applied, and a second apply completes', async () => {
    const text = `version: 1
tenants:
  - id: midway
    apis:
      - identifier: https://a.example.com
        scopes: [a]
    clients:
      - clientId: one
        name: One
      - clientId: two
        name: Two
    grants:
      - clientId: one
        audience: https://a.example.com
        scopes: [a]
      - clientId: two
        audience: https://a.example.com
        scopes: [a]
`;
    const config = parseConfig(text);
    const real = await createManagementApi({ url: h.url, admin: h.t.admin });
    // The connection drops before the 4th write (the second client) reaches the server.
    let writes = 0;
    const flaky: ManagementApi = {
      ...real,
      post: async (path, body) => {
        writes += 1;
        if (writes === 4) throw new Error('socket hang up');
        return real.post(path, body);
      },
    };
    const plan = computePlan(config, await readRegistry(real, ['midway']), { prune: false });
    const result = await applyPlan(flaky, plan);
    expect(result.outcomes.map((o) => `${o.status} ${o.change.kind} ${o.change.name}`)).toEqual([
      'applied tenant midway', 'applied api https://a.example.com', 'applied client one', 'failed client two',
      'applied grant one → https://a.example.com', 'skipped grant two → https://a.example.com',
    ]);
    expect(result.outcomes[5]?.error).toContain('needs client two, which failed: socket hang up');
    expect((await h.t.manage('GET', '/tenants/midway/clients/two')).status).toBe(404);

    const path = await h.file('midway.yaml', text);
    const second = await h.cli(['apply', '-f', path, '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).outcomes.map((o: { kind: string; name: string }) => `${o.kind} ${o.name}`)).toEqual(['client two', 'grant two → https://a.example.com']);
    expect((await h.cli(['apply', '-f', path])).stdout).toMatch(/^No changes\./);
    await real.close();
  });

  it('an object the server refuses is reported with its reason, and the rest is applied (exit 1)', async () => {
    const path = await h.file('refused.yaml', `version: 1
tenants:
  - id: refusing
    clients:
      - clientId: fine
        name: Fine
      - clientId: unreachable-keys
        name: Bad
        tokenEndpointAuthMethod: private_key_jwt
        jwksUri: ftp://keys.example.com/jwks
`);
    const result = await h.cli(['apply', '-f', path]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAILED +create refusing: client unreachable-keys\n +validation_failed: jwksUri: .*\(HTTP 422\)/);
    expect(result.stdout).toContain('created  refusing: client fine');
    expect(result.stdout).toContain('1 failed, 0 skipped');
  });
});

describe('secrets out of band', () => {
  it('--secrets-out writes one mode-0600 file per created client, and prints none', async () => {
    const out = join(h.dir.path, 'secrets');
    const path = await h.file('out.yaml', 'version: 1\ntenants:\n  - id: files\n    clients:\n      - { clientId: svc-a, name: A }\n      - { clientId: svc-b, name: B, tokenEndpointAuthMethod: client_secret_post }\n');
    const result = await h.cli(['apply', '-f', path, '--secrets-out', out]);
    expect(result.code).toBe(0);
    const secret = (await readFile(join(out, 'svc-a'), 'utf8')).trim();
    expect(secret.length).toBeGreaterThanOrEqual(43);
    expect(result.stdout).not.toContain(secret);
    expect((await stat(join(out, 'svc-a'))).mode & 0o777).toBe(0o600);
    expect((await h.t.post('files', 'token', { grant_type: 'client_credentials' }, basic('svc-a', secret))).json().error).toBe('invalid_target');
  });

  it('--secrets-format kubernetes writes a Secret per client with client-id, client-secret, token-endpoint and issuer', async () => {
    const out = join(h.dir.path, 'k8s');
    const path = await h.file('k8s.yaml', 'version: 1\ntenants:\n  - id: kube\n    clients:\n      - { clientId: Orders_Service, name: Orders }\n');
    const result = await h.cli(['apply', '-f', path, '--secrets-out', out, '--secrets-format', 'kubernetes']);
    expect(result.code).toBe(0);
    const file = join(out, 'kube-orders-service.yaml');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const manifest = parse(await readFile(file, 'utf8'));
    expect(manifest).toMatchObject({
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'kube-orders-service' },
      stringData: { 'client-id': 'Orders_Service', 'token-endpoint': 'http://tessera.test/t/kube/token', issuer: 'http://tessera.test/t/kube' },
    });
    const res = await h.t.post('kube', 'token', { grant_type: 'client_credentials' }, basic('Orders_Service', manifest.stringData['client-secret']));
    expect(res.json().error).toBe('invalid_target'); // authenticated; no API granted
  });

  it('--secrets-out that cannot be written stops the apply before anything is created', async () => {
    const blocker = await h.file('not-a-directory', 'x');
    const path = await h.file('blocked.yaml', 'version: 1\ntenants:\n  - id: blocked\n    clients:\n      - { clientId: c, name: C }\n');
    const result = await h.cli(['apply', '-f', path, '--secrets-out', join(blocker, 'secrets')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is not a directory apply can write .*nothing was changed/);
    expect((await h.t.manage('GET', '/tenants/blocked')).status).toBe(404);
  });

  it('--secrets-from refuses the whole apply when a created client has no file', async () => {
    const path = await h.file('from.yaml', 'version: 1\ntenants:\n  - id: from\n    clients:\n      - { clientId: has-file, name: A }\n      - { clientId: no-file, name: B }\n');
    const dir = join(h.dir.path, 'from');
    await mkdir(dir);
    await h.file('from/has-file', `${'x'.repeat(40)}\n`);
    const result = await h.cli(['apply', '-f', path, '--secrets-from', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('client no-file gets a secret, and');
    expect((await h.t.manage('GET', '/tenants/from')).status).toBe(404);
  });
});
