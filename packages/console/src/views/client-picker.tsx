/** A list of clients chosen from the tenant's: each with its remove button, and a menu to add one. */
import { Button } from '../ui.js';

export interface ClientChoice { clientId: string; name: string }

export function ClientPicker(props: {
  legend: string;
  chosen: readonly string[];
  clients: readonly ClientChoice[];
  /** A change of the current list (events can come faster than renders). */
  onChange: (change: (ids: readonly string[]) => string[]) => void;
  error?: string | undefined;
  hint?: string;
  /** Asked before a client is taken off the list; false keeps it. */
  beforeRemove?: (clientId: string) => Promise<boolean>;
  disabled?: boolean;
}) {
  const nameOf = (id: string) => props.clients.find((c) => c.clientId === id)?.name ?? id;
  const addable = props.clients.filter((c) => !props.chosen.includes(c.clientId));
  const remove = async (id: string) => {
    if (props.beforeRemove !== undefined && !(await props.beforeRemove(id))) return;
    props.onChange((ids) => ids.filter((x) => x !== id));
  };
  return (
    <fieldset class="field picker">
      <legend>{props.legend}</legend>
      {props.hint ? <p class="hint">{props.hint}</p> : null}
      {props.chosen.length === 0 ? <p class="empty">None yet.</p> : (
        <ul class="rows">
          {props.chosen.map((id) => (
            <li>
              <span>{nameOf(id)}</span> {nameOf(id) !== id ? <code class="id muted">{id}</code> : null}
              {props.disabled ? null : <Button class="btn-small" onClick={() => void remove(id)} aria-label={`Remove ${nameOf(id)} from ${props.legend.toLowerCase()}`}>Remove</Button>}
            </li>
          ))}
        </ul>
      )}
      {props.disabled ? null : (
        <label class="inline">
          Add a client{' '}
          <select
            value=""
            onChange={(e) => {
              const select = e.target as HTMLSelectElement;
              const id = select.value;
              select.value = '';
              if (id !== '') props.onChange((ids) => (ids.includes(id) ? [...ids] : [...ids, id]));
            }}
          >
            <option value="">Choose a client…</option>
            {addable.map((c) => <option value={c.clientId}>{c.name}</option>)}
          </select>
        </label>
      )}
      {props.error ? <p class="field-error">{props.error}</p> : null}
    </fieldset>
  );
}
