import { useState } from 'preact/hooks';
import { ApiError, AUTH_METHODS, type AuthMethod, type ClientInput, type ClientListItem, type ClientSort, type CreatedClient } from '../api.js';
import { notify } from '../messages.js';
import { forgetNames } from '../names.js';
import { navigate } from '../router.js';
import { ServerList } from '../server-list.js';
import { Button, Copyable, Field, fieldErrorOf, Link, Section, Time, useAction, useApi, Writes } from '../ui.js';
import { customClaimsOf, fieldMessage, lifetimeOf, quotaOf } from '../validation.js';

export const METHOD_LABELS: Record<AuthMethod, string> = {
  client_secret_basic: 'Secret (HTTP Basic)',
  client_secret_post: 'Secret (form post)',
  private_key_jwt: 'Private key JWT',
  tls_client_auth: 'mTLS (CA-issued certificate, subject DN)',
  self_signed_tls_client_auth: 'mTLS (self-signed certificate)',
};

export interface ClientForm {
  name: string; method: AuthMethod; keySource: 'jwks' | 'jwksUri'; jwks: string; jwksUri: string; subjectDn: string; lifetime: string;
  quota: string; dpop: boolean; txnTokens: boolean; claims: string;
}
export const EMPTY_CLIENT: ClientForm = { name: '', method: 'client_secret_basic', keySource: 'jwks', jwks: '', jwksUri: '', subjectDn: '', lifetime: '', quota: '', dpop: false, txnTokens: false, claims: '' };

export const CLIENT_FIELDS = ['name', 'tokenEndpointAuthMethod', 'jwks', 'jwksUri', 'tlsClientAuthSubjectDn', 'accessTokenLifetime', 'tokenQuotaPerMinute', 'customClaims', 'dpopBoundAccessTokens', 'txnTokenService'];

/** The form's values as the API's body; a field error when the form itself is wrong. */
export function clientInputOf(form: ClientForm): { input: ClientInput } | { field: string; message: string } {
  if (form.name.trim() === '') return { field: 'name', message: 'a name is required (1 to 100 characters)' };
  let accessTokenLifetime: number | null;
  let tokenQuotaPerMinute: number | null;
  let customClaims: Record<string, unknown> | null;
  try {
    accessTokenLifetime = lifetimeOf(form.lifetime);
    tokenQuotaPerMinute = quotaOf(form.quota);
    customClaims = customClaimsOf(form.claims);
  } catch (error) {
    if (error instanceof ApiError && error.field !== null) return { field: error.field, message: fieldMessage(error.field, error.message) };
    throw error;
  }
  const input: ClientInput = { name: form.name.trim(), tokenEndpointAuthMethod: form.method, accessTokenLifetime, tokenQuotaPerMinute, dpopBoundAccessTokens: form.dpop, txnTokenService: form.txnTokens, customClaims };
  if (form.method === 'private_key_jwt' || form.method === 'self_signed_tls_client_auth') {
    if (form.keySource === 'jwksUri') {
      if (form.jwksUri.trim() === '') return { field: 'jwksUri', message: 'the URL of the client\'s JWK Set is required' };
      input.jwksUri = form.jwksUri.trim();
    } else {
      try {
        const parsed = JSON.parse(form.jwks) as unknown;
        const set = Array.isArray((parsed as { keys?: unknown }).keys) ? parsed : { keys: [parsed] };
        input.jwks = set as { keys: Record<string, unknown>[] };
      } catch {
        return { field: 'jwks', message: 'paste a JWK Set ({"keys": [...]}) or one public JWK, as JSON' };
      }
    }
  }
  if (form.method === 'tls_client_auth') {
    if (form.subjectDn.trim() === '') return { field: 'tlsClientAuthSubjectDn', message: 'the certificate\'s subject DN is required, e.g. CN=orders,O=Example' };
    input.tlsClientAuthSubjectDn = form.subjectDn.trim();
  }
  return { input };
}

export function ClientFields({ form, setForm, errors, withName = true }: { form: ClientForm; setForm: (f: ClientForm) => void; errors: Record<string, string>; withName?: boolean }) {
  const needsKeys = form.method === 'private_key_jwt' || form.method === 'self_signed_tls_client_auth';
  const value = (e: Event) => (e.target as HTMLInputElement).value;
  return (
    <>
      {withName ? (
        <Field label="Name" error={errors['name']}>
          {(a) => <input {...a} name="name" required maxLength={100} value={form.name} onInput={(e) => setForm({ ...form, name: value(e) })} />}
        </Field>
      ) : null}
      <Field label="Authentication method" error={errors['tokenEndpointAuthMethod']}>
        {(a) => (
          <select {...a} name="tokenEndpointAuthMethod" value={form.method} onChange={(e) => setForm({ ...form, method: value(e) as AuthMethod })}>
            {AUTH_METHODS.map((m) => <option value={m}>{METHOD_LABELS[m]}</option>)}
          </select>
        )}
      </Field>
      {needsKeys ? (
        <fieldset class="field">
          <legend>{form.method === 'private_key_jwt' ? 'Public keys' : "The certificate's public key"}</legend>
          <label class="inline"><input type="radio" name="keySource" checked={form.keySource === 'jwks'} onChange={() => setForm({ ...form, keySource: 'jwks' })} /> Inline JWK Set</label>
          <label class="inline"><input type="radio" name="keySource" checked={form.keySource === 'jwksUri'} onChange={() => setForm({ ...form, keySource: 'jwksUri' })} /> JWK Set URL</label>
        </fieldset>
      ) : null}
      {needsKeys && form.keySource === 'jwks' ? (
        <Field label="JWK Set (JSON)" error={errors['jwks']} hint="public keys only; never paste a private key">
          {(a) => <textarea {...a} name="jwks" rows={5} value={form.jwks} onInput={(e) => setForm({ ...form, jwks: value(e) })} />}
        </Field>
      ) : null}
      {needsKeys && form.keySource === 'jwksUri' ? (
        <Field label="JWK Set URL" error={errors['jwksUri']}>
          {(a) => <input {...a} name="jwksUri" type="url" value={form.jwksUri} onInput={(e) => setForm({ ...form, jwksUri: value(e) })} />}
        </Field>
      ) : null}
      {form.method === 'tls_client_auth' ? (
        <Field label="Certificate subject DN" error={errors['tlsClientAuthSubjectDn']} hint="RFC 4514, e.g. CN=orders,O=Example,C=DE">
          {(a) => <input {...a} name="tlsClientAuthSubjectDn" value={form.subjectDn} onInput={(e) => setForm({ ...form, subjectDn: value(e) })} />}
        </Field>
      ) : null}
      <Field label="Access token lifetime (seconds)" error={errors['accessTokenLifetime']} hint="60 to 86400; empty for the tenant's">
        {(a) => <input {...a} name="accessTokenLifetime" inputMode="numeric" value={form.lifetime} onInput={(e) => setForm({ ...form, lifetime: value(e) })} />}
      </Field>
      <Field label="Token quota (requests per minute)" error={errors['tokenQuotaPerMinute']} hint="0 for none; empty for the default">
        {(a) => <input {...a} name="tokenQuotaPerMinute" inputMode="numeric" value={form.quota} onInput={(e) => setForm({ ...form, quota: value(e) })} />}
      </Field>
      <Field label="Custom claims (JSON)" error={errors['customClaims']} hint='added to every token of this client, e.g. {"team": "billing"}'>
        {(a) => <textarea {...a} name="customClaims" rows={3} value={form.claims} onInput={(e) => setForm({ ...form, claims: value(e) })} />}
      </Field>
      <label class="inline"><input type="checkbox" name="dpopBoundAccessTokens" checked={form.dpop} onChange={(e) => setForm({ ...form, dpop: (e.target as HTMLInputElement).checked })} /> Tokens bound to a DPoP key (RFC 9449): every token request must carry a proof</label>
      <label class="inline"><input type="checkbox" name="txnTokenService" checked={form.txnTokens} onChange={(e) => setForm({ ...form, txnTokens: (e.target as HTMLInputElement).checked })} /> May mint transaction tokens</label>
    </>
  );
}

/** Shown once after creation: the secret is never shown again. */
export function SecretOnce({ secret, clientId }: { secret: string; clientId: string }) {
  return (
    <div class="secret-once" role="region" aria-label="New client secret">
      <p><strong>Copy the secret now: it is shown only once.</strong></p>
      <dl class="props">
        <dt>Client ID</dt><dd><Copyable value={clientId} label="client ID" /></dd>
        <dt>Client secret</dt><dd><Copyable value={secret} label="client secret" /></dd>
      </dl>
    </div>
  );
}

export function ClientsView({ tenant }: { tenant: string }) {
  const api = useApi();
  const [form, setForm] = useState<ClientForm>(EMPTY_CLIENT);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [created, setCreated] = useState<CreatedClient | null>(null);
  const [reload, setReload] = useState(0);
  const [dormantDays, setDormantDays] = useState(0);
  const [busy, run] = useAction();
  const create = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setErrors({});
      const parsed = clientInputOf(form);
      if ('field' in parsed) {
        setErrors({ [parsed.field]: parsed.message });
        return;
      }
      try {
        const client = await api.createClient(tenant, parsed.input);
        setCreated(client);
        setForm(EMPTY_CLIENT);
        forgetNames(tenant);
        setReload((n) => n + 1);
        notify('success', `Client ${client.name} created`);
      } catch (error) {
        const field = fieldErrorOf(error, CLIENT_FIELDS);
        if (field === null) throw error;
        setErrors({ [field.field]: field.message });
      }
    });
  };
  return (
    <>
      <h1>Clients</h1>
      <Writes>
      <Section title="New client" id="new-client">
        {created !== null ? (
          <div>
            {created.clientSecret !== undefined ? <SecretOnce secret={created.clientSecret} clientId={created.clientId} /> : <p>Client <Copyable value={created.clientId} label="client ID" /> created.</p>}
            <div class="actions">
              <Button kind="primary" onClick={() => navigate(`/t/${tenant}/clients/${created.clientId}`)}>Open {created.name}</Button>
              <Button onClick={() => setCreated(null)}>Create another</Button>
            </div>
          </div>
        ) : (
          <form class="form-grid" onSubmit={create} noValidate>
            <ClientFields form={form} setForm={setForm} errors={errors} />
            <div class="actions"><Button type="submit" kind="primary" busy={busy}>Create client</Button></div>
          </form>
        )}
      </Section>
      </Writes>
      <Section title="All clients" id="all-clients">
        <ServerList<ClientListItem, ClientSort>
          label="Clients"
          deps={[tenant, dormantDays]}
          reloadToken={reload}
          load={(list) => api.searchClients(tenant, { ...list, ...(dormantDays > 0 ? { dormantDays } : {}) })}
          initialSort={{ sort: 'createdAt', order: 'desc' }}
          firstOrder={{ createdAt: 'desc', lastUsedAt: 'desc' }}
          rowKey={(c) => c.clientId}
          empty={dormantDays > 0 ? `No client has gone ${dormantDays} days without a token.` : 'No clients yet: create one above.'}
          filters={
            <label class="inline">Show{' '}
              <select name="dormant" value={String(dormantDays)} onChange={(e) => setDormantDays(Number((e.target as HTMLSelectElement).value))}>
                <option value="0">all clients</option>
                {[7, 30, 90].map((d) => <option value={String(d)}>dormant: no token in {d} days</option>)}
              </select>
            </label>
          }
          columns={[
            { label: 'Name', sort: 'name', render: (c) => <Link to={`/t/${tenant}/clients/${c.clientId}`}>{c.name}</Link> },
            { label: 'Client ID', sort: 'clientId', render: (c) => <code class="id">{c.clientId}</code> },
            { label: 'Authentication', render: (c) => METHOD_LABELS[c.tokenEndpointAuthMethod] },
            { label: 'Status', render: (c) => (c.disabled ? <span class="badge badge-off">disabled</span> : <span class="badge badge-on">enabled</span>) },
            { label: 'Last used', sort: 'lastUsedAt', render: (c) => <Time at={c.lastUsedAt} /> },
            { label: 'Created', sort: 'createdAt', render: (c) => <Time at={c.createdAt} /> },
          ]}
        />
      </Section>
    </>
  );
}
