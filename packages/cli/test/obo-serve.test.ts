/**
 * On-behalf-of end to end against the real `tessera serve`, configured only through
 * the CLI: an external identity provider on 127.0.0.1 (discovery + JWKS, allowed by
 * --outbound-allow), a subject federation found by discovery, a user's token
 * exchanged for a downstream token; custom claims set with --claim; a claim that
 * tries to override `sub` refused.
 */
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExternalIdp, startExternalIdp } from '../../server/test/helpers/external-idp.js';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { cliFor, type ServerProcess, startServer, stopAllServers } from './helpers/tessera-process.js';

const DOWNSTREAM = 'https://inventory.example.com';

let dir: TempDir;
let server: ServerProcess;
let idp: ExternalIdp;
let cli: ReturnType<typeof cliFor>;

beforeAll(async () => {
  dir = await makeTempDir('tessera-obo-');
  idp = await startExternalIdp();
  server = await startServer({ dataDir: join(dir.path, 'data'), args: ['--outbound-allow', '127.0.0.1'] });
  cli = cliFor(server);
});

afterAll(async () => {
  await server?.stop();
  await stopAllServers();
  await idp?.close();
  await dir?.cleanup();
});

describe('on behalf of a user of an external IdP, through tessera serve and the CLI', { timeout: 60_000 }, () => {
  it('exchanges the user\'s token: namespaced sub, act, copied and static claims', async () => {
    await cli.json(['apis', 'create', '--identifier', DOWNSTREAM, '--scope', 'inventory:read', '--scope', 'inventory:write']);
    const service = await cli.json(['clients', 'create', '--name', 'orders', '--claim', 'tenant_id=acme']);
    await cli.json(['grants', 'create', '--client', service.clientId, '--audience', DOWNSTREAM, '--scope', 'inventory:read', '--claim', 'environment=prod']);
    const federation = await cli.json([
      'federations', 'create', '--kind', 'subject', '--name', 'corporate', '--issuer', idp.issuer,
      '--exchange', `api://orders=>${service.clientId};tid=corp`, '--map', 'email=email',
    ]);
    expect(federation).toMatchObject({ kind: 'subject', jwksUri: null, exchangeRules: [{ audience: 'api://orders', clients: [service.clientId], claims: { tid: 'corp' } }] });

    const userToken = await idp.sign({ sub: 'user-7', aud: 'api://orders', tid: 'corp', email: 'grace@example.com' });
    const response = await fetch(`${server.url}/t/default/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${service.clientId}:${service.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: userToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        audience: DOWNSTREAM,
      }),
    });
    const body = (await response.json()) as { access_token: string; scope: string };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.scope).toBe('inventory:read');
    expect(decodeJwt(body.access_token)).toMatchObject({
      sub: `${idp.issuer}#user-7`,
      act: { sub: service.clientId },
      client_id: service.clientId,
      aud: DOWNSTREAM,
      email: 'grace@example.com',
      tenant_id: 'acme',
      environment: 'prod',
    });
  });

  it('a custom claim that tries to override sub is refused (422, exit 1 with the reason)', async () => {
    const result = await cli.run(['clients', 'create', '--name', 'sneaky', '--claim', 'sub=admin']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/"sub" is a registered claim/);
  });
});
