/**
 * Client secrets and identifiers. Secrets are 256 random bits generated here, shown
 * once, and stored only as salted SHA-256. A slow password hash would add nothing:
 * nobody can guess 256 random bits, and it would make every token request cost
 * milliseconds of CPU (the best-known performance failure of this kind of server).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET_BYTES = 32;
const HASH_SCHEME = 'sha256';

export function generateSecret(): string {
  // A leading '-' would read as a flag on command lines; draw again (1 in 64).
  for (;;) {
    const secret = randomBytes(SECRET_BYTES).toString('base64url');
    if (!secret.startsWith('-')) return secret;
  }
}

/** A random identifier: `prefix` + 128 bits in base64url (22 characters). */
export function generateId(prefix = ''): string {
  return prefix + randomBytes(16).toString('base64url');
}

export function hashSecret(secret: string): string {
  const salt = randomBytes(16);
  return `${HASH_SCHEME}$${salt.toString('base64url')}$${digest(salt, secret).toString('base64url')}`;
}

export function verifySecret(secret: string, stored: string): boolean {
  const parsed = parseStoredHash(stored);
  if (parsed === null) return false;
  const actual = digest(parsed.salt, secret);
  return actual.length === parsed.expected.length && timingSafeEqual(actual, parsed.expected);
}

/**
 * Stored hashes decoded once: every token request with a secret checks one. Keyed by
 * the stored string (salt and digest, nothing secret); bounded.
 */
const parsedHashes = new Map<string, { salt: Buffer; expected: Buffer } | null>();
const MAX_PARSED_HASHES = 10_000;

function parseStoredHash(stored: string): { salt: Buffer; expected: Buffer } | null {
  let parsed = parsedHashes.get(stored);
  if (parsed === undefined) {
    const [scheme, salt, expected] = stored.split('$');
    parsed = scheme !== HASH_SCHEME || salt === undefined || expected === undefined ? null : { salt: Buffer.from(salt, 'base64url'), expected: Buffer.from(expected, 'base64url') };
    if (parsedHashes.size >= MAX_PARSED_HASHES) parsedHashes.clear();
    parsedHashes.set(stored, parsed);
  }
  return parsed;
}

/** SHA-256 of a bearer value (opaque tokens), for lookups without storing the value. */
export function sha256Base64Url(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('base64url');
}

function digest(salt: Buffer, secret: string): Buffer {
  return createHash('sha256').update(salt).update(secret, 'utf8').digest();
}
