/**
 * Console sign-in: a console user's password buys a short-lived management access
 * token, issued by the admin tenant to the console client with the user as `sub`, so
 * the console calls the same management API as everyone else and the audit log names
 * the person.
 */
import { defaults } from '../config/defaults.js';
import { verifyPassword } from '../crypto/passwords.js';
import type { Store } from '../store/types.js';
import type { TenantRegistry } from './tenant-context.js';
import type { IssuedToken, TokenInspector, TokenIssuer } from './tokens.js';

export const CONSOLE_CLIENT_META = 'console_client_id';
const MAX_FAILURES_PER_MINUTE = 10;
const MAX_CONCURRENT_CHECKS = 4;

export class ConsoleSignIn {
  readonly #failures = new Map<string, { count: number; since: number }>();
  #checking = 0;

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
   * Null for a wrong user or password; throws TooManyAttempts when a source keeps
   * failing, or when more password checks are running than the server will do at once
   * (each is a memory-hard hash on the shared thread pool).
   */
  async signIn(username: string, password: string, source: string): Promise<IssuedToken | null> {
    this.#guard(source);
    if (this.#checking >= MAX_CONCURRENT_CHECKS) throw new TooManyAttempts(1);
    // Counted as a failure before hashing, so parallel guesses cannot all pass the guard.
    this.#fail(source);
    this.#checking += 1;
    let user: Awaited<ReturnType<Store['getConsoleUser']>>;
    let valid: boolean;
    try {
      user = await this.store.getConsoleUser(username);
      // Hash even for an unknown user, so timing does not tell which users exist.
      valid = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    } finally {
      this.#checking -= 1;
    }
    if (user === null || !valid) return null;
    this.#succeed(source);
    const clientId = await this.store.getMeta(CONSOLE_CLIENT_META);
    const tenant = await this.registry.get(defaults.management.adminTenant);
    const client = clientId === null ? undefined : tenant?.clients.get(clientId);
    const api = tenant?.apisByIdentifier.get(defaults.management.audience);
    if (tenant == null || client === undefined || api === undefined || client.disabled) return null;
    return this.issuer.issue({ tenant, client, api, scopes: ['manage:read', 'manage:write'], subject: `console:${user.username}` });
  }

  #succeed(source: string): void {
    const entry = this.#failures.get(source);
    if (entry !== undefined) entry.count = Math.max(0, entry.count - 1);
  }

  #guard(source: string): void {
    const entry = this.#failures.get(source);
    if (entry !== undefined && this.now() - entry.since < 60_000 && entry.count >= MAX_FAILURES_PER_MINUTE) {
      throw new TooManyAttempts(Math.ceil((entry.since + 60_000 - this.now()) / 1000));
    }
  }

  #fail(source: string): void {
    // Forget finished windows now and then, so many sources cannot grow the map for ever.
    if (this.#failures.size > 10_000) {
      for (const [key, value] of this.#failures) if (this.now() - value.since >= 60_000) this.#failures.delete(key);
    }
    const entry = this.#failures.get(source);
    if (entry === undefined || this.now() - entry.since >= 60_000) this.#failures.set(source, { count: 1, since: this.now() });
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
