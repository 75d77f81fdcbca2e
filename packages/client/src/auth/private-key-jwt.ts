import { createPrivateKey, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import { SignJWT, type CryptoKey, type JWK } from 'jose';
import { ConfigurationError } from '../errors.js';
import type { ClientAuth } from './types.js';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** draft-ietf-oauth-rfc7523bis: the `typ` of a client assertion. */
export const CLIENT_ASSERTION_TYP = 'client-authentication+jwt';

/** A private key: a Node.js `KeyObject`, a Web Crypto `CryptoKey`, a private JWK, or a PEM string. */
export type PrivateKeyInput = KeyObject | CryptoKey | JWK | string;

export interface PrivateKeyJwtOptions {
  /** JWS algorithm. Default: inferred from the key (RSA → RS256, P-256 → ES256, Ed25519 → EdDSA, ...). */
  alg?: string;
  /** `kid` header. Default: the JWK's `kid`, if the key is a JWK. */
  kid?: string;
  /**
   * The assertion's `aud`. `'issuer'` (default) uses the issuer identifier, which RFC 7523
   * allows and which cannot be confused between servers; `'token_endpoint'` uses the URL
   * the request is sent to, for servers that insist on it.
   */
  audience?: 'issuer' | 'token_endpoint';
  /** Seconds until the assertion expires. Default 60; servers reject long-lived assertions. */
  lifetime?: number;
}

interface SigningKey {
  key: KeyObject | CryptoKey;
  alg: string;
  kid: string | undefined;
}

const CURVE_ALGORITHMS: Record<string, string> = {
  prime256v1: 'ES256',
  'P-256': 'ES256',
  secp384r1: 'ES384',
  'P-384': 'ES384',
  secp521r1: 'ES512',
  'P-521': 'ES512',
};

function algorithmForKeyObject(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ed25519':
      return 'EdDSA';
    case 'ec': {
      const alg = CURVE_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (alg) return alg;
      break;
    }
  }
  throw new ConfigurationError(
    `cannot infer a JWS algorithm for a ${key.asymmetricKeyType ?? 'symmetric'} key; pass { alg }`,
  );
}

function algorithmForCryptoKey(key: CryptoKey): string {
  const algorithm = key.algorithm as { name: string; namedCurve?: string; hash?: { name: string } };
  switch (algorithm.name) {
    case 'RSASSA-PKCS1-v1_5':
      return `RS${algorithm.hash?.name.slice(4) ?? '256'}`;
    case 'RSA-PSS':
      return `PS${algorithm.hash?.name.slice(4) ?? '256'}`;
    case 'Ed25519':
      return 'EdDSA';
    case 'ECDSA': {
      const alg = CURVE_ALGORITHMS[algorithm.namedCurve ?? ''];
      if (alg) return alg;
      break;
    }
  }
  throw new ConfigurationError(`cannot infer a JWS algorithm for a ${algorithm.name} CryptoKey; pass { alg }`);
}

function isCryptoKey(input: unknown): input is CryptoKey {
  return typeof input === 'object' && input !== null && 'algorithm' in input && 'usages' in input;
}

function isKeyObject(input: unknown): input is KeyObject {
  return typeof input === 'object' && input !== null && 'asymmetricKeyType' in input && 'export' in input;
}

export function resolveSigningKey(input: PrivateKeyInput, options: PrivateKeyJwtOptions): SigningKey {
  let key: KeyObject | CryptoKey;
  let kid = options.kid;
  try {
    if (typeof input === 'string') {
      key = createPrivateKey(input);
    } else if (isCryptoKey(input) || isKeyObject(input)) {
      key = input;
    } else {
      if (typeof input.d !== 'string') throw new ConfigurationError('the JWK is not a private key (no "d")');
      kid ??= input.kid;
      // A JWK that declares its algorithm is trusted; otherwise infer it from the key.
      if (!options.alg && typeof input.alg === 'string') options = { ...options, alg: input.alg };
      key = createPrivateKey({ key: input as JsonWebKey, format: 'jwk' });
    }
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw new ConfigurationError('private_key_jwt: the key could not be read as a private key', { cause: error });
  }
  if (isCryptoKey(key)) {
    if (key.type !== 'private') throw new ConfigurationError('private_key_jwt needs a private key');
    return { key, kid, alg: options.alg ?? algorithmForCryptoKey(key) };
  }
  if (key.type !== 'private') throw new ConfigurationError('private_key_jwt needs a private key');
  return { key, kid, alg: options.alg ?? algorithmForKeyObject(key) };
}

/**
 * `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): each request carries a fresh signed
 * assertion with `iss` = `sub` = client id, `aud`, `iat`, a short `exp` and a unique `jti`.
 * The key is parsed once, when the strategy is created, so a bad key fails at start-up.
 */
export function privateKeyJwt(key: PrivateKeyInput, options: PrivateKeyJwtOptions = {}): ClientAuth {
  const signing = resolveSigningKey(key, options);
  const lifetime = options.lifetime ?? 60;
  if (!(lifetime > 0 && lifetime <= 300)) {
    throw new ConfigurationError('private_key_jwt lifetime must be between 1 and 300 seconds');
  }
  return {
    method: 'private_key_jwt',
    async apply({ clientId, issuer, tokenEndpoint, clock }, _headers, body) {
      const now = Math.floor(clock.now() / 1000);
      const assertion = await new SignJWT({})
        // draft-ietf-oauth-rfc7523bis: explicitly typed, addressed to the issuer (the default).
        .setProtectedHeader({ alg: signing.alg, typ: CLIENT_ASSERTION_TYP, ...(signing.kid ? { kid: signing.kid } : {}) })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(options.audience === 'token_endpoint' ? tokenEndpoint : issuer)
        .setIssuedAt(now)
        .setExpirationTime(now + lifetime)
        .setJti(randomUUID())
        .sign(signing.key);
      body.set('client_id', clientId);
      body.set('client_assertion_type', CLIENT_ASSERTION_TYPE);
      body.set('client_assertion', assertion);
    },
  };
}
