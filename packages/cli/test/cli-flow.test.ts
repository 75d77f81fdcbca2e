/**
 * The seed flow through the CLI only, against a real `tessera serve`: an API, a client,
 * a grant, a token, and verification; then every other command group once, and the
 * error contract (exit 2 with usage, exit 1 with the API's message).
 */
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { cliFor, runCli, type ServerProcess, startServer, stopAllServers } from './helpers/tessera-process.js';

const AUDIENCE = 'https://orders.example.com';

let dir: TempDir;
let server: ServerProcess;
let cli: ReturnType<typeof cliFor>;

beforeAll(async () => {
  dir = await makeTempDir('tessera-cli-');
  server = await startServer({ dataDir: join(dir.path, 'data') });
  cli = cliFor(server);
});

afterAll(async () => {
  await server?.stop();
  await stopAllServers();
  await dir?.cleanup();
});

describe('the seed flow through the CLI', { timeout: 60_000 }, () => {
  let clientId: string;
  let clientSecret: string;
  let accessToken: string;

  it('apis create registers an API with its scopes', async () => {
    const api = await cli.json(['apis', 'create', '--identifier', AUDIENCE, '--scope', 'orders:read=Read orders', '--scope', 'orders:write', '--name', 'Orders']);
    expect(api).toMatchObject({ identifier: AUDIENCE, name: 'Orders', tokenFormat: 'jwt', tenantId: 'default' });
    expect(api.scopes).toEqual([{ value: 'orders:read', description: 'Read orders' }, { value: 'orders:write' }]);
  });

  it('clients create prints the secret once, with a warning on stderr', async () => {
    const result = await cli.run(['clients', 'create', '--name', 'billing', '--json']);
    expect(result.code).toBe(0);
    const client = JSON.parse(result.stdout);
    expect(client).toMatchObject({ name: 'billing', tenantId: 'default', tokenEndpointAuthMethod: 'client_secret_basic' });
    expect(typeof client.clientSecret).toBe('string');
    expect(result.stderr).toMatch(/shown only once/);
    clientId = client.clientId;
    clientSecret = client.clientSecret;
    const shown = await cli.json(['clients', 'get', clientId]);
    expect(shown.clientId).toBe(clientId);
    expect(JSON.stringify(shown)).not.toContain(clientSecret);
  });

  it('grants create grants the client a scope on the API', async () => {
    const grant = await cli.json(['grants', 'create', '--client', clientId, '--audience', AUDIENCE, '--scope', 'orders:read']);
    expect(grant).toMatchObject({ clientId, audience: AUDIENCE, scopes: ['orders:read'] });
    const list = await cli.json(['grants', 'list', '--client', clientId]);
    expect(list.items.map((g: { id: string }) => g.id)).toEqual([grant.id]);
  });

  it('token prints an access token; --json prints the token response', async () => {
    const result = await runCli(['token', '--url', server.url, '--tenant', 'default', '--client-id', clientId, '--client-secret', clientSecret, '--audience', AUDIENCE]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    accessToken = result.stdout.trim();
    expect(accessToken.split('.')).toHaveLength(3);

    const json = await runCli(['token', '--issuer', `${server.url}/t/default`, '--client-id', clientId, '--client-secret', clientSecret, '--scope', 'orders:read', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ token_type: expect.stringMatching(/^bearer$/i), scope: 'orders:read', expires_in: expect.any(Number) });
  });

  it('token --dpop-key gets a token bound to that key (RFC 9449): token_type DPoP and cnf.jkt', async () => {
    const keyFile = join(dir.path, 'dpop.pem');
    await writeFile(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const json = await runCli(['token', '--url', server.url, '--client-id', clientId, '--client-secret', clientSecret, '--dpop-key', keyFile, '--json']);
    expect(json.stderr).toBe('');
    const response = JSON.parse(json.stdout);
    expect(response.token_type).toBe('DPoP');
    expect(JSON.parse(Buffer.from(response.access_token.split('.')[1], 'base64url').toString()).cnf.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('verify prints the claims of a valid token', async () => {
    const result = await runCli(['verify', accessToken, '--issuer', `${server.url}/t/default`, '--audience', AUDIENCE, '--scope', 'orders:read', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ iss: `${server.url}/t/default`, aud: AUDIENCE, sub: clientId, client_id: clientId, scope: 'orders:read' });

    const human = await runCli(['verify', '-', '--url', server.url, '--tenant', 'default', '--audience', AUDIENCE], { stdin: `${accessToken}\n` });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^client_id: +${clientId}$`, 'm'));
  });

  it('verify fails with a non-zero exit and the error code for a wrong audience or a missing scope', async () => {
    const wrongAudience = await runCli(['verify', accessToken, '--issuer', `${server.url}/t/default`, '--audience', 'https://other.example.com']);
    expect(wrongAudience.code).toBe(1);
    expect(wrongAudience.stdout).toBe('');
    expect(wrongAudience.stderr).toContain('ERR_AUDIENCE_MISMATCH');

    const missingScope = await runCli(['verify', accessToken, '--issuer', `${server.url}/t/default`, '--audience', AUDIENCE, '--scope', 'orders:write', '--json']);
    expect(missingScope.code).toBe(1);
    expect(JSON.parse(missingScope.stderr)).toMatchObject({ error: 'ERR_INSUFFICIENT_SCOPE' });
  });

  it('token reports the server error for a scope that was not granted', async () => {
    const result = await runCli(['token', '--url', server.url, '--client-id', clientId, '--client-secret', clientSecret, '--audience', AUDIENCE, '--scope', 'orders:write']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('invalid_scope');
  });

  it('secret rotation: secrets add, then secrets delete the old one', async () => {
    const before = await cli.json(['clients', 'get', clientId]);
    const oldSecretId: string = before.secrets[0].id;
    const added = await cli.run(['clients', 'secrets', 'add', clientId, '--json']);
    expect(added.code).toBe(0);
    expect(added.stderr).toMatch(/shown only once/);
    const secret = JSON.parse(added.stdout);
    expect(typeof secret.clientSecret).toBe('string');
    expect(await cli.ok(['clients', 'secrets', 'delete', clientId, oldSecretId])).toContain(oldSecretId);

    const oldOne = await runCli(['token', '--url', server.url, '--client-id', clientId, '--client-secret', clientSecret]);
    expect(oldOne.code).toBe(1);
    expect(oldOne.stderr).toContain('invalid_client');
    const newOne = await runCli(['token', '--url', server.url, '--client-id', clientId, '--client-secret', secret.clientSecret]);
    expect(newOne.stderr).toBe('');
    expect(newOne.code).toBe(0);
    clientSecret = secret.clientSecret;
  });

  it('lists print aligned tables', async () => {
    const table = await cli.ok(['clients', 'list']);
    const [header, row] = table.trimEnd().split('\n');
    expect(header).toMatch(/^CLIENT ID +NAME +AUTH METHOD +STATUS +SECRETS +LAST USED +CREATED AT$/);
    expect(row?.indexOf('billing')).toBe(header?.indexOf('NAME'));
    expect(await cli.ok(['apis', 'list'])).toContain(AUDIENCE);
    expect(await cli.ok(['grants', 'list'])).toContain(clientId);
  });

  it('clients update disables and enables a client', async () => {
    expect((await cli.json(['clients', 'update', clientId, '--disable'])).disabled).toBe(true);
    const refused = await runCli(['token', '--url', server.url, '--client-id', clientId, '--client-secret', clientSecret]);
    expect(refused.code).toBe(1);
    const enabled = await cli.json(['clients', 'update', clientId, '--enable', '--name', 'billing-v2', '--lifetime', '600']);
    expect(enabled).toMatchObject({ disabled: false, name: 'billing-v2', accessTokenLifetime: 600 });
  });
});

describe('the other command groups', { timeout: 60_000 }, () => {
  it('tenants create, list, get, delete', async () => {
    const tenant = await cli.json(['tenants', 'create', 'acme', '--name', 'Acme', '--alg', 'RS256']);
    expect(tenant).toMatchObject({ id: 'acme', name: 'Acme', signingAlg: 'RS256', issuer: `${server.url}/t/acme` });
    expect((await cli.json(['tenants', 'list'])).items.map((t: { id: string }) => t.id)).toContain('acme');
    expect(await cli.ok(['tenants', 'get', 'acme'])).toMatch(/^signingAlg: +RS256$/m);
    expect(await cli.ok(['tenants', 'delete', 'acme'])).toContain('acme');
    const gone = await cli.run(['tenants', 'get', 'acme']);
    expect(gone.code).toBe(1);
  });

  it('apis get, update and delete', async () => {
    const api = await cli.json(['apis', 'create', '--identifier', 'https://inventory.example.com', '--scope', 'stock:read']);
    expect((await cli.json(['apis', 'get', api.id])).identifier).toBe('https://inventory.example.com');
    const updated = await cli.json(['apis', 'update', api.id, '--scope', 'stock:read', '--scope', 'stock:write', '--opaque']);
    expect(updated).toMatchObject({ tokenFormat: 'opaque', scopes: [{ value: 'stock:read' }, { value: 'stock:write' }] });
    await cli.ok(['apis', 'delete', api.id]);
    expect((await cli.run(['apis', 'get', api.id])).code).toBe(1);
  });

  it('clients create with private_key_jwt registers the public part of a key file', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = join(dir.path, 'client-key.pem');
    await writeFile(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const client = await cli.json(['clients', 'create', '--name', 'signer', '--auth-method', 'private_key_jwt', '--jwks-file', keyFile]);
    expect(client.tokenEndpointAuthMethod).toBe('private_key_jwt');
    expect(client.clientSecret).toBeUndefined();
    expect(client.jwks.keys).toHaveLength(1);
    expect(client.jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: expect.any(String) });
    expect(client.jwks.keys[0].d).toBeUndefined();
    await cli.json(['grants', 'create', '--client', client.clientId, '--audience', AUDIENCE, '--scope', 'orders:read']);
    const result = await runCli(['token', '--url', server.url, '--client-id', client.clientId, '--private-key', keyFile]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    await cli.ok(['clients', 'delete', client.clientId]);
  });

  it('keys list and rotate', async () => {
    const before = await cli.json(['keys', 'list']);
    const active = before.items.find((k: { status: string }) => k.status === 'active');
    expect(active).toBeDefined();
    const rotated = await cli.json(['keys', 'rotate']);
    const newActive = rotated.items.find((k: { status: string }) => k.status === 'active');
    expect(newActive.kid).not.toBe(active.kid);
    expect(await cli.ok(['keys', 'list'])).toMatch(/^KID +ALG +STATUS/);
  });

  it('federations create, list, get, delete', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = join(dir.path, 'federation.pem');
    await writeFile(keyFile, publicKey.export({ format: 'pem', type: 'spki' }));
    const client = await cli.json(['clients', 'create', '--name', 'deployer']);
    const federation = await cli.json([
      'federations', 'create', '--name', 'ci', '--issuer', 'https://ci.example.com', '--jwks-file', keyFile,
      '--audience', 'tessera', '--rule', `repo:acme/app:*=>${client.clientId};environment=prod`,
    ]);
    expect(federation).toMatchObject({
      name: 'ci',
      issuer: 'https://ci.example.com',
      audience: 'tessera',
      rules: [{ subject: 'repo:acme/app:*', clientId: client.clientId, claims: { environment: 'prod' } }],
    });
    expect(await cli.ok(['federations', 'list'])).toContain('https://ci.example.com');
    expect((await cli.json(['federations', 'get', federation.id])).id).toBe(federation.id);
    await cli.ok(['federations', 'delete', federation.id]);
    expect((await cli.json(['federations', 'list'])).items).toEqual([]);
  });

  it('audit shows who changed what, filterable', async () => {
    const page = await cli.json(['audit', '--action', 'client.create', '--limit', '5']);
    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.every((e: { action: string }) => e.action === 'client.create')).toBe(true);
    expect(await cli.ok(['audit', '--tenant', 'default'])).toMatch(/^AT +ACTOR +ACTION +TARGET$/m);
  });
});

describe('errors', { timeout: 60_000 }, () => {
  it('an unknown command exits 2 with the usage on stderr', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('unknown command "frobnicate"');
    expect(result.stderr).toContain('Usage: tessera <command>');
  });

  it('an unknown flag or a missing argument exits 2 with the command usage', async () => {
    const flag = await cli.run(['clients', 'list', '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('Usage: tessera clients list');
    const missing = await cli.run(['grants', 'create', '--client', 'x', '--audience', AUDIENCE]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--scope is required');
    const unknownSub = await runCli(['clients', 'frob']);
    expect(unknownSub.code).toBe(2);
    expect(unknownSub.stderr).toContain('Usage: tessera clients <command>');
  });

  it('an API error exits 1 with the API message on stderr; --json gives {error, message}', async () => {
    const human = await cli.run(['clients', 'get', 'no-such-client']);
    expect(human.code).toBe(1);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(/not_found: .*no-such-client.*\(HTTP 404\)/);
    const json = await cli.run(['clients', 'get', 'no-such-client', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: 'not_found', message: expect.stringContaining('no-such-client'), status: 404 });
  });

  it('an unreachable server or missing admin file exits 1', async () => {
    const unreachable = await runCli(['tenants', 'list', '--url', 'http://127.0.0.1:1', '--admin', server.adminFile]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/ECONNREFUSED|network|connect/i);
    const noAdmin = await runCli(['tenants', 'list', '--url', server.url, '--admin', join(dir.path, 'missing.json')]);
    expect(noAdmin.code).toBe(1);
    expect(noAdmin.stderr).toContain('missing.json');
  });

  it('--help prints usage on stdout and exits 0, for the CLI, groups, commands and serve', async () => {
    for (const args of [['--help'], ['clients', '--help'], ['clients', 'create', '--help'], ['token', '--help'], ['serve', '--help']]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout, args.join(' ')).toMatch(/Usage: tessera/);
    }
  });
});
