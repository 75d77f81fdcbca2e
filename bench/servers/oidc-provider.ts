/**
 * node-oidc-provider 9 configured for the same flow as Tessera: client_credentials,
 * client_secret_basic, RFC 8707 resource, JWT access tokens signed ES256. Its default
 * in-memory adapter; no interactions. The client's secret comes from the parent.
 */
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { announce, freePort, HOST, RESOURCE, SCOPE } from './common.js';

interface Provider {
  callback(): (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => Provider;

const clientId = process.env['BENCH_CLIENT_ID'] ?? 'bench-client';
const clientSecret = process.env['BENCH_CLIENT_SECRET'] ?? 'bench-client-secret-0123456789abcdefghijklmnop';

// oidc-provider ships no type declarations: load it untyped behind a narrow interface.
const moduleName = 'oidc-provider';
const { default: OidcProvider, errors } = (await import(moduleName)) as {
  default: ProviderConstructor;
  errors: { InvalidTarget: new () => Error };
};

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

const port = await freePort();
const issuer = `http://${HOST}:${port}`;
const provider = new OidcProvider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      // The only key is ES256; the RS256 default would make the client metadata invalid.
      id_token_signed_response_alg: 'ES256',
      scope: SCOPE,
    },
  ],
  jwks: { keys: [signingJwk] },
  scopes: [SCOPE],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx: unknown, resource: string) => {
        if (resource !== RESOURCE) throw new errors.InvalidTarget();
        return { scope: SCOPE, audience: RESOURCE, accessTokenTTL: 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
});

const server = createServer(provider.callback());
await new Promise<void>((resolve) => server.listen(port, HOST, resolve));
announce({ type: 'ready', url: issuer }, async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
