/**
 * Console sign-in: a console user's password buys a short-lived management access
 * token, issued by the admin tenant to the console client with the user as `sub`, so
 * the console calls the same management API as everyone else and the audit log names
 * the person.
 */
import { defaults } from '../config/defaults.js';
import { verifyPassword } from '../crypto/passwords.js';
import type { ConsoleUser, Store } from '../store/types.js';
import { CONSOLE_SUBJECT_PREFIX } from './console-users.js';
import type { TenantRegistry } from './tenant-context.js';
import type { IssuedToken, TokenInspector, TokenIssuer } from './tokens.js';

export const CONSOLE_CLIENT_META = 'console_client_id';
/** Failed sign-ins per source address per minute. */
const MAX_FAILURES_PER_SOURCE = 10;
/** Failed sign-ins per user name per minute, whatever the source: bounds guessing spread over many addresses. */
const MAX_FAILURES_PER_USER = 20;
/** Password checks one source may have running or waiting at once. */
const MAX_CHECKS_PER_SOURCE = 2;
/**
 * Password checks running at once (each is a memory-hard hash on the shared thread
 * pool). More wait their turn instead of being refused, so a flood from many
 * addresses slows a real sign-in down but cannot lock it out; each address can have
 * only MAX_CHECKS_PER_SOURCE of them in the queue.
 */
const MAX_CONCURRENT_CHECKS = 4;
const WINDOW_MS = 60_000;

export class ConsoleSignIn {
  /** `source:<ip>` or `user:<name>` -> failures in the current window. */
  readonly #failures = new Map<string, { count: number; since: number }>();
  readonly #checksBySource = new Map<string, number>();
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly registry: TenantRegistry,
    private readonly issuer: TokenIssuer,
    private readonly inspector: TokenInspector,
    private readonly now: () => number,
  ) {}

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
   * Null for a wrong user or password; throws TooManyAttempts when a source or a user
   * name keeps failing, or when one source has too many checks under way.
   */
  async signIn(username: string, password: string, source: string): Promise<IssuedToken | null> {
    const sourceKey = `source:${source}`;
    const userKey = `user:${username.slice(0, 256)}`;
    this.#guard(sourceKey, MAX_FAILURES_PER_SOURCE);
    this.#guard(userKey, MAX_FAILURES_PER_USER);
    const checks = this.#checksBySource.get(source) ?? 0;
    if (checks >= MAX_CHECKS_PER_SOURCE) throw new TooManyAttempts(1);
    // Counted as failures before hashing, so parallel guesses cannot all pass the guard.
    this.#fail(sourceKey);
    this.#fail(userKey);
    this.#checksBySource.set(source, checks + 1);
    let user: Awaited<ReturnType<Store['getConsoleUser']>>;
    let valid: boolean;
    try {
      await this.#acquire();
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
    if (user === null || !valid) return null;
    this.#succeed(sourceKey);
    this.#succeed(userKey);
    return this.issueSession(user);
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

  async #acquire(): Promise<void> {
    if (this.#running < MAX_CONCURRENT_CHECKS) {
      this.#running += 1;
      return;
    }
    // The slot is handed over by #release, so #running stays at the cap meanwhile.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#running -= 1;
  }

  #succeed(key: string): void {
    const entry = this.#failures.get(key);
    if (entry !== undefined) entry.count = Math.max(0, entry.count - 1);
  }

  #guard(key: string, limit: number): void {
    const entry = this.#failures.get(key);
    if (entry !== undefined && this.now() - entry.since < WINDOW_MS && entry.count >= limit) {
      throw new TooManyAttempts(Math.ceil((entry.since + WINDOW_MS - this.now()) / 1000));
    }
  }

  #fail(key: string): void {
    // Forget finished windows now and then, so many sources cannot grow the map for ever.
    if (this.#failures.size > 10_000) {
      for (const [k, value] of this.#failures) if (this.now() - value.since >= WINDOW_MS) this.#failures.delete(k);
    }
    const entry = this.#failures.get(key);
    if (entry === undefined || this.now() - entry.since >= WINDOW_MS) this.#failures.set(key, { count: 1, since: this.now() });
    else entry.count += 1;
  }
}

export class TooManyAttempts extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('too many failed sign-in attempts');
  }
}

// A valid scrypt hash of a random value nobody knows.
const DUMMY_HASH = 'scrypt$32768$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
