/**
 * Server-provided DPoP nonces (RFC 9449 §8, §9), stateless: a nonce is the time window
 * it was issued in and an HMAC over that window and its scope (a tenant, or nothing), so
 * every instance that shares the secret issues and accepts the same nonces without a
 * shared store. A nonce is accepted during its own window and the next one, so one handed
 * out just before a window ends stays good for at least a window.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export class NonceIssuer {
  readonly #secret: Buffer;
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(secret: Uint8Array, windowSeconds: number, now: () => number = Date.now) {
    if (secret.length < 32) throw new TypeError('a nonce secret must be at least 32 bytes');
    if (!(windowSeconds > 0)) throw new TypeError('the nonce window must be a positive number of seconds');
    this.#secret = Buffer.from(secret);
    this.#windowMs = windowSeconds * 1000;
    this.#now = now;
  }

  /** The current nonce for `scope`. */
  issue(scope = ''): string {
    return this.#nonce(scope, Math.floor(this.#now() / this.#windowMs));
  }

  /** Whether `nonce` is one issued for `scope` during this window or the previous one. */
  accepts(nonce: string, scope = ''): boolean {
    const window = Math.floor(this.#now() / this.#windowMs);
    const presented = Buffer.from(nonce);
    return [window, window - 1].some((w) => {
      const expected = Buffer.from(this.#nonce(scope, w));
      return expected.length === presented.length && timingSafeEqual(expected, presented);
    });
  }

  #nonce(scope: string, window: number): string {
    const mac = createHmac('sha256', this.#secret).update(`${scope}\n${window}`).digest('base64url').slice(0, 27);
    return `${window.toString(36)}.${mac}`;
  }
}
