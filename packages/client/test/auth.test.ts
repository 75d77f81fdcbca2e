import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  clientSecretBasic,
  clientSecretPost,
  createTokenClient,
  privateKeyJwt,
} from '../src/index.js';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';

let issuer: TestIssuer | undefined;
afterEach(async () => {
  await issuer?.close();
  issuer = undefined;
});

describe('client_secret_basic', () => {
  it('sends form-urlencoded id and secret in the Authorization header only', async () => {
    const clientId = 'svc:orders/ü';
    const secret = 'p@ss:w rd+/=%';
    issuer = await startTestIssuer({ clients: [{ clientId, method: 'client_secret_basic', secret }] });
    const client = createTokenClient({ issuer: issuer.issuer, clientId, auth: clientSecretBasic(secret) });

    const token = await client.getToken({ audience: 'https://api.example.com' });

    expect(token.accessToken).toBe('at-1');
    const [request] = issuer.tokenRequests;
    expect(request?.clientId).toBe(clientId);
    const decoded = Buffer.from(request?.authorization?.slice(6) ?? '', 'base64').toString();
    expect(decoded).toBe('svc%3Aorders%2F%C3%BC:p%40ss%3Aw+rd%2B%2F%3D%25');
    expect(request?.params.has('client_id')).toBe(false);
    expect(request?.params.has('client_secret')).toBe(false);
    expect(request?.params.get('grant_type')).toBe('client_credentials');
    expect(request?.params.get('audience')).toBe('https://api.example.com');
  });

  it('rejects an empty secret at construction', () => {
    expect(() => clientSecretBasic('')).toThrow(ConfigurationError);
  });
});

describe('client_secret_post', () => {
  it('sends client_id and client_secret in the body', async () => {
    issuer = await startTestIssuer({ clients: [{ clientId: 'poster', method: 'client_secret_post', secret: 's3cret' }] });
    const client = createTokenClient({ issuer: issuer.issuer, clientId: 'poster', auth: clientSecretPost('s3cret') });

    await client.getToken({ scope: 'orders:read' });

    const [request] = issuer.tokenRequests;
    expect(request?.clientId).toBe('poster');
    expect(request?.authorization).toBeUndefined();
    expect(request?.params.get('client_id')).toBe('poster');
    expect(request?.params.get('client_secret')).toBe('s3cret');
    expect(request?.params.get('scope')).toBe('orders:read');
  });

  it('surfaces a wrong secret as OAuthError invalid_client without retrying', async () => {
    issuer = await startTestIssuer({ clients: [{ clientId: 'poster', method: 'client_secret_post', secret: 's3cret' }] });
    const client = createTokenClient({ issuer: issuer.issuer, clientId: 'poster', auth: clientSecretPost('wrong') });

    await expect(client.getToken()).rejects.toMatchObject({ code: 'ERR_OAUTH_ERROR', error: 'invalid_client', status: 401 });
    expect(issuer.tokenRequests).toHaveLength(1);
  });
});

describe('private_key_jwt', () => {
  it('signs an RFC 7523 assertion the server verifies with the public key (KeyObject)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    issuer = await startTestIssuer({ clients: [{ clientId: 'signer', method: 'private_key_jwt', publicKey }] });
    const client = createTokenClient({
      issuer: issuer.issuer,
      clientId: 'signer',
      auth: privateKeyJwt(privateKey, { kid: 'k1' }),
    });

    await client.getToken({ audience: 'a' });
    await client.getToken({ audience: 'b' }); // second assertion: new jti

    expect(issuer.tokenRequests.map((r) => r.clientId)).toEqual(['signer', 'signer']);
    const [first, second] = issuer.tokenRequests;
    const claims = first?.assertionClaims ?? {};
    expect(claims.iss).toBe('signer');
    expect(claims.sub).toBe('signer');
    expect(claims.aud).toBe(issuer.issuer);
    expect(typeof claims.jti).toBe('string');
    expect(claims.jti).not.toBe(second?.assertionClaims?.jti);
    expect((claims.exp as number) - (claims.iat as number)).toBe(60);
    expect(first?.params.get('client_id')).toBe('signer');
    expect(first?.params.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const header = JSON.parse(Buffer.from(first?.params.get('client_assertion')?.split('.')[0] ?? '', 'base64url').toString());
    // draft-ietf-oauth-rfc7523bis: explicitly typed.
    expect(header).toEqual({ alg: 'ES256', kid: 'k1', typ: 'client-authentication+jwt' });
  });

  it('accepts a PEM string and can address the token endpoint instead of the issuer', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    issuer = await startTestIssuer({ clients: [{ clientId: 'rsa', method: 'private_key_jwt', publicKey }] });
    const client = createTokenClient({
      issuer: issuer.issuer,
      clientId: 'rsa',
      auth: privateKeyJwt(pem, { audience: 'token_endpoint' }),
    });

    await client.getToken();

    expect(issuer.tokenRequests[0]?.clientId).toBe('rsa');
    expect(issuer.tokenRequests[0]?.assertionClaims?.aud).toBe(issuer.tokenEndpoint);
  });

  it('accepts a private JWK (kid and alg taken from it) and an Ed25519 PKCS#8 PEM', async () => {
    const rsa = await generateKeyPair('PS256', { extractable: true });
    const jwk = { ...(await exportJWK(rsa.privateKey)), kid: 'jwk-1', alg: 'PS256' };
    const ed = await generateKeyPair('EdDSA', { extractable: true });
    const { createPublicKey } = await import('node:crypto');
    issuer = await startTestIssuer({
      clients: [
        { clientId: 'jwk', method: 'private_key_jwt', publicKey: createPublicKey({ key: await exportJWK(rsa.publicKey), format: 'jwk' }) },
        { clientId: 'ed', method: 'private_key_jwt', publicKey: createPublicKey({ key: await exportJWK(ed.publicKey), format: 'jwk' }) },
      ],
    });
    const jwkClient = createTokenClient({ issuer: issuer.issuer, clientId: 'jwk', auth: privateKeyJwt(jwk) });
    const edClient = createTokenClient({
      issuer: issuer.issuer,
      clientId: 'ed',
      auth: privateKeyJwt(await exportPKCS8(ed.privateKey)),
    });

    await jwkClient.getToken();
    await edClient.getToken();

    expect(issuer.tokenRequests.map((r) => r.clientId)).toEqual(['jwk', 'ed']);
    const header = (i: number): unknown =>
      JSON.parse(Buffer.from(issuer?.tokenRequests[i]?.params.get('client_assertion')?.split('.')[0] ?? '', 'base64url').toString());
    expect(header(0)).toEqual({ alg: 'PS256', kid: 'jwk-1', typ: 'client-authentication+jwt' });
    expect(header(1)).toEqual({ alg: 'EdDSA', typ: 'client-authentication+jwt' });
  });

  it('refuses public keys and garbage at construction', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => privateKeyJwt(publicKey)).toThrow(ConfigurationError);
    expect(() => privateKeyJwt('not a pem')).toThrow(ConfigurationError);
    const jwk = await exportJWK(publicKey);
    expect(() => privateKeyJwt(jwk)).toThrow(ConfigurationError);
    expect(() => privateKeyJwt(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, { lifetime: 3600 })).toThrow(
      ConfigurationError,
    );
  });
});
