/**
 * Version 4 UUIDs (RFC 9562 §5.4) from the CSPRNG, the same text as `crypto.randomUUID`,
 * for the two a token request needs (its request id and the token's `jti`). Node's
 * `randomUUID` joins the UUID from twenty string pieces, about 600 bytes of garbage per
 * UUID; this writes the 36 characters into a buffer and makes one string of them.
 * Entropy is drawn like Node's: 16 bytes per UUID from a pool refilled by
 * `randomFillSync` when used up, each byte used once.
 */
import { randomFillSync } from 'node:crypto';

const POOL_UUIDS = 256;
const pool = Buffer.allocUnsafeSlow(16 * POOL_UUIDS);
let used = POOL_UUIDS;
const text = Buffer.allocUnsafeSlow(36);
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

export function randomUuid(): string {
  if (used === POOL_UUIDS) {
    randomFillSync(pool);
    used = 0;
  }
  const offset = 16 * used++;
  let at = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d; // '-'
    let byte = pool[offset + i] as number;
    if (i === 6) byte = (byte & 0x0f) | 0x40; // version 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80; // variant 10 (RFC 9562 §4.1)
    text[at++] = HEX_DIGITS[byte >> 4] as number;
    text[at++] = HEX_DIGITS[byte & 0x0f] as number;
  }
  return text.toString('latin1', 0, 36);
}
