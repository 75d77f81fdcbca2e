/**
 * Key files given on the command line. `--jwks-file` takes a JWK Set, one JWK, or a PEM
 * key; private keys are reduced to their public part (so the file that `token
 * --private-key` signs with can register the client too), and a key without `kid` gets
 * its RFC 7638 thumbprint.
 */
import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CliError } from './management-api.js';

export type Jwk = Record<string, unknown>;

/** Members of the public key per kty, in the order RFC 7638 §3.2 hashes them. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};
const PUBLIC_MEMBERS = ['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y', 'n', 'e', 'x5c', 'x5t#S256'];

export function jwkThumbprint(jwk: Jwk): string {
  const members = THUMBPRINT_MEMBERS[String(jwk['kty'])];
  if (members === undefined) throw new CliError(`cannot compute the thumbprint of a ${String(jwk['kty'])} key`);
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(',')}}`;
  return createHash('sha256').update(canonical).digest('base64url');
}

function publicJwk(jwk: Jwk): Jwk {
  const result: Jwk = {};
  for (const member of PUBLIC_MEMBERS) if (jwk[member] !== undefined) result[member] = jwk[member];
  if (result['kid'] === undefined) result['kid'] = jwkThumbprint(result);
  return result;
}

function pemToPublicJwk(pem: string, file: string): Jwk {
  let key: KeyObject;
  try {
    key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
  } catch (error) {
    throw new CliError(`${file}: not a PEM key or certificate (${(error as Error).message})`);
  }
  return publicJwk(key.export({ format: 'jwk' }) as Jwk);
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** A public JWK Set from a JWKS, JWK or PEM file. */
export async function readPublicJwks(file: string): Promise<{ keys: Jwk[] }> {
  const text = (await readText(file)).trim();
  if (text.startsWith('-----BEGIN')) return { keys: [pemToPublicJwk(text, file)] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${file}: neither JSON (a JWK or JWK Set) nor PEM`);
  }
  const object = parsed as { keys?: unknown; kty?: unknown } | null;
  if (Array.isArray(object?.keys)) return { keys: (object.keys as Jwk[]).map(publicJwk) };
  if (typeof object?.kty === 'string') return { keys: [publicJwk(object as Jwk)] };
  throw new CliError(`${file}: a JSON key file must be a JWK or a JWK Set`);
}

/** A private key for private_key_jwt: a private JWK (object) or PEM text, as @tessera/client takes it. */
export async function readPrivateKey(file: string): Promise<string | JsonWebKey> {
  const text = (await readText(file)).trim();
  if (text.startsWith('-----BEGIN')) return text;
  try {
    const jwk = JSON.parse(text) as JsonWebKey;
    if (typeof jwk.kty === 'string' && typeof jwk.d === 'string') return jwk;
  } catch {
    // fall through
  }
  throw new CliError(`${file}: not a private key (PEM, or a JWK with "d")`);
}
