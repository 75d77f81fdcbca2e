import { afterEach, describe, expect, it } from 'vitest';
import { clientSecretBasic, createTokenClient, processTokenExchangeResponse, TokenTypes } from '../src/index.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';

let issuer: TestIssuer | undefined;
afterEach(async () => {
  await issuer?.close();
  issuer = undefined;
});

describe('token exchange (RFC 8693)', () => {
  it('sends the grant, subject and target parameters and returns issued_token_type', async () => {
    issuer = await startTestIssuer({ clients: [{ clientId: 'orders', method: 'client_secret_basic', secret: 's' }] });
    const client = createTokenClient({ issuer: issuer.issuer, clientId: 'orders', auth: clientSecretBasic('s') });

    const result = await client.exchangeToken({
      subjectToken: 'incoming-token',
      audience: 'https://billing.example',
      resource: 'https://billing.example/v1',
      scope: ['billing:write', 'billing:read'],
      actorToken: 'my-own-token',
    });

    expect(result.accessToken).toBe('exchanged-1');
    expect(result.issuedTokenType).toBe(TokenTypes.accessToken);
    expect(result.tokenType).toBe('Bearer');
    const params = issuer.tokenRequests[0]?.params;
    expect(Object.fromEntries(params ?? [])).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: 'incoming-token',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      actor_token: 'my-own-token',
      actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      audience: 'https://billing.example',
      resource: 'https://billing.example/v1',
      scope: 'billing:read billing:write',
    });
  });

  it('is not cached: each call is a request', async () => {
    issuer = await startTestIssuer({ clients: [{ clientId: 'orders', method: 'client_secret_basic', secret: 's' }] });
    const client = createTokenClient({ issuer: issuer.issuer, clientId: 'orders', auth: clientSecretBasic('s') });
    await client.exchangeToken({ subjectToken: 't', subjectTokenType: TokenTypes.jwt });
    await client.exchangeToken({ subjectToken: 't', subjectTokenType: TokenTypes.jwt });
    expect(issuer.tokenRequests).toHaveLength(2);
    expect(issuer.tokenRequests[0]?.params.get('subject_token_type')).toBe(TokenTypes.jwt);
  });

  it('requires issued_token_type and accepts token_type N_A', async () => {
    const ok = new Response(
      JSON.stringify({ access_token: 'id-token', token_type: 'N_A', issued_token_type: TokenTypes.idToken }),
      { status: 200 },
    );
    expect((await processTokenExchangeResponse(ok)).token_type).toBe('N_A');
    const missing = new Response(JSON.stringify({ access_token: 'x', token_type: 'Bearer', expires_in: 60 }), { status: 200 });
    await expect(processTokenExchangeResponse(missing)).rejects.toMatchObject({ code: 'ERR_RESPONSE_FORMAT' });
  });

  it('surfaces invalid_grant as OAuthError', async () => {
    issuer = await startTestIssuer({ clients: [{ clientId: 'orders', method: 'client_secret_basic', secret: 's' }] });
    issuer.script({ status: 400, body: { error: 'invalid_grant', error_description: 'subject token expired' } });
    const client = createTokenClient({
      issuer: issuer.issuer,
      clientId: 'orders',
      auth: clientSecretBasic('s'),
      tokenEndpoint: issuer.tokenEndpoint,
    });
    await expect(client.exchangeToken({ subjectToken: 'old' })).rejects.toMatchObject({
      code: 'ERR_OAUTH_ERROR',
      error: 'invalid_grant',
      status: 400,
    });
  });
});
