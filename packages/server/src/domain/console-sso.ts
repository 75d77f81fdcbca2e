/**
 * Console single sign-on with the organisation's OpenID Provider (docs/console.md):
 * the authorization code flow with PKCE (RFC 7636) and a nonce, through openid-client.
 * The provider's ID token names the person (`sub`) and, in one claim, the role
 * (`admin` or `viewer`); anyone else is refused. With a tenants claim configured,
 * another claim lists the tenants the person may act on. Each sign-in records the
 * person as a console user `oidc:<sub>` with that role and those tenants (every tenant
 * without a tenants claim), so the management API enforces them exactly as for local
 * users, at every call, and an admin can delete the user to end its sessions at once;
 * a sign-in the provider's claims no longer allow deletes it too. Local users stay, for
 * small sites and break-glass.
 */
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import type { FetchLike } from '@tessera/verifier/core';
import type { ServerConfig } from '../config/config.js';
import { defaults } from '../config/defaults.js';
import { hashPassword } from '../crypto/passwords.js';
import type { ConsoleRole, Store } from '../store/types.js';
import { CONSOLE_SUBJECT_PREFIX, normalizeTenants } from './console-users.js';
import { ValidationError } from './errors.js';
import type { IssuedToken } from './tokens.js';

/** What the browser keeps between the redirect to the provider and its way back (an httpOnly cookie). */
export interface PendingSignIn {
  state: string;
  nonce: string;
  verifier: string;
}

export class SsoRefused extends Error {}

export const SSO_USER_PREFIX = 'oidc:';

export class ConsoleSso {
  #configuration: Promise<oidc.Configuration> | null = null;

  constructor(
    private readonly deps: {
      settings: NonNullable<ServerConfig['consoleOidc']>;
      store: Store;
      fetch: FetchLike;
      issueSession: (user: { username: string; role: ConsoleRole }) => Promise<IssuedToken | null>;
      now: () => number;
    },
  ) {}

  /** Discovery once (again after a failure), through the server's bounded outbound fetch. */
  #config(): Promise<oidc.Configuration> {
    const { issuer, clientId, clientSecret } = this.deps.settings;
    const fetch = this.deps.fetch;
    const customFetch: oidc.CustomFetch = (url, options) =>
      fetch(url, { method: options.method, headers: options.headers, redirect: options.redirect, ...(options.signal ? { signal: options.signal } : {}), ...(options.body !== undefined ? { body: String(options.body) } : {}) });
    this.#configuration ??= oidc
      .discovery(new URL(issuer), clientId, clientSecret, undefined, {
        [oidc.customFetch]: customFetch,
        // http only where the outbound policy allows it (--outbound-allow, e.g. a test provider on loopback).
        ...(issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch((error: unknown) => {
        this.#configuration = null;
        throw error;
      });
    return this.#configuration;
  }

  /** The provider's authorization URL for this browser, and what it must bring back. */
  async start(redirectUri: string): Promise<{ url: string; pending: PendingSignIn }> {
    const config = await this.#config();
    const pending = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier() };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile email',
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url: url.href, pending };
  }

  /** The provider's answer (the callback URL): a console session, or SsoRefused saying why. */
  async finish(callbackUrl: URL, pending: PendingSignIn): Promise<{ session: IssuedToken; username: string; role: ConsoleRole }> {
    const config = await this.#config();
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (error) {
      throw new SsoRefused(`the provider's answer was not accepted: ${(error as Error).message}`);
    }
    if (claims === undefined) throw new SsoRefused('the provider sent no ID token');
    const username = `${SSO_USER_PREFIX}${claims.sub}`;
    let role: ConsoleRole | null;
    let tenants: string[] | null;
    try {
      role = roleOf(claims[this.deps.settings.roleClaim]);
      if (role === null) throw new SsoRefused(`the ID token has no "${this.deps.settings.roleClaim}" claim saying admin or viewer: ask your administrator for console access`);
      tenants = this.#tenantsOf(claims);
    } catch (error) {
      // The provider no longer gives this person console access: sessions from an
      // earlier sign-in end now, not when they expire.
      if (error instanceof SsoRefused) await this.#forget(username);
      throw error;
    }
    await this.#record(username, role, tenants);
    const session = await this.deps.issueSession({ username, role });
    if (session === null) throw new SsoRefused('the console cannot issue sessions now');
    return { session, username, role };
  }

  /**
   * The tenants the ID token gives the person: every tenant without a tenants claim
   * configured; else the claim's ids (a JSON array, or one string of space-separated
   * ids as OAuth writes scopes), `*` meaning every tenant. An absent or empty claim, or
   * an id a console user's tenant list cannot hold, refuses the sign-in: a site that
   * scopes people by tenant never lets one in for everything by omission.
   */
  #tenantsOf(claims: oidc.IDToken): string[] | null {
    const claim = this.deps.settings.tenantsClaim;
    if (claim === null) return null;
    const value = claims[claim];
    const ids = typeof value === 'string' ? value.split(' ').filter((id) => id !== '') : Array.isArray(value) && value.every((id) => typeof id === 'string') ? (value as string[]) : null;
    if (ids === null || ids.length === 0) throw new SsoRefused(`the ID token has no "${claim}" claim listing your tenants: ask your administrator for console access`);
    if (ids.includes('*')) return null;
    try {
      return normalizeTenants(ids);
    } catch (error) {
      if (error instanceof ValidationError) throw new SsoRefused(`the ID token's "${claim}" claim is not a list of tenants: ${error.message}`);
      throw error;
    }
  }

  /** Deletes the person's console user, if there is one (which ends its sessions). */
  async #forget(username: string): Promise<void> {
    const audit = { tenantId: defaults.management.adminTenant, actor: `${CONSOLE_SUBJECT_PREFIX}${username}`, action: 'console_user.delete', targetType: 'console_user', targetId: username, details: { via: 'oidc', reason: 'the provider no longer gives console access' } };
    await this.deps.store.withLock('tessera:console-users', async (tx) => {
      if ((await tx.getConsoleUser(username)) !== null) await tx.deleteConsoleUser(username, audit);
    });
  }

  /** The person as a console user with the role and tenants the provider gives now; no usable password. */
  async #record(username: string, role: ConsoleRole, tenants: string[] | null): Promise<void> {
    const store = this.deps.store;
    await store.withLock('tessera:console-users', async (tx) => {
      const audit = (action: string, details: Record<string, unknown>) => ({ tenantId: defaults.management.adminTenant, actor: `${CONSOLE_SUBJECT_PREFIX}${username}`, action, targetType: 'console_user', targetId: username, details });
      const current = await tx.getConsoleUser(username);
      if (current === null) {
        const now = this.deps.now();
        const passwordHash = await hashPassword(randomBytes(32).toString('base64url'));
        await tx.createConsoleUser({ username, passwordHash, role, tenants, createdAt: now, updatedAt: null, passwordChangedAt: 0 }, audit('console_user.create', { role, tenants, via: 'oidc' }));
      } else if (current.role !== role || !sameTenants(current.tenants, tenants)) {
        await tx.updateConsoleUser(username, { role, tenants }, audit('console_user.update', { role, tenants, via: 'oidc' }));
      }
    });
  }
}

function sameTenants(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

function roleOf(value: unknown): ConsoleRole | null {
  const values = Array.isArray(value) ? value : [value];
  if (values.includes('admin')) return 'admin';
  if (values.includes('viewer')) return 'viewer';
  return null;
}
