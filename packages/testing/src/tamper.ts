/**
 * Negative cases a resource server must refuse, made from a real token: each helper
 * changes exactly one thing, so a test that expects a refusal fails for that reason
 * and no other.
 */
import type { KeyObject, webcrypto } from 'node:crypto';
import { CompactSign, generateKeyPair } from 'jose';

export interface Tamper {
  /** Same header and claims, signed by a key the issuer never published (same `kid`): a bad signature. */
  wrongKey(token: string): Promise<string>;
  /** Same header and claims, signed by an unpublished key under a `kid` the JWKS does not list. */
  unknownKid(token: string): Promise<string>;
  /** `alg: none` and no signature (RFC 7518 §3.6): never to be accepted. */
  algNone(token: string): string;
  /** Re-signed by the issuer's real key with another `typ` (default `JWT`, where RFC 9068 §4 requires `at+jwt`). */
  withTyp(token: string, typ?: string): Promise<string>;
  /** Claims changed after signing: the signature no longer covers the payload. */
  withClaims(token: string, claims: Record<string, unknown>): string;
}

export interface SigningKeyAccess {
  /** The issuer's active private key and its `kid`/`alg`, unsealed on demand. */
  activeKey(): Promise<{ kid: string; alg: string; key: KeyObject }>;
}

interface Decoded {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  encodedHeader: string;
  encodedPayload: string;
}

function decode(token: string): Decoded {
  const parts = token.split('.');
  if (parts.length !== 3) throw new TypeError('tamper helpers take a compact JWS (three dot-separated parts)');
  const [encodedHeader, encodedPayload] = parts as [string, string, string];
  const json = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: json(encodedHeader), payload: json(encodedPayload), encodedHeader, encodedPayload };
}

const encodeJson = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function sign(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject | webcrypto.CryptoKey): Promise<string> {
  return new CompactSign(Buffer.from(JSON.stringify(payload))).setProtectedHeader(header as { alg: string }).sign(key);
}

async function strangerKey(alg: string): Promise<webcrypto.CryptoKey | KeyObject> {
  const { privateKey } = await generateKeyPair(alg, alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : {});
  return privateKey;
}

export function createTamper(keys: SigningKeyAccess): Tamper {
  return {
    async wrongKey(token) {
      const { header, payload } = decode(token);
      return sign(header, payload, await strangerKey(String(header.alg)));
    },
    async unknownKid(token) {
      const { header, payload } = decode(token);
      return sign({ ...header, kid: `unknown-${Date.now().toString(36)}` }, payload, await strangerKey(String(header.alg)));
    },
    algNone(token) {
      const { header, encodedPayload } = decode(token);
      return `${encodeJson({ ...header, alg: 'none' })}.${encodedPayload}.`;
    },
    async withTyp(token, typ = 'JWT') {
      const { header, payload } = decode(token);
      const active = await keys.activeKey();
      if (header.kid !== active.kid) throw new TypeError('withTyp() re-signs with the active key: pass a token the active key signed');
      return sign({ ...header, typ }, payload, active.key);
    },
    withClaims(token, claims) {
      const { encodedHeader, payload } = decode(token);
      const signature = token.slice(token.lastIndexOf('.') + 1);
      return `${encodedHeader}.${encodeJson({ ...payload, ...claims })}.${signature}`;
    },
  };
}
