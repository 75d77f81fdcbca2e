/**
 * A grant's custom claims (added to every token the client gets for that API), shown
 * where grants are listed and changed in place (PATCH, same grant id). A viewer sees them.
 */
import { useState } from 'preact/hooks';
import { ApiError, type Grant } from '../api.js';
import { notify } from '../messages.js';
import { Button, Field, useAction, useApi, usePermissions } from '../ui.js';
import { claimsText, customClaimsOf, fieldMessage } from '../validation.js';

const FIELD = 'customClaims';

/** The server's refusal in words at the field: its rule, without the field's name in front. */
function refusal(error: ApiError): string {
  return error.field === FIELD ? fieldMessage(FIELD, error.message) : error.message;
}

export function GrantClaims({ tenant, grant, who, onSaved }: { tenant: string; grant: Grant; who: string; onSaved: () => void }) {
  const api = useApi();
  const { canWrite } = usePermissions();
  const [busy, run] = useAction();
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const entries = Object.entries(grant.customClaims);

  const save = (e: Event) => {
    e.preventDefault();
    if (text === null) return;
    void run(async () => {
      setError(null);
      let customClaims: Record<string, unknown> | null;
      try {
        customClaims = customClaimsOf(text);
      } catch (failure) {
        if (failure instanceof ApiError) return setError(refusal(failure));
        throw failure;
      }
      try {
        await api.updateGrant(tenant, grant.id, { customClaims: customClaims ?? {} });
      } catch (failure) {
        if (failure instanceof ApiError && (failure.status === 400 || failure.status === 422)) return setError(refusal(failure));
        throw failure;
      }
      notify('success', `${who}: custom claims saved`);
      setText(null);
      onSaved();
    });
  };

  if (text !== null) {
    return (
      <form class="grant-claims" onSubmit={save} noValidate>
        <Field label={`Custom claims of ${who} (JSON)`} error={error} hint='added to every token of this grant, e.g. {"tier": "gold"}; empty for none'>
          {(a) => <textarea {...a} name="customClaims" rows={3} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />}
        </Field>
        <div class="actions">
          <Button type="submit" kind="primary" busy={busy}>Save claims</Button>
          <Button busy={busy} onClick={() => { setText(null); setError(null); }}>Cancel</Button>
        </div>
      </form>
    );
  }
  return (
    <div class="grant-claims">
      {entries.length === 0 ? <span class="muted">no custom claims</span> : (
        <dl class="claims" aria-label={`Custom claims of ${who}`}>
          {entries.map(([name, value]) => <><dt><code>{name}</code></dt><dd><code>{JSON.stringify(value)}</code></dd></>)}
        </dl>
      )}
      {canWrite ? <Button class="btn-small" onClick={() => setText(claimsText(grant.customClaims))} aria-label={`Edit custom claims of ${who}`}>Edit custom claims</Button> : null}
    </div>
  );
}
