import { useState } from 'preact/hooks';
import { allPages, type Api, type ApiSort, type Grant, type GrantSort } from '../api.js';
import { notify } from '../messages.js';
import { forgetNames, resolveClients, useNames } from '../names.js';
import { navigate } from '../router.js';
import { SEARCH_DELAY_MS, ServerList, useDebounced } from '../server-list.js';
import { Button, confirmAction, Copyable, Field, fieldErrorOf, Link, Loading, Section, Time, useAction, useApi, useLoad, usePermissions, Writes } from '../ui.js';
import { lifetimeOf, parseScopes, scopesText } from '../validation.js';
import { IntrospectionSettings } from './api-introspection.js';
import { GrantClaims } from './grant-claims.js';
import { UsageChart } from './usage-chart.js';

export { parseScopes } from '../validation.js';

interface ApiForm { identifier: string; name: string; scopes: string; tokenFormat: 'jwt' | 'opaque'; lifetime: string }
const EMPTY: ApiForm = { identifier: '', name: '', scopes: '', tokenFormat: 'jwt', lifetime: '' };
const API_FIELDS = ['identifier', 'name', 'scopes', 'tokenFormat', 'accessTokenLifetime', 'introspectors'];

function ApiFields({ form, setForm, errors, withFormat = true }: { form: ApiForm; setForm: (f: ApiForm) => void; errors: Record<string, string>; withFormat?: boolean }) {
  const v = (e: Event) => (e.target as HTMLInputElement).value;
  return (
    <>
      <Field label="Identifier (audience)" error={errors['identifier']} hint="usually the API's URL, e.g. https://orders.example.com">
        {(a) => <input {...a} name="identifier" value={form.identifier} onInput={(e) => setForm({ ...form, identifier: v(e) })} />}
      </Field>
      <Field label="Name" error={errors['name']}>
        {(a) => <input {...a} name="name" value={form.name} onInput={(e) => setForm({ ...form, name: v(e) })} />}
      </Field>
      <Field label="Scopes" error={errors['scopes']} hint="one per line: the value, optionally followed by ' - ' and a description (orders:read - Read orders)">
        {(a) => <textarea {...a} name="scopes" rows={4} value={form.scopes} onInput={(e) => setForm({ ...form, scopes: v(e) })} />}
      </Field>
      {withFormat ? (
        <Field label="Token format" error={errors['tokenFormat']}>
          {(a) => (
            <select {...a} name="tokenFormat" value={form.tokenFormat} onChange={(e) => setForm({ ...form, tokenFormat: v(e) as 'jwt' | 'opaque' })}>
              <option value="jwt">JWT (RFC 9068), verified offline</option>
              <option value="opaque">Opaque, checked by introspection</option>
            </select>
          )}
        </Field>
      ) : null}
      <Field label="Access token lifetime (seconds)" error={errors['accessTokenLifetime']} hint="60 to 86400; empty for the tenant's">
        {(a) => <input {...a} name="accessTokenLifetime" inputMode="numeric" value={form.lifetime} onInput={(e) => setForm({ ...form, lifetime: v(e) })} />}
      </Field>
    </>
  );
}

function inputOf(form: ApiForm) {
  return { identifier: form.identifier.trim(), ...(form.name.trim() ? { name: form.name.trim() } : {}), scopes: parseScopes(form.scopes), tokenFormat: form.tokenFormat, accessTokenLifetime: lifetimeOf(form.lifetime) };
}

export function ApisView({ tenant }: { tenant: string }) {
  const api = useApi();
  const [form, setForm] = useState<ApiForm>(EMPTY);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [reload, setReload] = useState(0);
  const [busy, run] = useAction();
  const create = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setErrors({});
      if (form.identifier.trim() === '') {
        setErrors({ identifier: 'an identifier is required' });
        return;
      }
      try {
        const created = await api.createApi(tenant, inputOf(form));
        forgetNames(tenant);
        setForm(EMPTY);
        setReload((n) => n + 1);
        notify('success', `API ${created.name} created`);
      } catch (error) {
        const field = fieldErrorOf(error, API_FIELDS);
        if (field === null) throw error;
        setErrors({ [field.field]: field.message });
      }
    });
  };
  return (
    <>
      <h1>APIs</h1>
      <Writes>
      <Section title="New API" id="new-api">
        <form class="form-grid" onSubmit={create} noValidate>
          <ApiFields form={form} setForm={setForm} errors={errors} />
          <div class="actions"><Button type="submit" kind="primary" busy={busy}>Create API</Button></div>
        </form>
      </Section>
      </Writes>
      <Section title="All APIs" id="all-apis">
        <ServerList<Api, ApiSort>
          label="APIs"
          deps={[tenant]}
          reloadToken={reload}
          load={(list) => api.searchApis(tenant, list)}
          initialSort={{ sort: 'createdAt', order: 'desc' }}
          firstOrder={{ createdAt: 'desc' }}
          rowKey={(a) => a.id}
          empty="No APIs yet: create one above."
          columns={[
            { label: 'Name', sort: 'name', render: (a) => <Link to={`/t/${tenant}/apis/${a.id}`}>{a.name}</Link> },
            { label: 'Identifier', sort: 'identifier', render: (a) => <code class="id">{a.identifier}</code> },
            { label: 'Scopes', render: (a) => <span class="scopes">{a.scopes.map((s) => <code class="scope">{s.value}</code>)}</span> },
            { label: 'Format', render: (a) => a.tokenFormat },
            { label: 'Created', sort: 'createdAt', render: (a) => <Time at={a.createdAt} /> },
          ]}
        />
      </Section>
    </>
  );
}

export function ApiPage({ tenant, apiId, tab }: { tenant: string; apiId: string; tab: 'settings' | 'clients' | 'usage' }) {
  const api = useApi();
  const { data, error, reload } = useLoad(async () => {
    const found = await api.getApi(tenant, apiId);
    const grants = await allPages((c) => api.listGrants(tenant, { audience: found.identifier }, c));
    return { api: found, grants };
  }, [tenant, apiId]);
  const [busy, run] = useAction();
  const [form, setForm] = useState<ApiForm | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  if (data === undefined) return <><h1>API</h1><Loading error={error} what="the API" /></>;
  const { api: target, grants } = data;
  const current: ApiForm = form ?? { identifier: target.identifier, name: target.name, scopes: scopesText(target.scopes), tokenFormat: target.tokenFormat === 'opaque' ? 'opaque' : 'jwt', lifetime: target.accessTokenLifetime?.toString() ?? '' };

  const save = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setErrors({});
      try {
        // The token format is saved with the introspectors (IntrospectionSettings), not here.
        const { tokenFormat: _format, ...settings } = inputOf(current);
        await api.updateApi(tenant, apiId, settings);
        forgetNames(tenant);
        setForm(null);
        notify('success', 'API saved');
        reload();
      } catch (error) {
        const field = fieldErrorOf(error, API_FIELDS);
        if (field === null) throw error;
        setErrors({ [field.field]: field.message });
      }
    });
  };
  const remove = () =>
    run(async () => {
      const ok = await confirmAction({
        title: `Delete API ${target.name}?`,
        body: <p>The API and its {grants.length} grant(s) are deleted: {grants.length > 0 ? `${grants.length} client(s) lose access at once` : 'no client has access to it'}. This cannot be undone.</p>,
        confirmLabel: 'Delete API',
        ...(grants.length > 0 ? { typed: target.name } : {}),
      });
      if (!ok) return;
      await api.deleteApi(tenant, apiId);
      forgetNames(tenant);
      notify('success', `API ${target.name} deleted`);
      navigate(`/t/${tenant}/apis`);
    });

  const tabs: [typeof tab, string][] = [['settings', 'Settings'], ['clients', 'Machine-to-machine clients'], ['usage', 'Usage']];
  return (
    <>
      <p class="crumbs"><Link to={`/t/${tenant}/apis`}>APIs</Link> / {target.name}</p>
      <h1>{target.name}</h1>
      <p><Copyable value={target.identifier} label="API identifier" /></p>
      <nav class="tabs" aria-label="API sections">
        {tabs.map(([key, label]) => <Link to={`/t/${tenant}/apis/${apiId}${key === 'settings' ? '' : `/${key}`}`} aria-current={tab === key ? 'page' : undefined}>{label}</Link>)}
      </nav>
      {tab === 'settings' ? (
        <>
          <Section title="Settings" id="api-settings">
            <form class="form-grid" onSubmit={save} noValidate>
              <ApiFields form={current} setForm={setForm} errors={errors} withFormat={false} />
              <div class="actions">
                <Button write type="submit" kind="primary" busy={busy}>Save</Button>
                <Button write kind="danger" busy={busy} onClick={remove}>Delete API</Button>
              </div>
            </form>
          </Section>
          <IntrospectionSettings tenant={tenant} target={target} onSaved={reload} />
        </>
      ) : tab === 'clients' ? (
        <MachineClients tenant={tenant} target={target} reload={reload} />
      ) : (
        <Section title="Usage" id="api-usage"><UsageChart tenant={tenant} audience={target.identifier} /></Section>
      )}
    </>
  );
}

/** How many clients a search for a new client shows. */
const CANDIDATES = 8;

/**
 * The clients with access to this API, a page at a time (searched and sorted by the
 * server), each with its scopes; and a search over every client to give one access.
 */
export function MachineClients({ tenant, target, reload }: { tenant: string; target: Api; reload: () => void }) {
  const api = useApi();
  const [shown, setShown] = useState<string[]>([]);
  const names = useNames(api, tenant, shown);
  const [busy, run] = useAction();
  const { canWrite } = usePermissions();
  const [changed, setChanged] = useState(0);
  const [term, setTerm] = useState('');
  const q = useDebounced(term.trim(), SEARCH_DELAY_MS);
  const after = () => {
    setChanged((n) => n + 1);
    reload();
  };
  // Clients matching the search, each with its grant on this API if it has one.
  const candidates = useLoad(async () => {
    if (q === '') return [];
    const page = await api.searchClients(tenant, { q, sort: 'name', limit: CANDIDATES });
    return Promise.all(page.items.map(async (client) => ({ client, grant: (await api.searchGrants(tenant, { clientId: client.clientId, audience: target.identifier }, { limit: 1 })).items[0] })));
  }, [tenant, target.identifier, q, changed]);
  const nameOf = (clientId: string) => names?.clients.get(clientId)?.name ?? clientId;

  const grantAccess = (clientId: string, name: string) =>
    run(async () => {
      await api.createGrant(tenant, { clientId, audience: target.identifier, scopes: [] });
      notify('success', `${name} may now get tokens for ${target.name}; tick the scopes it needs`);
      after();
    });
  const revoke = (grant: Grant, name: string) =>
    run(async () => {
      const ok = await confirmAction({ title: `Revoke ${name}'s access?`, body: <p>{name} loses the scopes <strong>{grant.scopes.join(' ') || '(none)'}</strong> on {target.name}.</p>, confirmLabel: 'Revoke access' });
      if (!ok) return;
      await api.deleteGrant(tenant, grant.id);
      notify('success', `${name} no longer has access to ${target.name}`);
      after();
    });
  // A grant's scopes change in place (PATCH): same grant, no moment without access.
  // Taking a scope away asks first and says what the client loses.
  const tick = (grant: Grant, scope: string, on: boolean, name: string) =>
    run(async () => {
      if (!on) {
        const ok = await confirmAction({
          title: `Remove ${scope} from ${name}?`,
          body: <p>{name} can no longer get tokens with <strong>{scope}</strong> for {target.name}; it keeps <strong>{grant.scopes.filter((s) => s !== scope).join(' ') || '(no scopes)'}</strong>.</p>,
          confirmLabel: 'Remove scope',
        });
        if (!ok) {
          after();
          return;
        }
      }
      const scopes = on ? [...grant.scopes, scope] : grant.scopes.filter((s) => s !== scope);
      await api.updateGrant(tenant, grant.id, { scopes });
      notify('success', `${name}: ${on ? 'granted' : 'removed'} ${scope}`);
      after();
    });

  return (
    <>
      <Writes>
        <Section title="Give a client access" id="m2m-add">
          <label class="search"><span class="visually-hidden">Find a client to give access</span><input type="search" placeholder="Find a client by name or ID" value={term} onInput={(e) => setTerm((e.target as HTMLInputElement).value)} /></label>
          {q === '' ? null : candidates.data === undefined ? <Loading error={candidates.error} what="clients" /> : candidates.data.length === 0 ? <p class="empty">No client matches “{q}”.</p> : (
            <ul class="rows">
              {candidates.data.map(({ client, grant }) => (
                <li>
                  <Link to={`/t/${tenant}/clients/${client.clientId}`}>{client.name}</Link> <code class="id">{client.clientId}</code>{' '}
                  {grant !== undefined ? <span class="muted">has access</span> : <Button class="btn-small" busy={busy} onClick={() => grantAccess(client.clientId, client.name)}>Give access</Button>}
                </li>
              ))}
            </ul>
          )}
        </Section>
      </Writes>
      <Section title="Machine-to-machine clients" id="m2m">
        <ServerList<Grant, GrantSort>
          label="Clients with access"
          deps={[tenant, target.identifier]}
          reloadToken={changed}
          load={async (list) => {
            // A page arrives with its clients' names.
            const page = await api.searchGrants(tenant, { audience: target.identifier }, list);
            const ids = page.items.map((g) => g.clientId);
            await resolveClients(api, tenant, ids);
            setShown(ids);
            return page;
          }}
          initialSort={{ sort: 'clientId', order: 'asc' }}
          searchPlaceholder="Search by client ID"
          rowKey={(g) => g.id}
          empty={`No client may get tokens for ${target.name} yet.`}
          columns={[
            { label: 'Client', sort: 'clientId', render: (g) => <><Link to={`/t/${tenant}/clients/${g.clientId}`}>{nameOf(g.clientId)}</Link> <code class="id">{g.clientId}</code></> },
            {
              label: 'Scopes',
              render: (g) => (
                <fieldset class="scopes-pick">
                  <legend class="visually-hidden">Scopes of {nameOf(g.clientId)}</legend>
                  {target.scopes.length === 0 ? <span class="muted">this API has no scopes</span> : target.scopes.map((s) => (
                    <label class="inline">
                      <input type="checkbox" checked={g.scopes.includes(s.value)} disabled={busy || !canWrite} onChange={(e) => tick(g, s.value, (e.target as HTMLInputElement).checked, nameOf(g.clientId))} /> <code>{s.value}</code>
                    </label>
                  ))}
                </fieldset>
              ),
            },
            { label: 'Custom claims', render: (g) => <GrantClaims tenant={tenant} grant={g} who={`${nameOf(g.clientId)} on ${target.name}`} onSaved={after} /> },
            { label: 'Since', sort: 'createdAt', render: (g) => <Time at={g.createdAt} /> },
            { label: 'Access', render: (g) => <Button write class="btn-small" kind="danger" busy={busy} onClick={() => revoke(g, nameOf(g.clientId))} aria-label={`Revoke ${nameOf(g.clientId)}'s access`}>Revoke</Button> },
          ]}
        />
      </Section>
    </>
  );
}
