import { useState } from 'preact/hooks';
import { SIGNING_ALGS, type SigningAlg, type Tenant, type TenantSettings } from '../api.js';
import { notify } from '../messages.js';
import { navigate } from '../router.js';
import { lifetimeOf, quotaOf } from '../validation.js';
import { Button, confirmAction, Copyable, DataList, Field, fieldErrorOf, Link, Section, Time, useAction, useApi, Writes } from '../ui.js';

export { lifetimeOf } from '../validation.js';

interface TenantSettingsForm {
  name: string;
  signingAlg: SigningAlg;
  lifetime: string;
  quota: string;
  trustDomain: string;
}

/** The form's settings as the API's fields; a field error (thrown) when one is wrong. */
function settingsOf(form: TenantSettingsForm): TenantSettings {
  return {
    signingAlg: form.signingAlg,
    accessTokenLifetime: lifetimeOf(form.lifetime),
    tokenQuotaPerMinute: quotaOf(form.quota),
    trustDomain: form.trustDomain.trim() === '' ? null : form.trustDomain.trim(),
  };
}
const SETTING_FIELDS = ['name', 'signingAlg', 'accessTokenLifetime', 'tokenQuotaPerMinute', 'trustDomain'];

/** The settings a tenant is created with and edited by: name, signing algorithm, token lifetime. */
function TenantFields<F extends TenantSettingsForm>({ form, setForm, errors, algHint }: { form: F; setForm: (f: F) => void; errors: Record<string, string>; algHint?: string }) {
  const v = (e: Event) => (e.target as HTMLInputElement | HTMLSelectElement).value;
  return (
    <>
      <Field label="Name" error={errors['name']}>
        {(a) => <input {...a} name="name" value={form.name} onInput={(e) => setForm({ ...form, name: v(e) })} />}
      </Field>
      <Field label="Signing algorithm" error={errors['signingAlg']} {...(algHint !== undefined ? { hint: algHint } : {})}>
        {(a) => (
          <select {...a} name="signingAlg" value={form.signingAlg} onChange={(e) => setForm({ ...form, signingAlg: v(e) as SigningAlg })}>
            {SIGNING_ALGS.map((alg) => <option value={alg}>{alg}</option>)}
          </select>
        )}
      </Field>
      <Field label="Access token lifetime (seconds)" error={errors['accessTokenLifetime']} hint="60 to 86400; empty for the server default">
        {(a) => <input {...a} name="accessTokenLifetime" inputMode="numeric" value={form.lifetime} onInput={(e) => setForm({ ...form, lifetime: v(e) })} />}
      </Field>
      <Field label="Token quota (requests per minute)" error={errors['tokenQuotaPerMinute']} hint="for the whole tenant; 0 for none; empty for the server default">
        {(a) => <input {...a} name="tokenQuotaPerMinute" inputMode="numeric" value={form.quota} onInput={(e) => setForm({ ...form, quota: v(e) })} />}
      </Field>
      <Field label="Trust domain" error={errors['trustDomain']} hint="audience of transaction tokens; empty for the issuer">
        {(a) => <input {...a} name="trustDomain" value={form.trustDomain} onInput={(e) => setForm({ ...form, trustDomain: v(e) })} />}
      </Field>
    </>
  );
}

export function TenantsView({ onChange }: { onChange: () => void }) {
  const api = useApi();
  const [reload, setReload] = useState(0);
  const EMPTY_TENANT = { id: '', name: '', signingAlg: 'ES256' as SigningAlg, lifetime: '', quota: '', trustDomain: '' };
  const [form, setForm] = useState(EMPTY_TENANT);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, run] = useAction();

  const create = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setErrors({});
      try {
        const tenant = await api.createTenant({ id: form.id.trim(), ...(form.name.trim() ? { name: form.name.trim() } : {}), ...settingsOf(form) });
        notify('success', `Tenant ${tenant.id} created`);
        setForm(EMPTY_TENANT);
        setReload((n) => n + 1);
        onChange();
      } catch (error) {
        const field = fieldErrorOf(error, ['id', ...SETTING_FIELDS]);
        if (field === null) throw error;
        setErrors({ [field.field]: field.message });
      }
    });
  };

  const remove = (tenant: Tenant) =>
    run(async () => {
      const ok = await confirmAction({
        title: `Delete tenant ${tenant.id}?`,
        body: <p>Every client, API, grant, federation and signing key of <strong>{tenant.name}</strong> is deleted; tokens it issued stop verifying. This cannot be undone.</p>,
        confirmLabel: 'Delete tenant',
        typed: tenant.id,
      });
      if (!ok) return;
      await api.deleteTenant(tenant.id);
      notify('success', `Tenant ${tenant.id} deleted`);
      setReload((n) => n + 1);
      onChange();
    });

  return (
    <>
      <h1>Tenants</h1>
      <Writes>
      <Section title="New tenant" id="new-tenant">
        <form class="form-grid" onSubmit={create} noValidate>
          <Field label="Identifier" error={errors['id']} hint="lower-case letters, digits and dashes">
            {(a) => <input {...a} name="id" required value={form.id} onInput={(e) => setForm({ ...form, id: (e.target as HTMLInputElement).value })} />}
          </Field>
          <TenantFields form={form} setForm={setForm} errors={errors} />
          <div class="actions"><Button type="submit" kind="primary" busy={busy}>Create tenant</Button></div>
        </form>
      </Section>
      </Writes>
      <Section title="All tenants" id="all-tenants">
        <DataList<Tenant>
          label="Tenants"
          deps={[]}
          reloadToken={reload}
          load={() => api.listTenants()}
          search={(t) => `${t.id} ${t.name}`}
          rowKey={(t) => t.id}
          empty="No tenants yet."
          columns={[
            { label: 'Name', sort: (t) => t.name.toLowerCase(), render: (t) => <Link to={`/t/${t.id}/settings`}>{t.name}</Link> },
            { label: 'Identifier', sort: (t) => t.id, render: (t) => <code>{t.id}</code> },
            { label: 'Signing', sort: (t) => t.signingAlg, render: (t) => t.signingAlg },
            { label: 'Token lifetime', render: (t) => (t.accessTokenLifetime === null ? <span class="muted">default</span> : `${t.accessTokenLifetime} s`) },
            { label: 'Created', sort: (t) => t.createdAt, render: (t) => <Time at={t.createdAt} /> },
            { label: 'Actions', render: (t) => (t.id === 'admin' ? <span class="muted">protected</span> : <Button write kind="danger" busy={busy} onClick={() => remove(t)} aria-label={`Delete tenant ${t.id}`}>Delete</Button>) },
          ]}
        />
      </Section>
    </>
  );
}

export function TenantSettingsView({ tenant, onChange }: { tenant: Tenant; onChange: () => void }) {
  const api = useApi();
  const [form, setForm] = useState<TenantSettingsForm>({
    name: tenant.name,
    signingAlg: tenant.signingAlg,
    lifetime: tenant.accessTokenLifetime?.toString() ?? '',
    quota: tenant.tokenQuotaPerMinute?.toString() ?? '',
    // The server answers the effective trust domain: the issuer unless one was set.
    trustDomain: tenant.trustDomain !== undefined && tenant.trustDomain !== tenant.issuer ? tenant.trustDomain : '',
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, run] = useAction();
  const save = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setErrors({});
      try {
        await api.updateTenant(tenant.id, { name: form.name, ...settingsOf(form) });
        notify('success', form.signingAlg !== tenant.signingAlg ? `Saved: ${form.signingAlg} is published now as the next key and signs from the next rotation` : 'Tenant saved');
        onChange();
      } catch (error) {
        const field = fieldErrorOf(error, SETTING_FIELDS);
        if (field === null) throw error;
        setErrors({ [field.field]: field.message });
      }
    });
  };
  const remove = () =>
    run(async () => {
      const ok = await confirmAction({
        title: `Delete tenant ${tenant.id}?`,
        body: <p>Every client, API, grant, federation and signing key of <strong>{tenant.name}</strong> is deleted. This cannot be undone.</p>,
        confirmLabel: 'Delete tenant',
        typed: tenant.id,
      });
      if (!ok) return;
      await api.deleteTenant(tenant.id);
      notify('success', `Tenant ${tenant.id} deleted`);
      onChange();
      navigate('/tenants');
    });
  return (
    <>
      <h1>{tenant.name} <span class="muted">settings</span></h1>
      <Section title="Issuer" id="issuer">
        <dl class="props">
          <dt>Issuer</dt><dd><Copyable value={tenant.issuer} label="issuer" /></dd>
          <dt>Token endpoint</dt><dd><Copyable value={`${tenant.issuer}/token`} label="token endpoint" /></dd>
          <dt>Discovery</dt><dd><Copyable value={`${tenant.issuer}/.well-known/openid-configuration`} label="discovery URL" /></dd>
        </dl>
      </Section>
      <Section title="Settings" id="tenant-settings">
        <form class="form-grid" onSubmit={save} noValidate>
          <TenantFields form={form} setForm={setForm} errors={errors} algHint="a change is published as the next key and signs from the next rotation" />
          <div class="actions">
            <Button write type="submit" kind="primary" busy={busy}>Save</Button>
            {tenant.id !== 'admin' ? <Button write kind="danger" busy={busy} onClick={remove}>Delete tenant</Button> : null}
          </div>
        </form>
      </Section>
    </>
  );
}
