/** The console's shell: sign-in, the tenant switcher, navigation, and the routes. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, ManagementClient, type Tenant, type Whoami } from './api.js';
import { notify } from './messages.js';
import { forgetNames } from './names.js';
import { match, navigate, useLocation } from './router.js';
import { Button, ApiContext, ConfirmHost, Field, Link, Loading, MessageRegion, describeError, type Permissions, PermissionsContext, useAction, useApi, useLoad } from './ui.js';
import { ApiPage, ApisView } from './views/apis.js';
import { AuditView } from './views/audit.js';
import { ClientPage } from './views/client-page.js';
import { ClientsView } from './views/clients.js';
import { ConsoleUsersView } from './views/console-users.js';
import { FederationsView } from './views/federations.js';
import { KeysView } from './views/keys.js';
import { TenantSettingsView, TenantsView } from './views/tenants.js';
import { UsageView } from './views/usage.js';

const STORAGE = 'tessera.console.session';
interface Session { token: string; expiresAt: number; user: string }

/**
 * Single sign-on comes back as /console/#sso_token=...&expires_in=...&user=... (or
 * #sso_error=...): taken from the fragment, which never reaches a server, and removed
 * from the address bar at once.
 */
function takeSsoResult(): { session: Session } | { error: string } | null {
  if (typeof location === 'undefined' || !location.hash.startsWith('#sso_')) return null;
  const values = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, '', location.pathname + location.search);
  const token = values.get('sso_token');
  const expiresIn = Number(values.get('expires_in'));
  if (token !== null && Number.isFinite(expiresIn)) {
    const session = { token, expiresAt: Date.now() + expiresIn * 1000, user: values.get('user') ?? 'single sign-on' };
    sessionStorage.setItem(STORAGE, JSON.stringify(session));
    return { session };
  }
  return { error: values.get('sso_error') ?? 'single sign-on failed' };
}

function readSession(): Session | null {
  try {
    const session = JSON.parse(sessionStorage.getItem(STORAGE) ?? 'null') as Session | null;
    return session !== null && session.expiresAt > Date.now() ? session : null;
  } catch {
    return null;
  }
}

export function App({ client }: { client?: ManagementClient }) {
  const sso = useMemo(takeSsoResult, []);
  const [session, setSession] = useState<Session | null>(readSession);
  useEffect(() => {
    if (sso !== null && 'error' in sso) notify('error', `Single sign-on: ${sso.error}`);
    else if (sso !== null) notify('success', `Signed in as ${sso.session.user}`);
  }, [sso]);
  const sessionRef = useRef(session);
  sessionRef.current = session;
  const api = useMemo(
    () =>
      client ??
      new ManagementClient(
        () => sessionRef.current?.token ?? null,
        () => {
          sessionStorage.removeItem(STORAGE);
          setSession(null);
          notify('error', 'Your session has ended: sign in again');
        },
      ),
    [client],
  );
  const signedIn = (next: Session) => {
    sessionStorage.setItem(STORAGE, JSON.stringify(next));
    setSession(next);
  };
  const signOut = async () => {
    try {
      await api.signOut();
    } finally {
      sessionStorage.removeItem(STORAGE);
      forgetNames();
      setSession(null);
      notify('info', 'Signed out: the session token is revoked');
    }
  };
  return (
    <ApiContext.Provider value={api}>
      {session === null && client === undefined ? <SignIn api={api} onSignedIn={signedIn} /> : <Shell user={session?.user ?? 'test'} onSignOut={signOut} />}
      <MessageRegion />
      <ConfirmHost />
    </ApiContext.Provider>
  );
}

function SignIn({ api, onSignedIn }: { api: ManagementClient; onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, run] = useAction();
  const [ssoEnabled, setSsoEnabled] = useState(false);
  useEffect(() => {
    document.title = 'Sign in · Tessera console';
    // Whether the server offers single sign-on (--console-oidc-issuer); an older server has no answer.
    void fetch('/console/oidc').then((r) => (r.ok ? r.json() : { enabled: false })).then((body: { enabled?: boolean }) => setSsoEnabled(body.enabled === true)).catch(() => undefined);
  }, []);
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setError(null);
      try {
        const issued = await api.signIn(username, password);
        onSignedIn({ token: issued.access_token, expiresAt: Date.now() + issued.expires_in * 1000, user: username });
        notify('success', `Signed in as ${username}`);
      } catch (err) {
        setError(describeError(err));
        setPassword('');
      }
    });
  };
  return (
    <main class="signin" id="main">
      <form class="card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Tessera console</h1>
        <p class="muted">Sign in with the console user from <code>admin.json</code>.</p>
        <Field label="User">{(a) => <input {...a} name="username" autoComplete="username" required value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />}</Field>
        <Field label="Password" error={error}>{(a) => <input {...a} name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />}</Field>
        <Button type="submit" kind="primary" busy={busy}>Sign in</Button>
        {ssoEnabled ? <p class="sso"><a class="btn btn-plain" href="/console/oidc/login">Sign in with single sign-on</a></p> : null}
      </form>
    </main>
  );
}

const SECTIONS: [string, string][] = [['clients', 'Clients'], ['apis', 'APIs'], ['federations', 'Federations'], ['keys', 'Keys'], ['audit', 'Audit'], ['usage', 'Usage'], ['settings', 'Settings']];

function Shell({ user, onSignOut }: { user: string; onSignOut: () => Promise<void> }) {
  const location = useLocation();
  const api = useApi();
  const [tenantsTick, setTenantsTick] = useState(0);
  const { data: tenants, error } = useLoad<Tenant[]>(() => api.listTenants().then((p) => p.items), [tenantsTick]);
  // What this user may do; a server without /whoami (older) is taken at its word on every call.
  const { data: me } = useLoad<Whoami | null>(
    () => api.whoami().catch((err: unknown) => (err instanceof ApiError && err.status === 404 ? null : Promise.reject(err))),
    [],
  );
  const permissions: Permissions = me == null ? { canWrite: me === null, allTenants: me === null } : { canWrite: me.scopes.includes('manage:write'), allTenants: me.tenants === undefined };
  const main = useRef<HTMLElement>(null);
  const [menuOpen, setMenuOpen] = useState(false);
  const [busy, run] = useAction();

  const tenantMatch = /^\/t\/([^/]+)(\/[^/]*)?/.exec(location.path);
  const tenantId = tenantMatch ? decodeURIComponent(tenantMatch[1] ?? '') : null;
  const section = tenantMatch?.[2]?.slice(1) ?? (location.path === '/tenants' ? 'tenants' : location.path === '/console-users' ? 'console-users' : '');

  useEffect(() => {
    if (location.path === '/' || location.path === '') navigate('/t/default/clients', { replace: true });
  }, [location.path]);
  // A new page: focus moves to its content (screen readers announce it), the menu closes.
  const first = useRef(true);
  useEffect(() => {
    setMenuOpen(false);
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [location.path]);
  useEffect(() => {
    const label = section === 'tenants' ? 'Tenants' : section === 'console-users' ? 'Console users' : (SECTIONS.find(([key]) => key === section)?.[1] ?? 'Console');
    document.title = `${label}${tenantId ? ` · ${tenantId}` : ''} · Tessera console`;
  }, [section, tenantId]);

  const tenant = tenants?.find((t) => t.id === tenantId);
  const changed = () => setTenantsTick((n) => n + 1);
  const manageUsers = permissions.canWrite && permissions.allTenants;
  return (
    <PermissionsContext.Provider value={permissions}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <Link to="/" class="brand">Tessera</Link>
        <label class="tenant-switch">
          <span class="visually-hidden">Tenant</span>
          <select value={tenantId ?? ''} onChange={(e) => navigate(`/t/${(e.target as HTMLSelectElement).value}/${section && section !== 'tenants' ? section.split('/')[0] : 'clients'}`)}>
            {tenantId === null ? <option value="">Choose a tenant…</option> : null}
            {(tenants ?? []).map((t) => <option value={t.id}>{t.name} ({t.id})</option>)}
          </select>
        </label>
        <button type="button" class="btn btn-plain menu-toggle" aria-expanded={menuOpen ? 'true' : 'false'} aria-controls="nav" onClick={() => setMenuOpen(!menuOpen)}>Menu</button>
        <span class="user muted">{user}{me?.role === 'viewer' ? ' (viewer)' : ''}</span>
        <Button busy={busy} onClick={() => run(onSignOut)}>Sign out</Button>
      </header>
      <div class="layout">
        <nav id="nav" class={menuOpen ? 'nav open' : 'nav'} aria-label="Console">
          <ul>
            {tenantId !== null ? SECTIONS.map(([key, label]) => (
              <li><Link to={`/t/${tenantId}/${key}`} aria-current={section === key ? 'page' : undefined}>{label}</Link></li>
            )) : null}
            <li class="sep"><Link to="/tenants" aria-current={section === 'tenants' ? 'page' : undefined}>All tenants</Link></li>
            {manageUsers ? <li><Link to="/console-users" aria-current={section === 'console-users' ? 'page' : undefined}>Console users</Link></li> : null}
          </ul>
        </nav>
        <main id="main" ref={main} tabIndex={-1}>
          {me?.role === 'viewer' ? <p class="hint viewer-note">You are signed in as a viewer: you can look at everything{me.tenants ? ` in ${me.tenants.join(', ')}` : ''}, and change nothing.</p> : null}
          {tenants === undefined ? <Loading error={error} what="tenants" /> : location.path === '/console-users' ? (manageUsers ? <ConsoleUsersView self={user} /> : <><h1>Console users</h1><p>Only an admin for every tenant manages console users.</p></>) : <Route path={location.path} query={location.query} tenant={tenant} tenantId={tenantId} onTenantsChange={changed} />}
        </main>
      </div>
    </PermissionsContext.Provider>
  );
}

function Route({ path, query, tenant, tenantId, onTenantsChange }: { path: string; query: URLSearchParams; tenant: Tenant | undefined; tenantId: string | null; onTenantsChange: () => void }) {
  if (path === '/tenants') return <TenantsView onChange={onTenantsChange} />;
  if (tenantId !== null && tenant === undefined) {
    return <><h1>No such tenant</h1><p>Tenant <code>{tenantId}</code> does not exist (any more). <Link to="/tenants">See all tenants</Link>.</p></>;
  }
  let m: Record<string, string> | null;
  if (tenant !== undefined) {
    const t = tenant.id;
    if ((m = match('/t/:t/clients', path))) return <ClientsView tenant={t} />;
    if ((m = match('/t/:t/clients/:id', path))) return <ClientPage tenant={t} clientId={m['id'] ?? ''} />;
    if ((m = match('/t/:t/clients/:id/usage', path))) return <ClientPage tenant={t} clientId={m['id'] ?? ''} tab="usage" />;
    if ((m = match('/t/:t/apis', path))) return <ApisView tenant={t} />;
    if ((m = match('/t/:t/apis/:id', path))) return <ApiPage tenant={t} apiId={m['id'] ?? ''} tab="settings" />;
    if ((m = match('/t/:t/apis/:id/clients', path))) return <ApiPage tenant={t} apiId={m['id'] ?? ''} tab="clients" />;
    if ((m = match('/t/:t/apis/:id/usage', path))) return <ApiPage tenant={t} apiId={m['id'] ?? ''} tab="usage" />;
    if (match('/t/:t/federations', path)) return <FederationsView tenant={t} />;
    if (match('/t/:t/keys', path)) return <KeysView tenant={t} />;
    if (match('/t/:t/audit', path)) return <AuditView tenant={t} query={query} />;
    if (match('/t/:t/usage', path)) return <UsageView tenant={t} />;
    if (match('/t/:t/settings', path)) return <TenantSettingsView key={t} tenant={tenant} onChange={onTenantsChange} />;
  }
  if (path === '/' || path === '') return null;
  return <><h1>Page not found</h1><p><Link to="/">Back to the console</Link></p></>;
}
