/**
 * Server-provided DPoP nonces (RFC 9449 §8, §9): stateless, so every replica sharing
 * the master key issues and accepts the same ones without a shared store. A nonce is
 * the time window it was issued in and an HMAC over that window and its scope (the
 * tenant); it is accepted during its own window and the next one, so a nonce handed out
 * just before a window ends stays good for at least one window.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export class NonceIssuer {
  readonly #secret: Buffer;
  readonly #windowMs: number;

  constructor(
    secret: Buffer,
    /** Length of one window, seconds: a nonce lives between one and two of them. */
    windowSeconds: number,
    private readonly now: () => number,
  ) {
    this.#secret = secret;
    this.#windowMs = windowSeconds * 1000;
  }

  /** The current nonce for `scope`. */
  issue(scope: string): string {
    return this.#nonce(scope, Math.floor(this.now() / this.#windowMs));
  }

  /** Whether `nonce` is one this issuer handed out for `scope` during this window or the previous one. */
  accepts(scope: string, nonce: string): boolean {
    const window = Math.floor(this.now() / this.#windowMs);
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
