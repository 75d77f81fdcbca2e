/**
 * The one owner of cache invalidation. Every change is recorded in the store's change
 * feed in the same transaction as the change itself (store/kysely-store.ts); this
 * follower hands what changed to the registry:
 *
 * - this replica's commits at once, awaited (the change is visible here when the
 *   changing call returns);
 * - other replicas' commits by reading the feed: woken by PostgreSQL LISTEN/NOTIFY,
 *   and polled every `pollInterval` whatever happens (SQLite, or a lost LISTEN
 *   connection, which reconnects);
 * - a replica that fell behind what trimming kept drops its caches once and says so.
 *
 * The known-tenant directory (domain/tenant-directory.ts) follows the same changes,
 * and is (re)loaded each time the follower takes a new position: at start and after
 * falling behind the trimmed feed.
 */
import type { Change, ChangeListener, Store } from '../store/types.js';
import type { TenantRegistry } from './tenant-context.js';
import type { TenantDirectory } from './tenant-directory.js';

export interface ChangeFeedOptions {
  store: Store;
  registry: TenantRegistry;
  /** The known-tenant directory, if there is one: fed the same changes, reloaded from each new position. */
  directory?: TenantDirectory;
  /** Poll the feed this often (ms): SPEC §8 wants changes everywhere within 2 s. */
  pollInterval: number;
  /** PostgreSQL: LISTEN for commits (false: poll only). */
  listen: boolean;
  /** Changes read per query. */
  batchSize: number;
  /** Feed rows older than this (ms) are trimmed. */
  retention: number;
  log: { info(message: string): void; warn(message: string, error?: unknown): void };
}

/** How long a lost LISTEN connection waits before reconnecting (ms). */
const RECONNECT_DELAY = 1000;
/** How often the feed is trimmed (ms). */
const TRIM_INTERVAL = 60_000;

export class ChangeFeed {
  readonly #options: ChangeFeedOptions;
  /** Sequence number read up to; null until the follower has started. */
  #lastSeq: number | null = null;
  /** Sequence numbers of this replica's own commits: already applied, skipped when read back. */
  readonly #own = new Set<number>();
  #running = false;
  #polling: Promise<void> | null = null;
  #pollAgain = false;
  #storeDown = false;
  /** When the feed was last read to its end (wall clock): how far behind this replica may be. */
  #syncedAt = Date.now();
  #listener: ChangeListener | null = null;
  #connecting = false;
  #listenFailed = false;
  readonly #timers: NodeJS.Timeout[] = [];
  #reconnectTimer: NodeJS.Timeout | null = null;

  constructor(options: ChangeFeedOptions) {
    this.#options = options;
    options.store.onCommit(async (changes) => {
      if (this.#running) for (const change of changes) this.#own.add(change.seq);
      await Promise.all([options.registry.apply(changes, { wait: true }), options.directory?.apply(changes, { wait: true })]);
    });
  }

  /**
   * Starts following other replicas' changes (never loads the registry itself).
   * Resolves after the first read of the feed; entries cached before it are dropped
   * then, since changes made before the follower knew its position are not replayed.
   */
  start(): Promise<void> {
    if (this.#running) return this.#polling ?? Promise.resolve();
    this.#running = true;
    const { pollInterval } = this.#options;
    const poll = setInterval(() => void this.poll(), pollInterval);
    const trim = setInterval(() => void this.#trim(), TRIM_INTERVAL);
    poll.unref();
    trim.unref();
    this.#timers.push(poll, trim);
    if (this.#options.listen) void this.#connect();
    // Restarted: changes after #lastSeq are read next, so a snapshot from now on is safe.
    if (this.#lastSeq !== null) this.#options.directory?.reload();
    return this.poll();
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    const listener = this.#listener;
    this.#listener = null;
    await listener?.close();
    await this.#polling?.catch(() => {});
    // Changes are no longer followed: the directory stops answering.
    this.#options.directory?.stop();
    await this.#options.directory?.loading;
    this.#options.registry.markSynced(null);
  }

  /** Reads the feed to its end now (coalesced: one read at a time, and one more if asked meanwhile). */
  poll(): Promise<void> {
    if (this.#polling !== null) {
      this.#pollAgain = true;
      return this.#polling;
    }
    this.#polling = (async () => {
      try {
        do {
          this.#pollAgain = false;
          await this.#readToEnd();
        } while (this.#pollAgain && this.#running);
      } finally {
        this.#polling = null;
      }
    })();
    return this.#polling;
  }

  /**
   * Seconds since the feed was last read to its end, growing while a read fails or
   * hangs; null while the feed is not followed. What /readyz compares with
   * `cache.maxFeedLag`, with or without metrics.
   */
  lagSeconds(): number | null {
    return this.#running ? Math.max(0, Date.now() - this.#syncedAt) / 1000 : null;
  }

  /** Whether a LISTEN connection is up (tests, readiness detail). */
  get listening(): boolean {
    return this.#listener !== null;
  }

  async #readToEnd(): Promise<void> {
    const { store, registry, batchSize, log } = this.#options;
    // Wall-clock time throughout: feed rows carry it, and an outage lasts in real time.
    const startedAt = Date.now();
    try {
      if (this.#lastSeq === null) {
        // Start-up: caches are filled on use from now on; what happened before is in them already.
        this.#lastSeq = await store.latestChangeSeq();
        registry.clear();
        // After the position: a tenant created meanwhile is in the snapshot or in what is read next.
        this.#options.directory?.reload();
      }
      for (;;) {
        const { changes, trimmedThrough } = await store.readChanges(this.#lastSeq, batchSize);
        if (trimmedThrough > this.#lastSeq) {
          const latest = await store.latestChangeSeq();
          log.warn(`fell behind the change feed (read up to ${this.#lastSeq}, trimmed through ${trimmedThrough}): dropped every cached registry entry once`);
          registry.clear();
          this.#options.directory?.reload();
          this.#lastSeq = latest;
          this.#own.clear();
          continue;
        }
        this.#apply(changes);
        if (changes.length < batchSize) break;
      }
      registry.markSynced(startedAt);
      this.#syncedAt = startedAt;
      // Read to the end: nothing committed before this read is still unseen.
      this.#options.registry.events?.feedLag(0);
      if (this.#storeDown) log.info('the change feed is readable again');
      this.#storeDown = false;
    } catch (error) {
      if (!this.#storeDown) log.warn('reading the change feed failed; cached entries keep serving for a bounded time', error);
      this.#storeDown = true;
      // Unread: whatever was committed since the last full read may be missing here.
      this.#options.registry.events?.feedLag(Math.max(0, Date.now() - this.#syncedAt) / 1000);
    }
  }

  #apply(changes: Change[]): void {
    const last = changes[changes.length - 1];
    if (last === undefined) return;
    const foreign = changes.filter((c) => !this.#own.delete(c.seq));
    this.#lastSeq = last.seq;
    for (const seq of this.#own) if (seq <= last.seq) this.#own.delete(seq);
    if (foreign.length > 0) {
      void this.#options.registry.apply(foreign, { wait: false });
      void this.#options.directory?.apply(foreign, { wait: false });
    }
  }

  async #connect(): Promise<void> {
    if (!this.#running || this.#connecting || this.#listener !== null) return;
    this.#connecting = true;
    try {
      const listening = this.#options.store.listenForChanges(
        () => void this.poll(),
        (error) => this.#lost(error),
      );
      if (listening === null) return;
      const listener = await listening;
      if (!this.#running) {
        await listener.close();
        return;
      }
      if (this.#listenFailed) this.#options.log.info('listening for changes again');
      this.#listenFailed = false;
      this.#listener = listener;
      // Whatever was committed while there was no connection.
      void this.poll();
    } catch (error) {
      if (!this.#listenFailed) this.#options.log.warn('cannot LISTEN for changes; polling until it can', error);
      this.#listenFailed = true;
      this.#lost(error);
    } finally {
      this.#connecting = false;
    }
  }

  #lost(error: unknown): void {
    const wasUp = this.#listener !== null;
    this.#listener = null;
    if (!this.#running) return;
    if (wasUp) this.#options.log.warn('the LISTEN connection for changes was lost; polling until it is back', error);
    if (this.#reconnectTimer !== null) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      void this.#connect();
    }, RECONNECT_DELAY);
    this.#reconnectTimer.unref();
  }

  async #trim(): Promise<void> {
    try {
      await this.#options.store.trimChanges(Date.now() - this.#options.retention);
    } catch (error) {
      this.#options.log.warn('trimming the change feed failed', error);
    }
  }
}
