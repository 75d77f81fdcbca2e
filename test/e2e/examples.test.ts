/**
 * End to end, as a user runs it: the real `tessera serve` process on a free port with a
 * fresh data dir; an API `orders:read` and a private_key_jwt client registered through
 * the management API with the bootstrap admin credentials (admin.json); then the two
 * examples as separate processes: examples/resource-service.mjs (protected by
 * @tessera/verifier) and examples/calling-service.mjs (@tessera/client with
 * privateKeyJwt), which must get a token and a 200 from the API.
 * Every process started here is ended by its PID.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runToEnd, start, stopAll } from './helpers/processes.js';

const AUDIENCE = 'https://orders.example/api';
let dir: string;

let issuer: string;
let clientId: string;
let keyFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-e2e-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const tessera = await start(
    ['packages/cli/bin/tessera.js', 'serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir],
    { TESSERA_LOG_LEVEL: 'warn' },
    /listening on (\S+)/,
  );
  const url = tessera.match[1] ?? `http://127.0.0.1:${port}`;
  issuer = `${url}/t/default`;

  const admin = JSON.parse(await readFile(join(dataDir, 'admin.json'), 'utf8')) as { tokenEndpoint: string; clientId: string; clientSecret: string; managementApi: string };
  const tokenResponse = await fetch(admin.tokenEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(admin.clientId)}:${encodeURIComponent(admin.clientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', audience: 'urn:tessera:management', scope: 'manage:read manage:write' }),
  });
  expect(tokenResponse.status).toBe(200);
  const adminToken = ((await tokenResponse.json()) as { access_token: string }).access_token;
  const manage = async (path: string, body: unknown) => {
    const response = await fetch(`${admin.managementApi}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(json)).toBe(201);
    return json;
  };

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  keyFile = join(dir, 'calling-service.key.pem');
  await writeFile(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: 'calling-service-1', alg: 'ES256', use: 'sig' };

  await manage('/tenants/default/apis', { identifier: AUDIENCE, name: 'Orders', scopes: [{ value: 'orders:read' }] });
  const client = await manage('/tenants/default/clients', { name: 'calling service', tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [publicJwk] } });
  clientId = client['clientId'] as string;
  expect(client['clientSecret']).toBeUndefined();
  await manage('/tenants/default/grants', { clientId, audience: AUDIENCE, scopes: ['orders:read'] });
}, 60_000);

afterAll(async () => {
  await stopAll();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('examples end to end', () => {
  it('the calling service gets a token with private_key_jwt and calls the resource service (200)', async () => {
    const resource = await start(['examples/resource-service.mjs'], { TESSERA_ISSUER: issuer, API_AUDIENCE: AUDIENCE, PORT: '0' }, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const apiUrl = `${resource.match[1]}/orders`;

    const caller = await runToEnd(['examples/calling-service.mjs'], {
      TESSERA_ISSUER: issuer,
      CLIENT_ID: clientId,
      PRIVATE_KEY_FILE: keyFile,
      API_AUDIENCE: AUDIENCE,
      API_URL: apiUrl,
    });
    expect(caller.code, `${caller.stdout}\n${caller.stderr}\n${resource.output()}`).toBe(0);
    expect(caller.stdout).toMatch(/^200\b/m);
    expect(caller.stdout).toContain(clientId);
    expect(caller.stdout).toContain('ord-1001');
  });

  it('without a registered key the call fails (exit 1), so the test above proves private_key_jwt', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const strangerKey = join(dir, 'stranger.key.pem');
    await writeFile(strangerKey, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const caller = await runToEnd(['examples/calling-service.mjs'], {
      TESSERA_ISSUER: issuer,
      CLIENT_ID: clientId,
      PRIVATE_KEY_FILE: strangerKey,
      API_AUDIENCE: AUDIENCE,
      API_URL: 'http://127.0.0.1:9/orders',
    });
    expect(caller.code).toBe(1);
    expect(caller.stderr).toMatch(/invalid_client/);
  });
});
