/**
 * DPoP for the client (RFC 9449): a proof per request, signed by the client's DPoP key
 * and carrying `htm`, `htu` (without query and fragment), `iat`, a fresh `jti`, `ath`
 * when an access token goes with it, and the server's latest nonce (RFC 9449 §8, §9)
 * for that origin.
 */
import { createHash, createPublicKey, KeyObject, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { resolveSigningKey, type PrivateKeyInput } from './auth/private-key-jwt.js';
import { ConfigurationError } from './errors.js';
import type { Clock } from './runtime.js';

/** A Web Crypto key pair, as `crypto.subtle.generateKey` or jose's `generateKeyPair` return. */
export interface DpopKeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** A DPoP key: a private key (KeyObject, PEM, private JWK, extractable CryptoKey) or a Web Crypto key pair. */
export type DpopKeyInput = PrivateKeyInput | DpopKeyPair;

export interface DpopProver {
  /** RFC 7638 thumbprint of the public key: what tokens are bound to (`cnf.jkt`). */
  jkt(): Promise<string>;
  /** A proof for one request. `htu` is cut at `?` and `#`. */
  proof(htm: string, htu: string, accessToken?: string): Promise<string>;
  /** Remember the `DPoP-Nonce` a server sent (per origin). */
  rememberNonce(url: string, response: Response): string | null;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/** Servers whose nonces are remembered at most (a client talks to a handful). */
const MAX_NONCE_ORIGINS = 100;

function isKeyPair(input: DpopKeyInput): input is DpopKeyPair {
  return typeof input === 'object' && input !== null && 'privateKey' in input && 'publicKey' in input;
}

async function publicJwkOf(input: DpopKeyInput, signingKey: KeyObject | CryptoKey): Promise<JWK> {
  let jwk: JWK;
  if (isKeyPair(input)) jwk = await exportJWK(input.publicKey);
  else if ('asymmetricKeyType' in signingKey) jwk = createPublicKey(signingKey).export({ format: 'jwk' }) as JWK;
  else if (typeof input === 'object' && input !== null && 'kty' in input) jwk = { ...(input as JWK) };
  else {
    // A Web Crypto private key, extractable or not: Node derives its public half.
    try {
      jwk = createPublicKey(KeyObject.from(signingKey as unknown as Parameters<typeof KeyObject.from>[0])).export({ format: 'jwk' }) as JWK;
    } catch (error) {
      throw new ConfigurationError('dpop: the public key could not be derived; pass the key pair ({ privateKey, publicKey })', { cause: error });
    }
  }
  const { kty, crv, x, y, n, e } = Object.fromEntries(Object.entries(jwk).filter(([name]) => !PRIVATE_MEMBERS.includes(name))) as JWK;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, value]) => value !== undefined)) as JWK;
}

/** `htu`: the URL without query and fragment (RFC 9449 §4.2). */
export function htuOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

export function createDpopProver(input: DpopKeyInput, clock: Clock): DpopProver {
  let signing: ReturnType<typeof resolveSigningKey>;
  try {
    signing = resolveSigningKey(isKeyPair(input) ? input.privateKey : input, {});
  } catch (error) {
    throw new ConfigurationError(`dpop: ${(error as Error).message.replace(/^private_key_jwt:? ?/, '')}`, { cause: error });
  }
  if (signing.alg.startsWith('HS')) throw new ConfigurationError('dpop needs an asymmetric key');
  const publicJwk = publicJwkOf(input, signing.key);
  // Surface a key problem at the first use, not as an unhandled rejection now.
  publicJwk.catch(() => undefined);
  const nonces = new Map<string, string>();

  return {
    async jkt() {
      return calculateJwkThumbprint(await publicJwk);
    },
    async proof(htm, htu, accessToken) {
      const target = htuOf(htu);
      const nonce = nonces.get(new URL(target).origin);
      const claims: Record<string, unknown> = { htm, htu: target, jti: randomUUID() };
      if (accessToken !== undefined) claims['ath'] = createHash('sha256').update(accessToken, 'ascii').digest('base64url');
      if (nonce !== undefined) claims['nonce'] = nonce;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: signing.alg, typ: 'dpop+jwt', jwk: await publicJwk })
        .setIssuedAt(Math.floor(clock.now() / 1000))
        .sign(signing.key);
    },
    rememberNonce(url, response) {
      const nonce = response.headers.get('dpop-nonce');
      if (nonce === null || nonce === '' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(nonce)) return null;
      const origin = new URL(url).origin;
      nonces.delete(origin);
      nonces.set(origin, nonce);
      if (nonces.size > MAX_NONCE_ORIGINS) nonces.delete(nonces.keys().next().value as string);
      return nonce;
    },
  };
}

/** True when `response` asks for a (new) DPoP nonce: 400 at a token endpoint, 401 at a resource (RFC 9449 §8, §9). */
export async function isUseDpopNonce(response: Response): Promise<boolean> {
  if (response.headers.get('dpop-nonce') === null) return false;
  if (response.status === 401) return /\berror\s*=\s*"?use_dpop_nonce"?/i.test(response.headers.get('www-authenticate') ?? '');
  if (response.status !== 400) return false;
  try {
    const body = (await response.clone().json()) as { error?: unknown };
    return body.error === 'use_dpop_nonce';
  } catch {
    return false;
  }
}

