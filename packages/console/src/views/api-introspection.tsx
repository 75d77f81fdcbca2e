/**
 * An API's token format and introspectors (RFC 7662): which clients besides a token's
 * own may ask whether this API's tokens are active. Saved together, in place (PATCH);
 * a change that leaves a resource server unable to check tokens is confirmed first,
 * naming it.
 */
import { useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';
import { notify } from '../messages.js';
import { useClientChoices, useNames } from '../names.js';
import { Button, confirmAction, Field, Section, useAction, useApi, usePermissions } from '../ui.js';
import { ClientPicker } from './client-picker.js';

type TokenFormat = 'jwt' | 'opaque';
const formatOf = (api: Api): TokenFormat => (api.tokenFormat === 'opaque' ? 'opaque' : 'jwt');

/** What saving takes away, one sentence each. */
export function introspectionLosses(api: Api, next: { tokenFormat: TokenFormat; introspectors: readonly string[] }, nameOf: (id: string) => string): string[] {
  const losses = api.introspectors.filter((id) => !next.introspectors.includes(id)).map((id) => `${nameOf(id)} can no longer introspect ${api.name}'s tokens: a resource server checking tokens with it gets "active": false for all of them`);
  if (formatOf(api) === 'jwt' && next.tokenFormat === 'opaque') {
    losses.push(`new tokens for ${api.name} are opaque: resource servers that verify JWTs offline (@tessera/verifier, a JWKS) reject them and must introspect instead; tokens issued before stay JWTs until they expire`);
  }
  return losses;
}

export function IntrospectionSettings({ tenant, target, onSaved }: { tenant: string; target: Api; onSaved: () => void }) {
  const api = useApi();
  const { canWrite } = usePermissions();
  const [draft, setDraft] = useState<{ tokenFormat: TokenFormat; introspectors: string[] } | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, run] = useAction();
  const current = draft ?? { tokenFormat: formatOf(target), introspectors: [...target.introspectors] };
  const names = useNames(api, tenant, [...target.introspectors, ...current.introspectors]);
  // The menu to add an introspector lists the tenant's clients; a viewer has no menu.
  const choices = useClientChoices(api, tenant, canWrite);
  const nameOf = (id: string) => names?.clients.get(id)?.name ?? choices.find((c) => c.clientId === id)?.name ?? id;
  const clients = [...choices, ...current.introspectors.filter((id) => !choices.some((c) => c.clientId === id)).map((id) => ({ clientId: id, name: nameOf(id) }))];
  const changed = current.tokenFormat !== formatOf(target) || current.introspectors.join('\n') !== target.introspectors.join('\n');

  const save = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setErrors({});
      const losses = introspectionLosses(target, current, nameOf);
      if (losses.length > 0) {
        const ok = await confirmAction({
          title: `Change how ${target.name}'s tokens are checked?`,
          body: <><p>This change takes away:</p><ul>{losses.map((loss) => <li>{loss}</li>)}</ul></>,
          confirmLabel: 'Save and lose this access',
        });
        if (!ok) return;
      }
      const patch = {
        ...(current.tokenFormat !== formatOf(target) ? { tokenFormat: current.tokenFormat } : {}),
        ...(current.introspectors.join('\n') !== target.introspectors.join('\n') ? { introspectors: current.introspectors } : {}),
      };
      try {
        await api.updateApi(tenant, target.id, patch);
        setDraft(null);
        notify('success', `${target.name}: token format and introspectors saved`);
        onSaved();
      } catch (error) {
        if (!(error instanceof ApiError) || ![400, 409, 422].includes(error.status)) throw error;
        const message = error.message.replace(/^body\//, '');
        if (/^introspector/.test(message)) setErrors({ introspectors: message.replace(/^introspectors\S*\s+/, '') });
        else if (/^tokenFormat/.test(message)) setErrors({ tokenFormat: message.replace(/^tokenFormat\S*\s+/, '') });
        else throw error;
      }
    });
  };

  return (
    <Section title="Token format and introspection" id="introspection">
      <form onSubmit={save} noValidate>
        <Field label="Token format" error={errors['tokenFormat']} hint="JWT: resource servers verify tokens offline with the tenant's keys. Opaque: only introspection can check them.">
          {(a) => (
            <select {...a} name="introspectionTokenFormat" value={current.tokenFormat} disabled={!canWrite} onChange={(e) => setDraft({ ...current, tokenFormat: (e.target as HTMLSelectElement).value as TokenFormat })}>
              <option value="jwt">JWT (RFC 9068), verified offline</option>
              <option value="opaque">Opaque, checked by introspection</option>
            </select>
          )}
        </Field>
        <ClientPicker
          legend="Introspectors"
          hint="Clients allowed to introspect this API's tokens (RFC 7662), besides the token's own client: usually the resource servers' own clients."
          chosen={current.introspectors}
          clients={clients}
          disabled={!canWrite}
          onChange={(change) => setDraft((d) => {
            const base = d ?? current;
            return { ...base, introspectors: change(base.introspectors) };
          })}
          error={errors['introspectors']}
        />
        {current.tokenFormat === 'opaque' && current.introspectors.length === 0 ? (
          <p class="notice" role="note">Opaque tokens with no introspector: only the client a token was issued to can introspect it, so a resource server cannot check them. Add its client as an introspector.</p>
        ) : null}
        {canWrite ? (
          <div class="actions">
            <Button type="submit" kind="primary" busy={busy} disabled={!changed}>Save token format and introspectors</Button>
            {changed ? <Button onClick={() => { setDraft(null); setErrors({}); }}>Discard changes</Button> : null}
          </div>
        ) : null}
      </form>
    </Section>
  );
}
