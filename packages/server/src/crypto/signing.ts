/**
 * Signing keys and JWS. The only module that touches private key material.
 *
 * jose handles key generation formats and thumbprints; the hot path (one signature
 * per token) calls node:crypto directly with a prepared KeyObject and a header that
 * is encoded once per key, which is about three times faster than jose's SignJWT.
 * RSA signatures (about 0.5-1 ms each) run on the libuv thread pool so that an RSA
 * tenant does not stall every other request of the process; ES256 and EdDSA (about
 * 35 µs) stay on the event loop, where they cost less CPU than the hop to the pool.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateKeyPairCallback,
  sign as cryptoSign,
  constants,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { ALGORITHM_PROFILES, isSupportedAlgorithm } from '@tessera/verifier/core';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { SigningAlg } from '../store/types.js';
import type { MasterKey } from './master-key.js';

const generateKeyPair = promisify(generateKeyPairCallback);

export const SIGNING_ALGS: readonly SigningAlg[] = ['ES256', 'RS256', 'PS256', 'EdDSA'];

export interface GeneratedKey {
  kid: string;
  alg: SigningAlg;
  publicJwk: JWK;
  /** The private key as a JWK (RFC 7517), sealed under the master key. */
  privateKeyEncrypted: string;
}

export async function generateSigningKey(alg: SigningAlg, masterKey: MasterKey): Promise<GeneratedKey> {
  const { privateKey, publicKey } = await generateKeyObjects(alg);
  const exported = publicKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(exported, 'sha256');
  const publicJwk: JWK = { ...exported, kid, alg, use: 'sig' };
  // Sealed as a JWK rather than PKCS#8: OpenSSL 3 imports a JWK's members directly,
  // where PEM and DER go through its decoder framework, about 4 million instructions
  // per key, against 1 million for a P-256 JWK, 0.5 for Ed25519 and 0.1 for RSA
  // (Node.js 20, OpenSSL 3.0). A tenant loaded again pays that once (docs/performance.md).
  const jwk = JSON.stringify(privateKey.export({ format: 'jwk' }));
  return { kid, alg, publicJwk, privateKeyEncrypted: masterKey.encrypt(jwk, kid) };
}

/**
 * The private key of a sealed signing key: a JWK (every key generated now) or a PKCS#8
 * PEM (keys generated before JWK sealing, until they rotate out).
 */
export function unsealPrivateKey(key: { kid: string; privateKeyEncrypted: string }, masterKey: MasterKey): KeyObject {
  const plaintext = masterKey.decrypt(key.privateKeyEncrypted, key.kid);
  if (plaintext.startsWith('{')) return createPrivateKey({ key: JSON.parse(plaintext) as import('node:crypto').JsonWebKey, format: 'jwk' });
  return createPrivateKey(plaintext);
}

async function generateKeyObjects(alg: SigningAlg): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  switch (alg) {
    case 'ES256':
      return generateKeyPair('ec', { namedCurve: 'P-256' });
    case 'RS256':
    case 'PS256':
      return generateKeyPair('rsa', { modulusLength: 2048 });
    case 'EdDSA':
      return generateKeyPair('ed25519');
  }
}

interface SignatureParams {
  digest: string | null;
  options: { dsaEncoding?: 'ieee-p1363'; padding?: number; saltLength?: number };
}

/**
 * node:crypto parameters for a JWS alg (RFC 7518 §3), from the JOSE core's one
 * algorithm table; null if not an asymmetric alg we accept.
 */
export function signatureParams(alg: string): SignatureParams | null {
  if (!isSupportedAlgorithm(alg)) return null;
  const profile = ALGORITHM_PROFILES[alg];
  if (profile.kty === 'EC') return { digest: profile.digest, options: { dsaEncoding: 'ieee-p1363' } };
  if (profile.pss) return { digest: profile.digest, options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: profile.saltLength ?? 0 } };
  return { digest: profile.digest, options: {} };
}

/** The scratch buffer of #signOnThisThread: a token's payload and its signing input (base64url: 4/3 of it plus the header). */
const SCRATCH_BYTES = 16 * 1024;
const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);

/** A prepared signer for one key: header encoded once, KeyObject parsed once. */
export class JwtSigner {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly #encodedHeader: string;
  readonly #digest: string | null;
  /** The key with its padding/encoding options, built once rather than per signature. */
  readonly #signingKey: { key: KeyObject } & SignatureParams['options'];
  /** RS256/PS256: sign on the libuv pool (asynchronous crypto.sign) instead of the event loop. */
  readonly #offload: boolean;
  /** Headers for other `typ`s (transaction tokens, introspection responses), encoded once each. */
  readonly #otherHeaders = new Map<string, string>();

  constructor(kid: string, alg: SigningAlg, privateKey: KeyObject, typ = 'at+jwt') {
    this.kid = kid;
    this.alg = alg;
    this.#encodedHeader = Buffer.from(JSON.stringify({ typ, alg, kid })).toString('base64url');
    const params = signatureParams(alg);
    if (params === null) throw new Error(`unsupported signing alg ${alg}`);
    this.#digest = params.digest;
    this.#signingKey = { key: privateKey, ...params.options };
    this.#offload = alg === 'RS256' || alg === 'PS256';
  }

  static unseal(key: { kid: string; alg: SigningAlg; privateKeyEncrypted: string }, masterKey: MasterKey): JwtSigner {
    return new JwtSigner(key.kid, key.alg, unsealPrivateKey(key, masterKey));
  }

  /** The public half of the signing key, derived from the private one (far cheaper than importing the JWK). */
  publicKey(): KeyObject {
    return createPublicKey(this.#signingKey.key);
  }

  /** A compact JWS of `payload` (header `typ` at+jwt unless given); RSA signatures are computed off the event loop. */
  sign(payload: Record<string, unknown>, typ?: string): Promise<string> {
    return this.signJson(JSON.stringify(payload), typ);
  }

  /** The same for a payload already serialised as JSON (a caller that keeps the unchanging claims serialised). */
  async signJson(payloadJson: string, typ?: string): Promise<string> {
    const header = typ === undefined ? this.#encodedHeader : this.#headerFor(typ);
    if (this.#offload) {
      const signingInput = `${header}.${Buffer.from(payloadJson).toString('base64url')}`;
      const data = Buffer.from(signingInput, 'latin1');
      const signature = await new Promise<Buffer>((resolve, reject) => {
        cryptoSign(this.#digest, data, this.#signingKey, (error, result) => (error ? reject(error) : resolve(result)));
      });
      return `${signingInput}.${signature.toString('base64url')}`;
    }
    return this.#signOnThisThread(header, payloadJson);
  }

  /**
   * An access token (header `typ` at+jwt) of a payload already serialised, signed at
   * once on this thread; undefined for an alg whose signatures run on the pool (RSA),
   * which the caller then awaits from signJson. A caller that needs no promise saves one.
   */
  signJsonNow(payloadJson: string): string | undefined {
    return this.#offload ? undefined : this.#signOnThisThread(this.#encodedHeader, payloadJson);
  }

  /**
   * The synchronous signature (ES256, EdDSA) without a Buffer per step: the payload's
   * bytes, then the signing input, are written into one scratch buffer that every
   * signature of the process reuses (nothing else runs between the writes and the
   * sign). A payload too large for it takes the plain way.
   */
  #signOnThisThread(header: string, payloadJson: string): string {
    if (payloadJson.length * 3 > SCRATCH_BYTES / 2) {
      const signingInput = `${header}.${Buffer.from(payloadJson).toString('base64url')}`;
      return `${signingInput}.${cryptoSign(this.#digest, Buffer.from(signingInput, 'latin1'), this.#signingKey).toString('base64url')}`;
    }
    const payloadBytes = scratch.write(payloadJson, 0, 'utf8');
    const encodedPayload = scratch.toString('base64url', 0, payloadBytes);
    let inputBytes = scratch.write(header, 0, 'latin1');
    inputBytes += scratch.write('.', inputBytes, 'latin1');
    inputBytes += scratch.write(encodedPayload, inputBytes, 'latin1');
    const signature = cryptoSign(this.#digest, scratch.subarray(0, inputBytes), this.#signingKey);
    return `${header}.${encodedPayload}.${signature.toString('base64url')}`;
  }

  #headerFor(typ: string): string {
    let header = this.#otherHeaders.get(typ);
    if (header === undefined) {
      header = Buffer.from(JSON.stringify({ typ, alg: this.alg, kid: this.kid })).toString('base64url');
      this.#otherHeaders.set(typ, header);
    }
    return header;
  }

  toJSON(): string {
    return `[JwtSigner ${this.kid}]`;
  }
}

export function publicKeyFromJwk(jwk: JWK): KeyObject {
  return createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
}
