/**
 * Token-endpoint rate limit per client: a fixed window counter in memory. Returns
 * how many seconds to wait (0: go ahead). With `limit` 0 it never limits.
 */
export class RateLimiter {
  readonly #counts = new Map<string, number>();
  #windowStart = 0;

  constructor(
    private readonly limit: number,
    private readonly windowSeconds: number,
    private readonly now: () => number,
  ) {}

  consume(key: string): number {
    if (this.limit <= 0) return 0;
    const now = this.now();
    const windowMs = this.windowSeconds * 1000;
    if (now - this.#windowStart >= windowMs) {
      this.#windowStart = now - (now % windowMs);
      this.#counts.clear();
    }
    const count = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, count);
    return count > this.limit ? (this.#windowStart + windowMs - now) / 1000 : 0;
  }
}
