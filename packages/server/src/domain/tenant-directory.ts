/**
 * The known-tenant directory: the id of every tenant, held in memory, so that a
 * request to a tenant that does not exist is answered 404 without a store query,
 * however many different made-up ids arrive (the registry's negative cache only
 * helps for ids seen before, and stays bounded).
 *
 * - Loaded in the background once the change feed knows its position (start-up
 *   never waits for it); until then, and while a reload is under way, it answers
 *   nothing and lookups take the registry's usual path.
 * - Kept current by the change feed (domain/change-feed.ts): a `tenant` change
 *   adds the id at once (a tenant that may exist is never refused), then one
 *   store read of that tenant removes it again if it is gone (a deletion).
 * - Race-free start: the feed position is taken before the snapshot is read, and
 *   every tenant change the feed delivers while the snapshot is under way is
 *   checked again once the snapshot is in, whether the snapshot saw it or not.
 * - A replica that fell behind the trimmed feed reloads it (as it drops its caches).
 *
 * Compact: the ids sorted and packed into one string with an offset table, a few
 * bytes beyond the ids themselves (100,000 tenants: about 2.5 MB; docs/performance.md).
 */
import type { ChangeRef, Store } from '../store/types.js';

/**
 * An exact set of tenant ids: a sorted, packed snapshot plus small sets of what was
 * added and removed since, merged into a new snapshot when they grow.
 */
export class TenantIdSet {
  /** The ids in code-unit order, concatenated; id i is packed[offsets[i] .. offsets[i + 1]). */
  #packed = '';
  #offsets = new Uint32Array(1);
  /** Ids in the set that are not in the snapshot. */
  readonly #added = new Set<string>();
  /** Ids of the snapshot that are no longer in the set. */
  readonly #removed = new Set<string>();

  static from(ids: readonly string[]): TenantIdSet {
    const set = new TenantIdSet();
    // The store hands them sorted: no sort then (100,000 random ids take 200-400 ms to sort, on the event loop).
    set.#pack(isStrictlyAscending(ids) ? ids : [...new Set(ids)].sort(byCodeUnits));
    return set;
  }

  get size(): number {
    return this.#offsets.length - 1 + this.#added.size - this.#removed.size;
  }

  /** Estimated bytes held: the packed ids (one byte per character), the offsets and the change sets. */
  get bytes(): number {
    return this.#packed.length + this.#offsets.byteLength + (this.#added.size + this.#removed.size) * 96;
  }

  has(id: string): boolean {
    if (this.#added.has(id)) return true;
    return this.#inSnapshot(id) && !this.#removed.has(id);
  }

  add(id: string): void {
    if (this.#removed.delete(id) || this.#added.has(id) || this.#inSnapshot(id)) return;
    this.#added.add(id);
    this.#compactIfNeeded();
  }

  delete(id: string): void {
    if (this.#added.delete(id) || !this.#inSnapshot(id) || this.#removed.has(id)) return;
    this.#removed.add(id);
    this.#compactIfNeeded();
  }

  /** Every id, in code-unit order. */
  *[Symbol.iterator](): IterableIterator<string> {
    const added = [...this.#added].sort(byCodeUnits);
    let next = 0;
    for (let i = 0; i < this.#offsets.length - 1; i++) {
      const id = this.#packed.slice(this.#offsets[i], this.#offsets[i + 1]);
      while (next < added.length && byCodeUnits(added[next] as string, id) < 0) yield added[next++] as string;
      if (!this.#removed.has(id)) yield id;
    }
    while (next < added.length) yield added[next++] as string;
  }

  /** Sorted, distinct ids -> the packed snapshot. */
  #pack(sorted: readonly string[]): void {
    const offsets = new Uint32Array(sorted.length + 1);
    let at = 0;
    for (let i = 0; i < sorted.length; i++) {
      at += (sorted[i] as string).length;
      offsets[i + 1] = at;
    }
    this.#packed = sorted.join('');
    this.#offsets = offsets;
    this.#added.clear();
    this.#removed.clear();
  }

  /** The change sets cost far more per id than the snapshot: fold them in once they are a fair share of it. */
  #compactIfNeeded(): void {
    if (this.#added.size + this.#removed.size > Math.max(1024, (this.#offsets.length - 1) >> 4)) this.#pack([...this]);
  }

  /** Binary search of the snapshot, comparing in place (no substring per step). */
  #inSnapshot(id: string): boolean {
    const packed = this.#packed;
    const offsets = this.#offsets;
    let low = 0;
    let high = offsets.length - 2;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const start = offsets[middle] as number;
      const length = (offsets[middle + 1] as number) - start;
      const shorter = Math.min(length, id.length);
      let order = 0;
      for (let c = 0; c < shorter && order === 0; c++) order = id.charCodeAt(c) - packed.charCodeAt(start + c);
      if (order === 0) order = id.length - length;
      if (order === 0) return true;
      if (order < 0) high = middle - 1;
      else low = middle + 1;
    }
    return false;
  }
}

function isStrictlyAscending(ids: readonly string[]): boolean {
  for (let i = 1; i < ids.length; i++) if ((ids[i - 1] as string) >= (ids[i] as string)) return false;
  return true;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const DEFAULT_PAGE_SIZE = 10_000;

export interface TenantDirectoryOptions {
  store: Pick<Store, 'listTenantIds' | 'getTenant'>;
  /** After a failed snapshot, read it again this much later (ms). */
  retryDelay: number;
  /** Ids read per query: the embedded store's reads block the event loop, so a large registry is read in short steps. */
  pageSize?: number;
  log: { info(message: string): void; warn(message: string, error?: unknown): void };
}

export class TenantDirectory {
  readonly #options: TenantDirectoryOptions;
  /** null: not loaded (lookups take the registry's usual path). */
  #ids: TenantIdSet | null = null;
  /** While a snapshot is read: the ids of tenant changes seen meanwhile, checked again once it is in. */
  #touched: Set<string> | null = null;
  /** Bumped by every reload and stop: an older snapshot arriving late is dropped. */
  #epoch = 0;
  /** The latest existence check per id: only its answer counts. */
  readonly #checks = new Map<string, number>();
  #checkCount = 0;
  #loadFailed = false;
  #retry: NodeJS.Timeout | null = null;
  #loading: Promise<void> | null = null;

  constructor(options: TenantDirectoryOptions) {
    this.#options = options;
  }

  /** Whether the directory answers (tests, readiness detail). */
  get loaded(): boolean {
    return this.#ids !== null;
  }

  /** Tenant ids held, and their estimated bytes (null: not loaded). */
  get size(): { tenants: number; bytes: number } | null {
    return this.#ids === null ? null : { tenants: this.#ids.size, bytes: this.#ids.bytes };
  }

  /** The snapshot under way, if any (resolves when it is in or was given up). */
  get loading(): Promise<void> | null {
    return this.#loading;
  }

  /** True only when the directory is loaded and has no tenant of this id: there is none. */
  excludes(tenantId: string): boolean {
    const ids = this.#ids;
    return ids !== null && !ids.has(tenantId);
  }

  /**
   * Reads a new snapshot in the background; lookups take the usual path until it is
   * in. Call it once the change feed's position is taken: every change after that
   * position must reach `apply`.
   */
  reload(): void {
    const epoch = this.#begin();
    this.#touched = new Set();
    this.#load(epoch);
  }

  /** Stops answering (the change feed stopped: changes would be missed from now on). */
  stop(): void {
    this.#begin();
  }

  /**
   * The change feed's changes (this replica's commits with `wait`, others' without).
   * Only `tenant` changes matter: a created tenant is known before this returns.
   */
  async apply(changes: readonly ChangeRef[], options: { wait: boolean }): Promise<void> {
    const checks: Promise<void>[] = [];
    const seen = new Set<string>();
    for (const change of changes) {
      if (change.kind !== 'tenant' || seen.has(change.tenantId)) continue;
      seen.add(change.tenantId);
      checks.push(this.#check(change.tenantId));
    }
    const done = Promise.all(checks).then(() => undefined);
    if (options.wait) await done;
  }

  #begin(): number {
    this.#epoch++;
    this.#ids = null;
    this.#touched = null;
    this.#checks.clear();
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
    return this.#epoch;
  }

  #load(epoch: number): void {
    const loading: Promise<void> = this.#snapshot(epoch).finally(() => {
      if (this.#loading === loading) this.#loading = null;
    });
    this.#loading = loading;
  }

  async #snapshot(epoch: number): Promise<void> {
    try {
      const ids = await this.#readAll(epoch);
      if (ids === null || epoch !== this.#epoch) return;
      const touched = this.#touched ?? new Set<string>();
      this.#ids = TenantIdSet.from(ids);
      this.#touched = null;
      if (this.#loadFailed) this.#options.log.info('the known-tenant directory is loaded');
      this.#loadFailed = false;
      // Created or deleted while the snapshot was read: it may or may not show them.
      for (const id of touched) void this.#check(id);
    } catch (error) {
      if (epoch !== this.#epoch) return;
      if (!this.#loadFailed) this.#options.log.warn('loading the known-tenant directory failed; unknown tenant ids cost a store query until it loads', error);
      this.#loadFailed = true;
      this.#retry = setTimeout(() => {
        this.#retry = null;
        if (epoch === this.#epoch) this.#load(epoch);
      }, this.#options.retryDelay);
      this.#retry.unref();
    }
  }

  /**
   * Every id, page by page (null: a reload or stop overtook this read). The pages are
   * read at different moments; that is safe for the same reason a single read is:
   * whatever changed after the feed position is checked again from `#touched`.
   */
  async #readAll(epoch: number): Promise<string[] | null> {
    const pageSize = this.#options.pageSize ?? DEFAULT_PAGE_SIZE;
    const ids: string[] = [];
    for (;;) {
      const page = await this.#options.store.listTenantIds(ids.length > 0 ? (ids[ids.length - 1] as string) : null, pageSize);
      if (epoch !== this.#epoch) return null;
      for (const id of page) ids.push(id);
      if (page.length < pageSize) return ids;
      // Let requests in between pages.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Known at once; forgotten again only if the store says the tenant is gone. */
  async #check(tenantId: string): Promise<void> {
    const ids = this.#ids;
    if (ids === null) {
      this.#touched?.add(tenantId);
      return;
    }
    ids.add(tenantId);
    const check = ++this.#checkCount;
    this.#checks.set(tenantId, check);
    let exists = true;
    try {
      exists = (await this.#options.store.getTenant(tenantId)) !== null;
    } catch (error) {
      // Kept: a tenant the directory holds by mistake only costs the usual lookup.
      this.#options.log.warn(`checking whether tenant ${tenantId} still exists failed; it stays in the known-tenant directory`, error);
    }
    if (this.#checks.get(tenantId) !== check) return;
    this.#checks.delete(tenantId);
    if (!exists && this.#ids === ids) ids.delete(tenantId);
  }
}
