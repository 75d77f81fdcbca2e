/**
 * A stand-in for an organisation's identity provider (Entra ID, Okta, Keycloak, a
 * Kubernetes API server): on 127.0.0.1, it publishes an OpenID discovery document and
 * a JWKS like a real one, and signs users' tokens with its key.
 *
 *   const idp = await startExternalIdp();
 *   const token = await idp.sign({ sub: 'user-1', aud: 'api://orders' }, { now: t.clock.now });
 *   await idp.close();
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

export interface ExternalIdp {
  issuer: string;
  jwksUri: string;
  /** Requests served, by path: to see that discovery and keys are cached. */
  hits: Map<string, number>;
  /** Signs a token with the IdP's key (iss and, unless given, iat/exp/jti set from `now`). */
  sign(claims: JWTPayload, options?: { now?: number; lifetime?: number; kid?: string; typ?: string }): Promise<string>;
  /** A key that is not published: tokens it signs must be refused. */
  signWithUnpublishedKey(claims: JWTPayload, options?: { now?: number }): Promise<string>;
  close(): Promise<void>;
}

export async function startExternalIdp(options: { discoveryIssuer?: (issuer: string) => string } = {}): Promise<ExternalIdp> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const other = await generateKeyPair('RS256', { extractable: true });
  const kid = 'idp-key-1';
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const hits = new Map<string, number>();
  let issuer = '';
  const server: Server = createServer((request, response) => {
    const path = request.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/.well-known/openid-configuration') {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ issuer: options.discoveryIssuer?.(issuer) ?? issuer, jwks_uri: `${issuer}/keys`, id_token_signing_alg_values_supported: ['RS256'] }));
    } else if (path === '/keys') {
      response.setHeader('content-type', 'application/json');
      response.setHeader('cache-control', 'max-age=3600');
      response.end(JSON.stringify({ keys: [jwk] }));
    } else {
      response.statusCode = 404;
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const build = (claims: JWTPayload, signOptions: { now?: number; lifetime?: number; kid?: string; typ?: string }) => {
    const iat = Math.floor((signOptions.now ?? Date.now()) / 1000);
    return new SignJWT({ iat, exp: iat + (signOptions.lifetime ?? 3600), jti: `jti-${Math.random().toString(36).slice(2)}`, ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: signOptions.kid ?? kid, typ: signOptions.typ ?? 'JWT' })
      .setIssuer(typeof claims.iss === 'string' ? claims.iss : issuer);
  };

  return {
    issuer,
    jwksUri: `${issuer}/keys`,
    hits,
    sign: (claims, signOptions = {}) => build(claims, signOptions).sign(privateKey),
    signWithUnpublishedKey: (claims, signOptions = {}) => build(claims, signOptions).sign(other.privateKey),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
