import { afterEach, describe, expect, it } from 'vitest';
import {
  DiscoveryError,
  IssuerMismatchError,
  clientSecretPost,
  createTokenClient,
  discoveryUrls,
} from '../src/index.js';
import { fakeTime, startTestIssuer, type TestIssuer, type TestIssuerOptions } from './helpers/test-issuer.js';

let issuer: TestIssuer | undefined;
afterEach(async () => {
  await issuer?.close();
  issuer = undefined;
});

async function setup(options: Partial<TestIssuerOptions> = {}) {
  issuer = await startTestIssuer({ clients: [{ clientId: 'svc', method: 'client_secret_post', secret: 's' }], ...options });
  const time = fakeTime();
  const client = createTokenClient({
    issuer: issuer.issuer,
    clientId: 'svc',
    auth: clientSecretPost('s'),
    clock: time.clock,
    sleep: time.sleep,
  });
  return { issuer, client };
}

describe('discovery', () => {
  it('builds both well-known URLs, RFC 8414 path-inserted', () => {
    expect(discoveryUrls('https://as.example/t/acme')).toEqual([
      'https://as.example/t/acme/.well-known/openid-configuration',
      'https://as.example/.well-known/oauth-authorization-server/t/acme',
    ]);
    expect(discoveryUrls('https://as.example/')).toEqual([
      'https://as.example/.well-known/openid-configuration',
      'https://as.example/.well-known/oauth-authorization-server',
    ]);
  });

  it('uses the OpenID location and the token_endpoint from it', async () => {
    const { issuer, client } = await setup();
    expect(await client.tokenEndpoint()).toBe(issuer.tokenEndpoint);
    expect(issuer.discoveryRequests).toEqual(['/t/default/.well-known/openid-configuration']);
  });

  it('falls back to RFC 8414 when the OpenID location is missing', async () => {
    const { issuer, client } = await setup({ discovery: 'oauth' });
    await client.getToken();
    expect(issuer.discoveryRequests).toEqual([
      '/t/default/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server/t/default',
    ]);
    expect(issuer.tokenRequests).toHaveLength(1);
  });

  it('refuses metadata for another issuer and sends no credentials', async () => {
    const { issuer, client } = await setup({ metadata: { issuer: 'http://evil.example/t/default' } });
    const error = await client.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IssuerMismatchError);
    expect((error as IssuerMismatchError).code).toBe('ERR_ISSUER_MISMATCH');
    expect(issuer.tokenRequests).toHaveLength(0);
    expect(issuer.discoveryRequests).toHaveLength(1); // no fallback after a mismatch
  });

  it('treats a trailing-slash difference as a mismatch (exact comparison)', async () => {
    const { issuer } = await setup();
    const client = createTokenClient({ issuer: `${issuer.issuer}/`, clientId: 'svc', auth: clientSecretPost('s') });
    await expect(client.metadata()).rejects.toBeInstanceOf(IssuerMismatchError);
  });

  it('reports ERR_DISCOVERY when neither location answers, and tries again on the next call', async () => {
    const { issuer } = await setup({ metadata: { token_endpoint: 42 } });
    const client = createTokenClient({ issuer: issuer.issuer, clientId: 'svc', auth: clientSecretPost('s') });
    const error = await client.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiscoveryError);
    expect((error as DiscoveryError).code).toBe('ERR_DISCOVERY');
    await client.getToken().catch(() => undefined);
    expect(issuer.discoveryRequests).toHaveLength(4);
  });

  it('skips discovery when tokenEndpoint is given', async () => {
    const { issuer } = await setup();
    const client = createTokenClient({
      issuer: issuer.issuer,
      clientId: 'svc',
      auth: clientSecretPost('s'),
      tokenEndpoint: issuer.tokenEndpoint,
    });
    await client.getToken();
    expect(issuer.discoveryRequests).toHaveLength(0);
    expect(issuer.tokenRequests).toHaveLength(1);
  });

  it('rejects bad options with ERR_CONFIGURATION', () => {
    expect(() => createTokenClient({ issuer: 'not a url', clientId: 'x', auth: clientSecretPost('s') })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIGURATION' }),
    );
  });
});
