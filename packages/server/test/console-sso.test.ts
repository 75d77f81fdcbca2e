/**
 * Console single sign-on end to end against node-oidc-provider, a certified OpenID
 * Provider run here as the organisation's IdP: the authorization code flow with PKCE
 * and a nonce (openid-client on Tessera's side), the role taken from an ID token claim,
 * and the management API enforcing it on the session that results.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, PUBLIC_URL, type TestServer } from './helpers/app.js';

interface GrantLike {
  addOIDCScope(scope: string): void;
  save(): Promise<string>;
}
interface ProviderLike {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ params: { client_id: string; scope: string } }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: Record<string, unknown>): Promise<void>;
  Grant: new (options: { accountId: string; clientId: string }) => GrantLike;
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderLike;

const CLIENT_ID = 'tessera-console';
const CLIENT_SECRET = 'a-long-client-secret-for-the-console-sso-test-0123456789';
/** The people the IdP knows, and the role claim it gives each. */
const ROLES: Record<string, string | string[] | undefined> = { alice: 'admin', victor: ['staff', 'viewer'], mallory: undefined, tina: 'admin', vera: 'viewer', nina: 'admin', wanda: 'admin', ivan: 'admin', tom: 'admin', rita: 'admin' };
/** The tenants claim it gives some of them (a space-separated string, as OAuth writes scopes, or an array). */
const TENANTS: Record<string, string | string[] | undefined> = { tina: 'alpha beta', vera: ['beta'], wanda: '*', ivan: ['admin'], tom: 'alpha' };

let idp: Server;
let issuer: string;
let provider: ProviderLike;
/** Who signs in at the IdP next (its login page, played by the test). */
let nextUser = 'alice';
let t: TestServer;
/** A second Tessera whose single sign-on also reads a tenants claim. */
let scoped: TestServer;

beforeAll(async () => {
  // oidc-provider ships no type declarations; load it untyped behind a narrow interface.
  const moduleName = 'oidc-provider';
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/^oidc-provider WARNING/.test(String(args[0]))) warn(...args);
  };
  const { default: Provider } = await (import(moduleName) as Promise<{ default: ProviderConstructor }>).finally(() => (console.warn = warn));
  idp = createServer();
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [`${PUBLIC_URL}/console/oidc/callback`], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' }],
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id, ...(ROLES[id] !== undefined ? { tessera_role: ROLES[id] } : {}), ...(TENANTS[id] !== undefined ? { tessera_tenants: TENANTS[id] } : {}) }) }),
    claims: { openid: ['sub'], profile: ['tessera_role', 'tessera_tenants'] },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['console-sso-test-cookie-key'] },
  });
  const handle = provider.callback();
  idp.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith('/interaction/')) return handle(req, res);
    // The IdP's login and consent page: the user `nextUser` signs in and consents.
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      const grant = new provider.Grant({ accountId: nextUser, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: nextUser }, consent: { grantId } }, { mergeWithLastSubmission: false });
    })().catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  t = await createTestServer({ config: { outboundAllow: ['127.0.0.1'], consoleOidc: { issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } } });
  scoped = await createTestServer({ config: { outboundAllow: ['127.0.0.1'], consoleOidc: { issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, tenantsClaim: 'tessera_tenants' } } });
}, 60_000);

afterAll(async () => {
  await t?.close();
  await scoped?.close();
  await new Promise<void>((resolve) => idp?.close(() => resolve()));
});

/** A browser: follows redirects between Tessera (injected) and the IdP (over HTTP), with cookies for each. */
async function signInWithSso(user: string, server: TestServer = t): Promise<URLSearchParams> {
  nextUser = user;
  const jar = new Map<string, string>();
  const keep = (cookies: string[]) => {
    for (const line of cookies) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at), pair.slice(at + 1));
    }
  };
  const cookieHeader = () => [...jar].filter(([, v]) => v !== '').map(([k, v]) => `${k}=${v}`).join('; ');
  let location = `${PUBLIC_URL}/console/oidc/login`;
  for (let hop = 0; hop < 20; hop++) {
    const url = new URL(location);
    let status: number;
    let next: string | undefined;
    if (url.origin === PUBLIC_URL) {
      if (url.pathname === '/console/') return new URLSearchParams(url.hash.slice(1));
      const res = await server.app.inject({ method: 'GET', url: url.pathname + url.search, headers: { cookie: cookieHeader() } });
      const set = res.headers['set-cookie'];
      keep(set === undefined ? [] : Array.isArray(set) ? set : [set]);
      status = res.statusCode;
      next = res.headers.location as string | undefined;
    } else {
      const res = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader() } });
      keep(res.headers.getSetCookie());
      status = res.status;
      next = res.headers.get('location') ?? undefined;
      await res.arrayBuffer();
    }
    if (status < 300 || status >= 400 || next === undefined) throw new Error(`${url.href} answered ${status} without a redirect`);
    location = new URL(next, url).href;
  }
  throw new Error('too many redirects');
}

const as = (token: string, method: 'GET' | 'POST', path: string, body?: object, server: TestServer = t) =>
  server.app.inject({ method, url: `/manage/v1${path}`, headers: { authorization: `Bearer ${token}` }, ...(body !== undefined ? { payload: body } : {}) });

describe('console single sign-on (authorization code with PKCE, against node-oidc-provider)', () => {
  it('says it is on', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/console/oidc' })).json()).toEqual({ enabled: true });
  });

  it('sends the browser to the provider with PKCE (S256), state and nonce, remembered in an httpOnly cookie', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/console/oidc/login' });
    expect(res.statusCode).toBe(302);
    const target = new URL(res.headers.location as string);
    expect(target.origin).toBe(issuer);
    expect(target.searchParams.get('response_type')).toBe('code');
    expect(target.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(target.searchParams.get('code_challenge_method')).toBe('S256');
    expect(target.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(target.searchParams.get('state')).toBeTruthy();
    expect(target.searchParams.get('nonce')).toBeTruthy();
    expect(String(res.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Lax/);
  });

  it('signs an admin in: the session changes things, and the audit names the person', async () => {
    const fragment = await signInWithSso('alice');
    expect(fragment.get('user')).toBe('oidc:alice');
    const token = fragment.get('sso_token') ?? '';
    expect((await as(token, 'GET', '/whoami')).json()).toMatchObject({ actor: 'console:oidc:alice', role: 'admin', scopes: ['manage:read', 'manage:write'] });
    expect((await as(token, 'POST', '/tenants', { id: 'from-sso' })).statusCode).toBe(201);
    const audit = await t.manage('GET', '/tenants/from-sso/audit?action=tenant.create');
    expect(audit.body.items[0].actor).toBe('console:oidc:alice');
  });

  it('maps the role claim (a list holding "viewer") to a viewer, whose changes are refused', async () => {
    const token = (await signInWithSso('victor')).get('sso_token') ?? '';
    expect((await as(token, 'GET', '/tenants')).statusCode).toBe(200);
    expect((await as(token, 'POST', '/tenants', { id: 'nope' })).statusCode).toBe(403);
    expect((await t.manage('GET', '/console-users/oidc:victor')).body).toMatchObject({ role: 'viewer' });
    // Deleting the person ends the session at once.
    expect((await t.manage('DELETE', '/console-users/oidc:victor')).status).toBe(204);
    expect((await as(token, 'GET', '/tenants')).statusCode).toBe(401);
  });

  it('refuses a person without the role claim, and a callback without its cookie', async () => {
    const refused = await signInWithSso('mallory');
    expect(refused.get('sso_token')).toBeNull();
    expect(refused.get('sso_error')).toContain('tessera_role');
    expect((await t.manage('GET', '/console-users/oidc:mallory')).status).toBe(404);
    const forged = await t.app.inject({ method: 'GET', url: '/console/oidc/callback?code=abc&state=xyz' });
    expect(forged.statusCode).toBe(302);
    expect(forged.headers.location).toContain('sso_error=');
  });
});

describe('console single sign-on with a tenants claim (--console-oidc-tenants-claim)', () => {
  const tenantsOf = async (username: string) => (await scoped.manage('GET', `/console-users/${username}`)).body as { role: string; tenants?: string[] };

  it('limits the person to the tenants the claim lists (space-separated), enforced by the management API', async () => {
    for (const id of ['alpha', 'beta', 'gamma']) expect((await scoped.manage('POST', '/tenants', { id })).status).toBe(201);
    const token = (await signInWithSso('tina', scoped)).get('sso_token') ?? '';
    expect(await tenantsOf('oidc:tina')).toMatchObject({ role: 'admin', tenants: ['alpha', 'beta'] });
    expect((await as(token, 'GET', '/whoami', undefined, scoped)).json()).toMatchObject({ role: 'admin', tenants: ['alpha', 'beta'] });
    const listed = (await as(token, 'GET', '/tenants', undefined, scoped)).json() as { items: { id: string }[] };
    expect(listed.items.map((x) => x.id).sort()).toEqual(['alpha', 'beta']);
    expect((await as(token, 'POST', '/tenants/alpha/apis', { identifier: 'https://orders.example', scopes: [{ value: 'orders:read' }] }, scoped)).statusCode).toBe(201);
    expect((await as(token, 'POST', '/tenants/gamma/apis', { identifier: 'https://orders.example', scopes: [] }, scoped)).statusCode).toBe(403);
    expect((await as(token, 'GET', '/tenants/admin/clients', undefined, scoped)).statusCode).toBe(403);
    expect((await as(token, 'POST', '/tenants', { id: 'delta' }, scoped)).statusCode).toBe(403);
  });

  it('takes an array too, and follows the provider at the next sign-in (the audit says so)', async () => {
    const token = (await signInWithSso('vera', scoped)).get('sso_token') ?? '';
    expect(await tenantsOf('oidc:vera')).toMatchObject({ role: 'viewer', tenants: ['beta'] });
    expect((await as(token, 'GET', '/tenants/beta/clients', undefined, scoped)).statusCode).toBe(200);
    expect((await as(token, 'GET', '/tenants/alpha/clients', undefined, scoped)).statusCode).toBe(403);
    TENANTS['vera'] = ['alpha', 'beta'];
    try {
      const again = (await signInWithSso('vera', scoped)).get('sso_token') ?? '';
      expect((await as(again, 'GET', '/tenants/alpha/clients', undefined, scoped)).statusCode).toBe(200);
    } finally {
      TENANTS['vera'] = ['beta'];
    }
    const audit = (await scoped.manage('GET', '/tenants/admin/audit?action=console_user.update&targetId=oidc:vera')).body as { items: { details: Record<string, unknown> }[] };
    expect(audit.items[0]?.details).toMatchObject({ tenants: ['alpha', 'beta'], via: 'oidc' });
  });

  it('gives every tenant for "*"', async () => {
    const token = (await signInWithSso('wanda', scoped)).get('sso_token') ?? '';
    expect((await tenantsOf('oidc:wanda')).tenants).toBeUndefined();
    expect((await as(token, 'POST', '/tenants', { id: 'from-wanda' }, scoped)).statusCode).toBe(201);
  });

  it('refuses a person without the claim, or with a tenant a list cannot hold, and records nobody', async () => {
    const missing = await signInWithSso('nina', scoped);
    expect(missing.get('sso_token')).toBeNull();
    expect(missing.get('sso_error')).toContain('tessera_tenants');
    expect((await scoped.manage('GET', '/console-users/oidc:nina')).status).toBe(404);
    const adminTenant = await signInWithSso('ivan', scoped);
    expect(adminTenant.get('sso_token')).toBeNull();
    expect(adminTenant.get('sso_error')).toMatch(/tessera_tenants.*admin tenant/);
    expect((await scoped.manage('GET', '/console-users/oidc:ivan')).status).toBe(404);
  });
});

describe('console single sign-on when the provider takes access away', () => {
  it('ends the earlier sessions of a person whose ID token no longer gives a role: the refusal deletes oidc:<sub>', async () => {
    const before = (await signInWithSso('rita')).get('sso_token') ?? '';
    expect((await as(before, 'GET', '/whoami')).statusCode).toBe(200);
    ROLES['rita'] = undefined;
    try {
      expect((await signInWithSso('rita')).get('sso_token')).toBeNull();
    } finally {
      ROLES['rita'] = 'admin';
    }
    expect((await as(before, 'GET', '/whoami')).statusCode).toBe(401);
    expect((await t.manage('GET', '/console-users/oidc:rita')).status).toBe(404);
    const audit = (await t.manage('GET', '/tenants/admin/audit?action=console_user.delete&targetId=oidc:rita')).body as { items: { details: Record<string, unknown> }[] };
    expect(audit.items[0]?.details).toMatchObject({ via: 'oidc' });
  });

  it('ends the earlier sessions of a person whose ID token no longer lists tenants', async () => {
    const before = (await signInWithSso('tom', scoped)).get('sso_token') ?? '';
    expect((await as(before, 'GET', '/whoami', undefined, scoped)).json()).toMatchObject({ tenants: ['alpha'] });
    TENANTS['tom'] = undefined;
    try {
      expect((await signInWithSso('tom', scoped)).get('sso_error')).toContain('tessera_tenants');
    } finally {
      TENANTS['tom'] = 'alpha';
    }
    expect((await as(before, 'GET', '/whoami', undefined, scoped)).statusCode).toBe(401);
    expect((await scoped.manage('GET', '/console-users/oidc:tom')).status).toBe(404);
  });
});

describe('single sign-on options', () => {
  it('are read from flags and the environment, and all three are needed together', async () => {
    const { parseServeArgs } = await import('../src/config/serve-options.js');
    const { resolveConfig } = await import('../src/config/config.js');
    const input = await parseServeArgs(['--console-oidc-issuer', 'https://login.example.com/', '--console-oidc-client-id', 'tessera'], { TESSERA_CONSOLE_OIDC_CLIENT_SECRET: 's3cret', TESSERA_CONSOLE_OIDC_ROLE_CLAIM: 'groups' });
    expect(resolveConfig(input).consoleOidc).toEqual({ issuer: 'https://login.example.com', clientId: 'tessera', clientSecret: 's3cret', roleClaim: 'groups', tenantsClaim: null });
    const scopedInput = await parseServeArgs(['--console-oidc-issuer', 'https://login.example.com', '--console-oidc-client-id', 'tessera', '--console-oidc-tenants-claim', 'tessera_tenants'], { TESSERA_CONSOLE_OIDC_CLIENT_SECRET: 's3cret' });
    expect(resolveConfig(scopedInput).consoleOidc).toMatchObject({ roleClaim: 'tessera_role', tenantsClaim: 'tessera_tenants' });
    expect((await parseServeArgs([], { TESSERA_CONSOLE_OIDC_TENANTS_CLAIM: 'groups' })).consoleOidc).toMatchObject({ tenantsClaim: 'groups' });
    expect(resolveConfig({}).consoleOidc).toBeNull();
    expect(() => resolveConfig({ consoleOidc: { issuer: 'https://login.example.com' } })).toThrow(/together/);
    expect(() => resolveConfig({ consoleOidc: { issuer: 'login.example.com', clientId: 'a', clientSecret: 'b' } })).toThrow(/https/);
  });
});
