import { useState } from 'preact/hooks';
import type { Federation, FederationRule } from '../api.js';
import { notify } from '../messages.js';
import { clientName, useNames } from '../names.js';
import { Button, confirmAction, DataList, Field, fieldErrorOf, Link, Section, Time, useAction, useApi, Writes } from '../ui.js';

interface FedForm { name: string; issuer: string; keySource: 'jwksUri' | 'jwks'; jwksUri: string; jwks: string; audience: string; rules: FederationRule[] }
const EMPTY: FedForm = { name: '', issuer: '', keySource: 'jwksUri', jwksUri: '', jwks: '', audience: '', rules: [{ subject: '', clientId: '' }] };

export function FederationsView({ tenant }: { tenant: string }) {
  const api = useApi();
  const names = useNames(api, tenant);
  const [form, setForm] = useState<FedForm>(EMPTY);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [reload, setReload] = useState(0);
  const [busy, run] = useAction();
  const v = (e: Event) => (e.target as HTMLInputElement).value;
  const setRule = (index: number, rule: Partial<FederationRule>) => setForm({ ...form, rules: form.rules.map((r, i) => (i === index ? { ...r, ...rule } : r)) });

  const create = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setErrors({});
      let jwks: { keys: Record<string, unknown>[] } | null = null;
      if (form.keySource === 'jwks') {
        try {
          jwks = JSON.parse(form.jwks) as { keys: Record<string, unknown>[] };
        } catch {
          setErrors({ jwks: 'paste the issuer\'s JWK Set as JSON' });
          return;
        }
      }
      const rules = form.rules.filter((r) => r.subject.trim() !== '' || r.clientId !== '');
      if (rules.length === 0 || rules.some((r) => r.subject.trim() === '' || r.clientId === '')) {
        setErrors({ rules: 'each rule needs a subject and a client' });
        return;
      }
      try {
        const created = await api.createFederation(tenant, {
          name: form.name.trim(),
          issuer: form.issuer.trim(),
          ...(form.keySource === 'jwksUri' ? { jwksUri: form.jwksUri.trim() } : { jwks }),
          audience: form.audience.trim() === '' ? null : form.audience.trim(),
          rules: rules.map((r) => ({ subject: r.subject.trim(), clientId: r.clientId })),
        });
        setForm(EMPTY);
        setReload((n) => n + 1);
        notify('success', `Federation ${created.name} created`);
      } catch (error) {
        const field = fieldErrorOf(error, ['name', 'issuer', 'jwksUri', 'jwks', 'audience', 'rules']);
        if (field === null) throw error;
        setErrors({ [field.field]: field.message });
      }
    });
  };
  const remove = (f: Federation) =>
    run(async () => {
      const ok = await confirmAction({
        title: `Delete federation ${f.name}?`,
        body: <p>Workloads with tokens from <code>{f.issuer}</code> can no longer exchange them: {f.rules.length} rule(s) stop mapping subjects to clients.</p>,
        confirmLabel: 'Delete federation',
      });
      if (!ok) return;
      await api.deleteFederation(tenant, f.id);
      notify('success', `Federation ${f.name} deleted`);
      setReload((n) => n + 1);
    });
  const clients = [...(names?.clients.values() ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <>
      <h1>Federations</h1>
      <p class="hint">Trusted external issuers (Kubernetes, GitHub Actions, a cloud): their workloads' tokens are exchanged for Tessera tokens (RFC 7523 §2.1) as the client a rule maps their subject to.</p>
      <Writes>
      <Section title="New federation" id="new-federation">
        <form class="form-grid" onSubmit={create} noValidate>
          <Field label="Name" error={errors['name']}>{(a) => <input {...a} name="name" value={form.name} onInput={(e) => setForm({ ...form, name: v(e) })} />}</Field>
          <Field label="Issuer" error={errors['issuer']} hint="the external tokens' iss, exactly">{(a) => <input {...a} name="issuer" value={form.issuer} onInput={(e) => setForm({ ...form, issuer: v(e) })} />}</Field>
          <fieldset class="field">
            <legend>Issuer keys</legend>
            <label class="inline"><input type="radio" name="fedKeys" checked={form.keySource === 'jwksUri'} onChange={() => setForm({ ...form, keySource: 'jwksUri' })} /> JWK Set URL</label>
            <label class="inline"><input type="radio" name="fedKeys" checked={form.keySource === 'jwks'} onChange={() => setForm({ ...form, keySource: 'jwks' })} /> Inline JWK Set</label>
          </fieldset>
          {form.keySource === 'jwksUri' ? (
            <Field label="JWK Set URL" error={errors['jwksUri']}>{(a) => <input {...a} name="jwksUri" type="url" value={form.jwksUri} onInput={(e) => setForm({ ...form, jwksUri: v(e) })} />}</Field>
          ) : (
            <Field label="JWK Set (JSON)" error={errors['jwks']}>{(a) => <textarea {...a} name="jwks" rows={4} value={form.jwks} onInput={(e) => setForm({ ...form, jwks: v(e) })} />}</Field>
          )}
          <Field label="Expected audience" error={errors['audience']} hint="optional: the external tokens' aud">{(a) => <input {...a} name="audience" value={form.audience} onInput={(e) => setForm({ ...form, audience: v(e) })} />}</Field>
          <fieldset class="field rules">
            <legend>Rules: subject → client</legend>
            {form.rules.map((rule, index) => (
              <div class="rule">
                <Field label={`Subject ${index + 1}`} hint="exact, or a prefix ending in *">{(a) => <input {...a} value={rule.subject} onInput={(e) => setRule(index, { subject: v(e) })} />}</Field>
                <Field label={`Client ${index + 1}`}>
                  {(a) => (
                    <select {...a} value={rule.clientId} onChange={(e) => setRule(index, { clientId: v(e) })}>
                      <option value="">Choose a client…</option>
                      {clients.map((c) => <option value={c.clientId}>{c.name}</option>)}
                    </select>
                  )}
                </Field>
                {form.rules.length > 1 ? <Button class="btn-small" onClick={() => setForm({ ...form, rules: form.rules.filter((_, i) => i !== index) })} aria-label={`Remove rule ${index + 1}`}>Remove</Button> : null}
              </div>
            ))}
            <Button class="btn-small" onClick={() => setForm({ ...form, rules: [...form.rules, { subject: '', clientId: '' }] })}>Add rule</Button>
            {errors['rules'] ? <p class="field-error">{errors['rules']}</p> : null}
          </fieldset>
          <div class="actions"><Button type="submit" kind="primary" busy={busy}>Create federation</Button></div>
        </form>
      </Section>
      </Writes>
      <Section title="All federations" id="all-federations">
        <DataList<Federation>
          label="Federations"
          deps={[tenant]}
          reloadToken={reload}
          load={() => api.listFederations(tenant)}
          search={(f) => `${f.name} ${f.issuer} ${f.rules.map((r) => `${r.subject} ${clientName(names, r.clientId)}`).join(' ')}`}
          rowKey={(f) => f.id}
          empty="No federations yet."
          columns={[
            { label: 'Name', sort: (f) => f.name.toLowerCase(), render: (f) => f.name },
            { label: 'Issuer', sort: (f) => f.issuer, render: (f) => <code class="id">{f.issuer}</code> },
            { label: 'Rules', render: (f) => <ul class="plain">{f.rules.map((r) => <li><code>{r.subject}</code> → <Link to={`/t/${tenant}/clients/${r.clientId}`}>{clientName(names, r.clientId)}</Link></li>)}</ul> },
            { label: 'Created', sort: (f) => f.createdAt, render: (f) => <Time at={f.createdAt} /> },
            { label: 'Actions', render: (f) => <Button write kind="danger" busy={busy} onClick={() => remove(f)} aria-label={`Delete federation ${f.name}`}>Delete</Button> },
          ]}
        />
      </Section>
    </>
  );
}
