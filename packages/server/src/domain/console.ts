/**
 * Console sign-in: a console user's password buys a short-lived management access
 * token, issued by the admin tenant to the console client with the user as `sub`, so
 * the console calls the same management API as everyone else and the audit log names
 * the person.
 */
import { defaults } from '../config/defaults.js';
import { verifyPassword } from '../crypto/passwords.js';
import { SharedCounters } from '../oauth/rate-limit.js';
import type { StateStore } from '../store/state/types.js';
import type { ConsoleUser, Store } from '../store/types.js';
import { CONSOLE_SUBJECT_PREFIX } from './console-users.js';
import type { TenantRegistry } from './tenant-context.js';
import type { IssuedToken, TokenInspector, TokenIssuer } from './tokens.js';

export const CONSOLE_CLIENT_META = 'console_client_id';

/**
 * The limits on console sign-in (docs/security.md lists them). Failures are counted
 * per minute in counters every worker and replica shares through the store, as token
 * back-off's are (SharedCounters).
 */
export const CONSOLE_SIGN_IN_LIMITS = {
  windowSeconds: 60,
  /** Failed sign-ins per source address per window, whatever the user name. */
  failuresPerSource: 10,
  /** Failed sign-ins per (user name, source address) per window. */
  failuresPerUserAndSource: 5,
  /**
   * Failed sign-ins per user name per window, whatever the source. Past it, only
   * addresses that have not failed in the window still get a password check (one
   * guess each): a stranger cannot lock the user out, and guessing spread over many
   * addresses stays bounded.
   */
  failuresPerUser: 20,
  /** Password checks one source may have running or waiting at once. */
  checksPerSource: 2,
  /** Password checks running at once (each is a memory-hard hash on the shared thread pool). */
  concurrentChecks: 4,
  /**
   * Checks waiting for a slot. An address that signed in within the last hour waits
   * first, then addresses that have not failed, then those that have. When the queue
   * is full, a newcomer takes the place of the last waiter of a lower rank, or gets 429.
   */
  queuedChecks: 16,
  /** How long (seconds, a fixed window) a successful sign-in puts its address first in the queue. */
  trustSeconds: 3600,
} as const;

/** Why a sign-in did not succeed, as the event log says it (never the password). */
export type SignInFailure = 'wrong_password' | 'unknown_user' | 'console_client_unavailable' | 'rate_limited' | 'busy' | 'abandoned';

export type SignInResult = { ok: true; token: IssuedToken } | { ok: false; reason: 'wrong_password' | 'unknown_user' | 'console_client_unavailable' };

/** Ranks in the queue of checks, first served first. */
const LANES = ['trusted', 'clean', 'failed'] as const;
type Lane = (typeof LANES)[number];

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

export class ConsoleSignIn {
  /** Failed sign-ins of the current window, shared by every process. */
  readonly #failures: SharedCounters;
  /** Successful sign-ins per source in the current trust window, shared like the failures. */
  readonly #successes: SharedCounters;
  readonly #checksBySource = new Map<string, number>();
  #running = 0;
  /** Waiting checks by rank: served trusted first, failed last. */
  readonly #waiting: Record<Lane, Waiter[]> = { trusted: [], clean: [], failed: [] };

  constructor(
    private readonly store: Store,
    private readonly registry: TenantRegistry,
    private readonly issuer: TokenIssuer,
    private readonly inspector: TokenInspector,
    now: () => number,
    /** Where the counters are shared: the state store (StateStore.addRateLimitHits). */
    private readonly counters: Pick<StateStore, 'addRateLimitHits'>,
  ) {
    this.#failures = new SharedCounters(CONSOLE_SIGN_IN_LIMITS.windowSeconds, now);
    this.#successes = new SharedCounters(CONSOLE_SIGN_IN_LIMITS.trustSeconds, now);
  }

  /** Adds this process's failures to the shared counters and learns every process's (once a second). */
  async sync(): Promise<void> {
    await Promise.all([this.#failures.sync(this.counters), this.#successes.sync(this.counters)]);
  }

  /**
   * Ends a console session: the token is revoked at once, not left to expire. Only a
   * token of the console's own client is revoked here (any other gets false), so this
   * route cannot be used to revoke someone else's credentials.
   */
  async signOut(token: string): Promise<boolean> {
    const tenant = await this.registry.get(defaults.management.adminTenant);
    const consoleClientId = await this.store.getMeta(CONSOLE_CLIENT_META);
    const found = tenant === null ? null : await this.inspector.inspect(tenant, token);
    if (tenant === null || found === null || found.claims.client_id !== consoleClientId) return false;
    await this.inspector.revoke(tenant, found);
    return true;
  }

  /**
   * Checks a console user's password. Throws TooManyAttempts (reason `rate_limited` or
   * `busy`) before any check when a limit is reached, and SignInAbandoned when `signal`
   * aborts (the connection closed) while the check waits for a slot.
   */
  async signIn(username: string, password: string, source: string, signal?: AbortSignal): Promise<SignInResult> {
    const limits = CONSOLE_SIGN_IN_LIMITS;
    const name = username.slice(0, 256);
    const keys = { source: `console:source:${source}`, pair: `console:user-source:${name}\n${source}`, user: `console:user:${name}` };
    const checks = this.#checksBySource.get(source) ?? 0;
    // Checks under way count as failures until they are known not to be, so parallel
    // guesses from one source cannot all pass the limits.
    const sourceFailures = this.#failures.count(keys.source);
    const pairFailures = this.#failures.count(keys.pair);
    const failed = sourceFailures > 0 || pairFailures > 0;
    if (
      sourceFailures + checks >= limits.failuresPerSource ||
      pairFailures + checks >= limits.failuresPerUserAndSource ||
      (failed && this.#failures.count(keys.user) >= limits.failuresPerUser)
    ) {
      throw new TooManyAttempts(this.#retryAfter(), 'rate_limited');
    }
    if (checks >= limits.checksPerSource) throw new TooManyAttempts(1, 'busy');
    this.#checksBySource.set(source, checks + 1);
    let user: Awaited<ReturnType<Store['getConsoleUser']>>;
    let valid: boolean;
    try {
      try {
        await this.#acquire(this.#lane(source, failed || checks > 0), signal);
      } catch (error) {
        // Refused for want of room: this address ranks with those that failed for the window.
        if (error instanceof TooManyAttempts) this.#failures.add(`console:busy:${source}`);
        throw error;
      }
      try {
        user = await this.store.getConsoleUser(username);
        // Hash even for an unknown user, so timing does not tell which users exist.
        valid = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
      } finally {
        this.#release();
      }
    } finally {
      const left = (this.#checksBySource.get(source) ?? 1) - 1;
      if (left <= 0) this.#checksBySource.delete(source);
      else this.#checksBySource.set(source, left);
    }
    if (user === null || !valid) {
      for (const key of Object.values(keys)) this.#failures.add(key);
      return { ok: false, reason: user === null ? 'unknown_user' : 'wrong_password' };
    }
    const token = await this.issueSession(user);
    if (token === null) return { ok: false, reason: 'console_client_unavailable' };
    this.#successes.add(`console:signed-in:${source}`);
    return { ok: true, token };
  }

  /**
   * A console session for a user already authenticated (by password, or by the
   * organisation's OpenID Provider: domain/console-sso.ts); null when the console's
   * client cannot issue (disabled, or no bootstrap yet).
   */
  async issueSession(user: Pick<ConsoleUser, 'username' | 'role'>): Promise<IssuedToken | null> {
    const clientId = await this.store.getMeta(CONSOLE_CLIENT_META);
    const tenant = await this.registry.get(defaults.management.adminTenant);
    const client = clientId === null || tenant == null ? undefined : (await tenant.client(clientId))?.client;
    const api = tenant?.apisByIdentifier.get(defaults.management.audience);
    if (tenant == null || client === undefined || api === undefined || client.disabled) return null;
    // A viewer's session reads only; the management API also checks the role as it is at each call.
    const scopes = user.role === 'admin' ? ['manage:read', 'manage:write'] : ['manage:read'];
    return this.issuer.issue({ tenant, client, api, scopes, subject: `${CONSOLE_SUBJECT_PREFIX}${user.username}` });
  }

  /** Where a check waits: an address that signed in lately first; one that failed, was refused or has a check under way last. */
  #lane(source: string, failed: boolean): Lane {
    if (failed || this.#failures.count(`console:busy:${source}`) > 0) return 'failed';
    return this.#successes.count(`console:signed-in:${source}`) > 0 ? 'trusted' : 'clean';
  }

  #retryAfter(): number {
    return Math.max(1, Math.ceil(this.#failures.secondsLeft()));
  }

  async #acquire(lane: Lane, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) throw new SignInAbandoned();
    if (this.#running < CONSOLE_SIGN_IN_LIMITS.concurrentChecks) {
      this.#running += 1;
      return;
    }
    const queue = this.#waiting;
    if (queue.trusted.length + queue.clean.length + queue.failed.length >= CONSOLE_SIGN_IN_LIMITS.queuedChecks) {
      // The last waiter of the lowest rank below the newcomer's gives up its place.
      const lower = LANES.slice(LANES.indexOf(lane) + 1).reverse().find((l) => queue[l].length > 0);
      const displaced = lower === undefined ? undefined : queue[lower].pop();
      if (displaced === undefined) throw new TooManyAttempts(1, 'busy');
      displaced.reject(new TooManyAttempts(1, 'busy'));
    }
    // The slot is handed over by #release, so #running stays at the cap meanwhile.
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = queue[lane].indexOf(waiter);
        if (index !== -1) queue[lane].splice(index, 1);
        reject(new SignInAbandoned());
      };
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue[lane].push(waiter);
    });
  }

  #release(): void {
    const next = this.#waiting.trusted.shift() ?? this.#waiting.clean.shift() ?? this.#waiting.failed.shift();
    if (next !== undefined) next.resolve();
    else this.#running -= 1;
  }
}

export class TooManyAttempts extends Error {
  constructor(
    readonly retryAfterSeconds: number,
    readonly reason: 'rate_limited' | 'busy',
  ) {
    super(reason === 'busy' ? 'too many sign-ins under way; try again in a second' : 'too many failed sign-in attempts');
  }
}

/** The client went away while its check waited: nobody is left to answer. */
export class SignInAbandoned extends Error {
  constructor() {
    super('sign-in abandoned: the connection closed');
  }
}

// A valid scrypt hash of a random value nobody knows.
const DUMMY_HASH = 'scrypt$32768$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
