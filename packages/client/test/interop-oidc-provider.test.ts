/**
 * Interoperability: the client against node-oidc-provider, a certified OpenID/OAuth server
 * that this project does not control. Discovery, client_secret_basic, private_key_jwt,
 * resource indicators (RFC 8707) and the cache all have to work unmodified.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientSecretBasic, createTokenClient, privateKeyJwt } from '../src/index.js';

interface ProviderLike {
  callback(): (req: unknown, res: unknown) => void;
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderLike;

/** node-oidc-provider's storage interface, in memory (what its development default does, without its warning). */
class MemoryAdapter {
  private static readonly entries = new Map<string, Record<string, unknown>>();
  constructor(private readonly model: string) {}
  private key(id: string): string {
    return `${this.model}:${id}`;
  }
  async upsert(id: string, payload: Record<string, unknown>): Promise<void> {
    MemoryAdapter.entries.set(this.key(id), payload);
  }
  async find(id: string): Promise<Record<string, unknown> | undefined> {
    return MemoryAdapter.entries.get(this.key(id));
  }
  async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
    return [...MemoryAdapter.entries.values()].find((payload) => payload['uid'] === uid);
  }
  async findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
    return [...MemoryAdapter.entries.values()].find((payload) => payload['userCode'] === userCode);
  }
  async consume(id: string): Promise<void> {
    const payload = MemoryAdapter.entries.get(this.key(id));
    if (payload) payload['consumed'] = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string): Promise<void> {
    MemoryAdapter.entries.delete(this.key(id));
  }
  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [key, payload] of MemoryAdapter.entries) if (payload['grantId'] === grantId) MemoryAdapter.entries.delete(key);
  }
}

const RESOURCE = 'https://orders.example.com';
const SECRET = 'a-long-client-secret-for-the-interop-test-0123456789';

let server: Server;
let issuer: string;
let tokenRequests = 0;
let signingKey: CryptoKey;

beforeAll(async () => {
  // oidc-provider ships no type declarations; load it untyped behind a narrow interface.
  // On Node.js 20 it warns at import that it wants a newer LTS; CI runs this test on 20
  // and on 24 on purpose, so that one line is not printed (anything else still is).
  const moduleName = 'oidc-provider';
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).startsWith('oidc-provider WARNING: Unsupported runtime')) warn(...args);
  };
  const { default: Provider, errors } = await (import(moduleName) as Promise<{
    default: ProviderConstructor;
    errors: { InvalidTarget: new () => Error };
  }>).finally(() => (console.warn = warn));
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  signingKey = privateKey;
  const issuerKey = await generateKeyPair('RS256', { extractable: true });
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const common = { grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'orders:read orders:write' };
  const provider = new Provider(issuer, {
    clients: [
      { ...common, client_id: 'basic-client', client_secret: SECRET, token_endpoint_auth_method: 'client_secret_basic' },
      {
        ...common,
        client_id: 'jwt-client',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [{ ...(await exportJWK(publicKey)), use: 'sig', alg: 'ES256' }] },
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(issuerKey.privateKey)), alg: 'RS256', use: 'sig', kid: 'interop' }] },
    scopes: ['orders:read', 'orders:write'],
    // Set explicitly, so the provider does not warn about its development defaults.
    adapter: MemoryAdapter,
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (resource !== RESOURCE) throw new errors.InvalidTarget();
          return { scope: 'orders:read orders:write', audience: RESOURCE, accessTokenFormat: 'jwt', accessTokenTTL: 600 };
        },
      },
    },
  });
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.method === 'POST') tokenRequests++;
    callback(req, res);
  });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('interop with node-oidc-provider', () => {
  it('client_secret_basic + resource indicator, cached afterwards', async () => {
    const client = createTokenClient({ issuer, clientId: 'basic-client', auth: clientSecretBasic(SECRET) });
    const before = tokenRequests;

    const token = await client.getToken({ resource: RESOURCE, scope: 'orders:read' });
    await client.getToken({ resource: RESOURCE, scope: 'orders:read' });

    expect(token.tokenType).toBe('Bearer');
    expect(token.scope).toBe('orders:read');
    const claims = JSON.parse(Buffer.from(token.accessToken.split('.')[1] ?? '', 'base64url').toString());
    expect(claims).toMatchObject({ aud: RESOURCE, client_id: 'basic-client', iss: issuer });
    expect(tokenRequests - before).toBe(1);
  });

  it('private_key_jwt with the issuer as audience', async () => {
    const client = createTokenClient({ issuer, clientId: 'jwt-client', auth: privateKeyJwt(signingKey) });
    const token = await client.getToken({ resource: RESOURCE, scope: ['orders:write', 'orders:read'] });
    expect(token.scope?.split(' ').sort()).toEqual(['orders:read', 'orders:write']);
  });

  it('maps a real invalid_target error (unknown resource)', async () => {
    const client = createTokenClient({ issuer, clientId: 'basic-client', auth: clientSecretBasic(SECRET) });
    await expect(client.getToken({ resource: 'https://unknown.example.com' })).rejects.toMatchObject({
      code: 'ERR_OAUTH_ERROR',
      error: 'invalid_target',
      status: 400,
    });
  });

  it('maps a wrong secret to invalid_client', async () => {
    const client = createTokenClient({ issuer, clientId: 'basic-client', auth: clientSecretBasic('wrong') });
    await expect(client.getToken({ resource: RESOURCE })).rejects.toMatchObject({ error: 'invalid_client', status: 401 });
  });
});
