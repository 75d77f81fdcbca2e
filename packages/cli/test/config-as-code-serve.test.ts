/**
 * Configuration as code end to end: the real `tessera serve`, and `tessera plan`,
 * `apply` and `export` as a CI job runs them (child processes, admin file, exit codes).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { cliFor, type ServerProcess, startServer, stopAllServers } from './helpers/tessera-process.js';

const FILE = `version: 1
tenants:
  - id: ci
    name: CI
    apis:
      - identifier: https://deploy.example.com
        scopes: [deploy]
    clients:
      - clientId: pipeline
        name: Pipeline
    grants:
      - clientId: pipeline
        audience: https://deploy.example.com
        scopes: [deploy]
`;

let dir: TempDir;
let server: ServerProcess;
let cli: ReturnType<typeof cliFor>;

beforeAll(async () => {
  dir = await makeTempDir('tessera-cac-');
  server = await startServer({ dataDir: join(dir.path, 'data') });
  cli = cliFor(server);
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await stopAllServers();
  await dir?.cleanup();
});

describe('plan, apply and export against tessera serve', { timeout: 60_000 }, () => {
  it('plans, applies with Kubernetes Secrets, and the secret gets a token; then "No changes." and the export matches', async () => {
    const path = join(dir.path, 'tessera.yaml');
    await writeFile(path, FILE);
    const plan = await cli.run(['plan', '-f', path]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('Plan: 4 to create, 0 to update, 0 to delete.');

    const out = join(dir.path, 'secrets');
    const applied = await cli.run(['apply', '-f', path, '--secrets-out', out, '--secrets-format', 'kubernetes']);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const manifest = parse(await readFile(join(out, 'ci-pipeline.yaml'), 'utf8'));
    expect(applied.stdout).not.toContain(manifest.stringData['client-secret']);
    const token = await fetch(manifest.stringData['token-endpoint'], {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`pipeline:${manifest.stringData['client-secret']}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(token.status).toBe(200);
    expect(((await token.json()) as { scope: string }).scope).toBe('deploy');

    expect((await cli.run(['apply', '-f', path])).stdout).toMatch(/^No changes\./);
    const exported = parse(await cli.ok(['export', '--tenant', 'ci']));
    expect(exported.tenants[0]).toMatchObject({ id: 'ci', name: 'CI', clients: [{ clientId: 'pipeline', name: 'Pipeline' }], grants: [{ clientId: 'pipeline', scopes: ['deploy'] }] });
    // A server log never holds the secret.
    expect(server.output()).not.toContain(manifest.stringData['client-secret']);
  });
});
