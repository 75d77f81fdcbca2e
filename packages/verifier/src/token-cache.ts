/**
 * Verified tokens, by their exact string, bounded by entry count (least recently used
 * goes first). Only tokens that passed every per-token check are stored; the per-call
 * checks (clock, scopes, certificate binding) still run on every hit.
 *
 * The recency order is a doubly linked list beside the Map rather than Map re-insertion:
 * deleting and re-adding Map keys on every hit leaves holes that V8 compacts slowly, and
 * a full cache then answered hits 50x slower (measured).
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

interface Node {
  token: string;
  value: CachedToken;
  newer: Node | undefined;
  older: Node | undefined;
}

export class TokenCache {
  private readonly nodes = new Map<string, Node>();
  private newest: Node | undefined;
  private oldest: Node | undefined;

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.nodes.size;
  }

  get(token: string, nowMs: number): CachedToken | undefined {
    const node = this.nodes.get(token);
    if (node === undefined) return undefined;
    if (nowMs >= node.value.usableUntil) {
      this.remove(node);
      return undefined;
    }
    if (node !== this.newest) {
      this.unlink(node);
      this.pushNewest(node);
    }
    return node.value;
  }

  set(token: string, value: CachedToken): void {
    if (this.maxEntries <= 0) return;
    const existing = this.nodes.get(token);
    if (existing !== undefined) this.remove(existing);
    while (this.nodes.size >= this.maxEntries && this.oldest !== undefined) this.remove(this.oldest);
    const node: Node = { token, value, newer: undefined, older: undefined };
    this.nodes.set(token, node);
    this.pushNewest(node);
  }

  private remove(node: Node): void {
    this.unlink(node);
    this.nodes.delete(node.token);
  }

  private unlink(node: Node): void {
    if (node.newer) node.newer.older = node.older;
    else this.newest = node.older;
    if (node.older) node.older.newer = node.newer;
    else this.oldest = node.newer;
    node.newer = undefined;
    node.older = undefined;
  }

  private pushNewest(node: Node): void {
    node.older = this.newest;
    if (this.newest) this.newest.newer = node;
    this.newest = node;
    if (this.oldest === undefined) this.oldest = node;
  }
}
