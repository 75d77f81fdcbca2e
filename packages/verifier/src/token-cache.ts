/**
 * Verified tokens, by their exact string, bounded by entry count (least recently used
 * goes first). Only tokens that passed every per-token check are stored; the per-call
 * checks (clock, scopes, certificate binding) still run on every hit.
 */
import type { CheckedClaims } from './claims.js';
import type { CachedKey } from './jwks-cache.js';

export interface CachedToken {
  checked: CheckedClaims;
  /** The key that verified the signature; the entry dies when the issuer stops publishing it. */
  key: CachedKey | undefined;
  /** Epoch ms after which the entry is not used (exp for JWTs, the shorter positive TTL for introspection). */
  usableUntil: number;
}

export class TokenCache {
  private readonly entries = new Map<string, CachedToken>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string, nowMs: number): CachedToken | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (nowMs >= entry.usableUntil) {
      this.entries.delete(token);
      return undefined;
    }
    // Map keeps insertion order: re-inserting makes this the most recently used entry.
    this.entries.delete(token);
    this.entries.set(token, entry);
    return entry;
  }

  set(token: string, entry: CachedToken): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(token);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(token, entry);
  }

  delete(token: string): void {
    this.entries.delete(token);
  }
}
