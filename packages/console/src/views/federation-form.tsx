/**
 * Creating and editing a federation with every setting of the management API: kind,
 * issuer and where its keys come from, subject rules or exchange rules with their claim
 * conditions, claim mappings and replay protection. Checked as the server checks it
 * (federation-model.ts), the server's refusal shown at its field, and an edit that
 * takes something away confirmed with what it takes away.
 */
import { useState } from 'preact/hooks';
import type { Federation } from '../api.js';
import { notify } from '../messages.js';
import { Button, confirmAction, Field, useAction, useApi } from '../ui.js';
import { type ClientChoice, ClientPicker } from './client-picker.js';
import {
  buildFederation,
  type ConditionForm,
  type ConditionOperator,
  emptyCondition,
  emptyExchangeRule,
  emptyForm,
  emptyMapping,
  emptyRule,
  type FederationForm,
  type FormErrors,
  formOf,
  lossesOf,
  placeServerError,
  type ReplayMode,
} from './federation-model.js';

const value = (e: Event) => (e.target as HTMLInputElement).value;
const OPERATORS: [ConditionOperator, string][] = [['equals', 'equals'], ['prefix', 'starts with'], ['oneOf', 'is one of']];

/** `onChange` gets a change of the current conditions (events can come faster than renders). */
function ConditionsEditor({ conditions, onChange, errors, owner }: { conditions: ConditionForm[]; onChange: (change: (c: ConditionForm[]) => ConditionForm[]) => void; errors: FormErrors; owner: string }) {
  const set = (key: number, patch: Partial<ConditionForm>) => onChange((all) => all.map((c) => (c.key === key ? { ...c, ...patch } : c)));
  return (
    <fieldset class="field conditions">
      <legend>Claim conditions <span class="muted">(all must hold; only string claims match)</span></legend>
      {conditions.map((c, i) => (
        <div class="condition">
          <Field label={`Claim ${i + 1}`} error={errors[`condition.${c.key}`]}>{(a) => <input {...a} value={c.claim} placeholder="repository" onInput={(e) => set(c.key, { claim: value(e) })} />}</Field>
          <Field label={`Test ${i + 1}`}>
            {(a) => (
              <select {...a} value={c.operator} onChange={(e) => set(c.key, { operator: value(e) as ConditionOperator })}>
                {OPERATORS.map(([op, label]) => <option value={op}>{label}</option>)}
              </select>
            )}
          </Field>
          <Field label={`Value ${i + 1}`} hint={c.operator === 'oneOf' ? 'separate values with commas' : undefined}>
            {(a) => <input {...a} value={c.value} onInput={(e) => set(c.key, { value: value(e) })} />}
          </Field>
          <Button class="btn-small" onClick={() => onChange((all) => all.filter((x) => x.key !== c.key))} aria-label={`Remove claim condition ${i + 1} of ${owner}`}>Remove</Button>
        </div>
      ))}
      <div><Button class="btn-small" onClick={() => onChange((all) => [...all, emptyCondition()])} aria-label={`Add claim condition to ${owner}`}>Add claim condition</Button></div>
    </fieldset>
  );
}

export function FederationEditor({ tenant, initial, clients, onDone }: { tenant: string; initial: Federation | null; clients: readonly ClientChoice[]; onDone: (saved: Federation | null) => void }) {
  const api = useApi();
  const [form, setForm] = useState<FederationForm>(() => (initial === null ? emptyForm() : formOf(initial)));
  const [errors, setErrors] = useState<FormErrors>({});
  const [busy, run] = useAction();
  const clientName = (id: string) => clients.find((c) => c.clientId === id)?.name ?? id;
  // From the state as it is when applied: several events can arrive before a render.
  const update = (patch: Partial<FederationForm> | ((f: FederationForm) => Partial<FederationForm>)) => setForm((f) => ({ ...f, ...(typeof patch === 'function' ? patch(f) : patch) }));
  const heading = initial === null ? 'New federation' : `Edit ${initial.name}`;

  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setErrors({});
      const built = buildFederation(form);
      if ('errors' in built) {
        setErrors(built.errors);
        notify('error', 'The federation was not saved: see the fields marked in red');
        return;
      }
      if (initial !== null) {
        const losses = lossesOf(initial, built, clientName);
        if (losses.length > 0) {
          const ok = await confirmAction({
            title: `Save ${initial.name} and lose access?`,
            body: (
              <>
                <p>This change takes away:</p>
                <ul>{losses.map((loss) => <li>{loss}</li>)}</ul>
              </>
            ),
            confirmLabel: 'Save and lose this access',
          });
          if (!ok) return;
        }
      }
      try {
        const saved = initial === null ? await api.createFederation(tenant, built.input) : await api.updateFederation(tenant, initial.id, built.input);
        notify('success', `Federation ${saved.name} ${initial === null ? 'created' : 'saved'}`);
        if (initial === null) setForm(emptyForm());
        onDone(saved);
      } catch (error) {
        const placed = placeServerError(error, built);
        if (placed === null) throw error;
        setErrors(placed);
        notify('error', `The server refused the federation: ${Object.values(placed)[0] ?? ''}`);
      }
    });
  };

  const workload = form.kind === 'workload';
  return (
    <form class="form-grid federation-form" onSubmit={submit} noValidate aria-label={heading}>
      {errors['form'] ? <p class="field-error full" role="alert">{errors['form']}</p> : null}
      <Field label="Name" error={errors['name']}>{(a) => <input {...a} name="name" value={form.name} onInput={(e) => update({ name: value(e) })} />}</Field>
      <Field label="Issuer" error={errors['issuer']} hint="the external tokens' iss, exactly: an https URL">{(a) => <input {...a} name="issuer" inputMode="url" value={form.issuer} onInput={(e) => update({ issuer: value(e) })} />}</Field>
      <fieldset class="field">
        <legend>Kind</legend>
        <label class="inline"><input type="radio" name="fedKind" checked={workload} onChange={() => update({ kind: 'workload' })} /> Workloads: their tokens act as a client (RFC 7523)</label>
        <label class="inline"><input type="radio" name="fedKind" checked={!workload} onChange={() => update({ kind: 'subject' })} /> Token exchange: users' tokens exchanged on their behalf (RFC 8693)</label>
      </fieldset>
      <fieldset class="field">
        <legend>Issuer keys</legend>
        <label class="inline"><input type="radio" name="fedKeys" checked={form.keySource === 'discovery'} onChange={() => update({ keySource: 'discovery' })} /> Discovery (the issuer's openid-configuration)</label>
        <label class="inline"><input type="radio" name="fedKeys" checked={form.keySource === 'jwksUri'} onChange={() => update({ keySource: 'jwksUri' })} /> JWK Set URL</label>
        <label class="inline"><input type="radio" name="fedKeys" checked={form.keySource === 'jwks'} onChange={() => update({ keySource: 'jwks' })} /> Inline JWK Set</label>
        {errors['keys'] ? <p class="field-error">{errors['keys']}</p> : null}
      </fieldset>
      {form.keySource === 'jwksUri' ? (
        <Field label="JWK Set URL" error={errors['jwksUri']}>{(a) => <input {...a} name="jwksUri" type="url" value={form.jwksUri} onInput={(e) => update({ jwksUri: value(e) })} />}</Field>
      ) : form.keySource === 'jwks' ? (
        <Field label="JWK Set (JSON)" error={errors['jwks']} hint="public keys only">{(a) => <textarea {...a} name="jwks" rows={4} value={form.jwks} onInput={(e) => update({ jwks: value(e) })} />}</Field>
      ) : null}
      {workload ? (
        <Field label="Expected audience" error={errors['audience']} hint="optional: the external tokens' aud">{(a) => <input {...a} name="audience" value={form.audience} onInput={(e) => update({ audience: value(e) })} />}</Field>
      ) : null}

      {workload ? (
        <fieldset class="field rules">
          <legend>Rules: which external tokens act as which client (the first that matches wins)</legend>
          {form.rules.map((rule, index) => {
            const owner = `rule ${index + 1}`;
            const set = (patch: Partial<typeof rule> | ((r: typeof rule) => Partial<typeof rule>)) => update((f) => ({ rules: f.rules.map((r) => (r.key === rule.key ? { ...r, ...(typeof patch === 'function' ? patch(r) : patch) } : r)) }));
            return (
              <div class="rule-card" role="group" aria-label={`Rule ${index + 1}`}>
                <div class="rule">
                  <Field label={`Subject ${index + 1}`} error={errors[`rule.${rule.key}.subject`]} hint="exact, a prefix ending in *, or empty for any subject (then give a claim condition)">
                    {(a) => <input {...a} value={rule.subject} onInput={(e) => set({ subject: value(e) })} />}
                  </Field>
                  <Field label={`Client ${index + 1}`} error={errors[`rule.${rule.key}.clientId`]}>
                    {(a) => (
                      <select {...a} value={rule.clientId} onChange={(e) => set({ clientId: value(e) })}>
                        <option value="">Choose a client…</option>
                        {clients.map((c) => <option value={c.clientId}>{c.name}</option>)}
                      </select>
                    )}
                  </Field>
                  {form.rules.length > 1 ? <Button class="btn-small" onClick={() => update((f) => ({ rules: f.rules.filter((r) => r.key !== rule.key) }))} aria-label={`Remove rule ${index + 1}`}>Remove rule</Button> : null}
                </div>
                <ConditionsEditor conditions={rule.conditions} onChange={(change) => set((r) => ({ conditions: change(r.conditions) }))} errors={errors} owner={owner} />
                {errors[`rule.${rule.key}`] ? <p class="field-error">{errors[`rule.${rule.key}`]}</p> : null}
              </div>
            );
          })}
          <div><Button class="btn-small" onClick={() => update((f) => ({ rules: [...f.rules, emptyRule()] }))}>Add rule</Button></div>
          {errors['rules'] ? <p class="field-error">{errors['rules']}</p> : null}
        </fieldset>
      ) : (
        <fieldset class="field rules">
          <legend>Exchange rules: which clients may exchange tokens issued for which audience</legend>
          {form.exchangeRules.map((rule, index) => {
            const owner = `exchange rule ${index + 1}`;
            const set = (patch: Partial<typeof rule> | ((r: typeof rule) => Partial<typeof rule>)) => update((f) => ({ exchangeRules: f.exchangeRules.map((r) => (r.key === rule.key ? { ...r, ...(typeof patch === 'function' ? patch(r) : patch) } : r)) }));
            return (
              <div class="rule-card" role="group" aria-label={`Exchange rule ${index + 1}`}>
                <div class="rule">
                  <Field label={`Audience ${index + 1}`} error={errors[`rule.${rule.key}.audience`]} hint="an aud of the subject tokens (the app they were issued for)">
                    {(a) => <input {...a} value={rule.audience} onInput={(e) => set({ audience: value(e) })} />}
                  </Field>
                  {form.exchangeRules.length > 1 ? <Button class="btn-small" onClick={() => update((f) => ({ exchangeRules: f.exchangeRules.filter((r) => r.key !== rule.key) }))} aria-label={`Remove exchange rule ${index + 1}`}>Remove rule</Button> : null}
                </div>
                <ClientPicker legend={`Clients of exchange rule ${index + 1}`} chosen={rule.clients} clients={clients} onChange={(change) => set((r) => ({ clients: change(r.clients) }))} error={errors[`rule.${rule.key}.clients`]} />
                <ConditionsEditor conditions={rule.conditions} onChange={(change) => set((r) => ({ conditions: change(r.conditions) }))} errors={errors} owner={owner} />
                {errors[`rule.${rule.key}`] ? <p class="field-error">{errors[`rule.${rule.key}`]}</p> : null}
              </div>
            );
          })}
          <div><Button class="btn-small" onClick={() => update((f) => ({ exchangeRules: [...f.exchangeRules, emptyExchangeRule()] }))}>Add exchange rule</Button></div>
          {errors['rules'] ? <p class="field-error">{errors['rules']}</p> : null}
        </fieldset>
      )}

      <fieldset class="field mappings">
        <legend>Claim mappings: copied from the external token into issued tokens</legend>
        {form.mappings.length === 0 ? <p class="hint">None: issued tokens carry no claim of the external token.</p> : null}
        {form.mappings.map((m, i) => {
          const set = (patch: Partial<typeof m>) => update((f) => ({ mappings: f.mappings.map((x) => (x.key === m.key ? { ...x, ...patch } : x)) }));
          return (
            <div class="rule">
              <Field label={`Claim in issued tokens ${i + 1}`} error={errors[`mapping.${m.key}`]}>{(a) => <input {...a} value={m.target} placeholder="repository" onInput={(e) => set({ target: value(e) })} />}</Field>
              <Field label={`External claim ${i + 1}`}>{(a) => <input {...a} value={m.source} placeholder="repository" onInput={(e) => set({ source: value(e) })} />}</Field>
              <Button class="btn-small" onClick={() => update((f) => ({ mappings: f.mappings.filter((x) => x.key !== m.key) }))} aria-label={`Remove claim mapping ${i + 1}`}>Remove</Button>
            </div>
          );
        })}
        <div><Button class="btn-small" onClick={() => update((f) => ({ mappings: [...f.mappings, emptyMapping()] }))}>Add claim mapping</Button></div>
        {errors['claimMappings'] ? <p class="field-error">{errors['claimMappings']}</p> : null}
      </fieldset>

      <Field label="Replay protection" hint="off: platforms present the same token many times; single-use: each jti once, across replicas; max-age: refused some seconds after its iat">
        {(a) => (
          <select {...a} name="replay" value={form.replay} onChange={(e) => update({ replay: value(e) as ReplayMode })}>
            <option value="off">Off</option>
            <option value="single-use">Single use (each token once)</option>
            <option value="max-age">Maximum age</option>
          </select>
        )}
      </Field>
      {form.replay === 'max-age' ? (
        <Field label="Maximum age (seconds)" error={errors['maxAgeSeconds']} hint="1 to 86400, counted from the token's iat">{(a) => <input {...a} name="maxAgeSeconds" inputMode="numeric" value={form.maxAge} onInput={(e) => update({ maxAge: value(e) })} />}</Field>
      ) : errors['maxAgeSeconds'] ? <p class="field-error">{errors['maxAgeSeconds']}</p> : null}

      <div class="actions">
        <Button type="submit" kind="primary" busy={busy}>{initial === null ? 'Create federation' : 'Save federation'}</Button>
        {initial !== null ? <Button onClick={() => onDone(null)}>Cancel</Button> : null}
      </div>
    </form>
  );
}
