import { useEffect, useState } from 'preact/hooks';
import type { AuditEntry, AuditFilter } from '../api.js';
import { clientName, resolveClients, useNames } from '../names.js';
import { navigate } from '../router.js';
import { ServerList } from '../server-list.js';
import { Button, Field, Link, Section, Time, useApi } from '../ui.js';

const KEYS = ['action', 'actor', 'targetType', 'targetId', 'since', 'until'] as const;

/** Midnight at the start of a `YYYY-MM-DD` day, in the viewer's time zone; NaN for anything else. */
function startOfDay(value: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  return match === null ? Number.NaN : new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3])).getTime();
}

/**
 * Filters live in the URL, so a filtered audit view is a link to share. Dates are whole
 * days of the viewer's zone: "since" from the start of its day, "until" to the end of
 * its day, included (the server's `until` is exclusive: the next day's midnight).
 */
export function filterOf(query: URLSearchParams): AuditFilter {
  const filter: AuditFilter = {};
  for (const key of KEYS) {
    const value = query.get(key);
    if (value === null || value === '') continue;
    if (key === 'since' || key === 'until') {
      const start = startOfDay(value);
      if (Number.isNaN(start)) continue;
      if (key === 'since') filter.since = start;
      else {
        const next = new Date(start);
        next.setDate(next.getDate() + 1);
        filter.until = next.getTime();
      }
    } else filter[key] = value;
  }
  return filter;
}

export function AuditView({ tenant, query }: { tenant: string; query: URLSearchParams }) {
  const api = useApi();
  const [shown, setShown] = useState<string[]>([]);
  const names = useNames(api, tenant, shown);
  const filter = filterOf(query);
  const fromQuery = () => Object.fromEntries(KEYS.map((k) => [k, query.get(k) ?? '']));
  const [form, setForm] = useState<Record<string, string>>(fromQuery);
  // Back and Forward change the URL: the fields follow it, never showing filters that no longer apply.
  useEffect(() => setForm(fromQuery()), [query.toString()]);
  const apply = (e: Event) => {
    e.preventDefault();
    const params = new URLSearchParams(Object.entries(form).filter(([, v]) => v.trim() !== ''));
    const text = params.toString();
    navigate(`/t/${tenant}/audit${text ? `?${text}` : ''}`);
  };
  const target = (e: AuditEntry) => {
    if (e.targetType === 'client') return <Link to={`/t/${tenant}/clients/${e.targetId}`}>{clientName(names, e.targetId)}</Link>;
    if (e.targetType === 'api') return <Link to={`/t/${tenant}/apis/${e.targetId}`}>{names?.apis.get(e.targetId)?.name ?? e.targetId}</Link>;
    return <code class="id">{e.targetId}</code>;
  };
  const label: Record<string, string> = { action: 'Action', actor: 'Actor', targetType: 'Target type', targetId: 'Target ID', since: 'Since (date)', until: 'Until (date)' };
  return (
    <>
      <h1>Audit log</h1>
      <Section title="Filters" id="audit-filters">
        <form class="form-grid filters" onSubmit={apply}>
          {KEYS.map((key) => (
            <Field label={label[key] ?? key} hint={key === 'action' ? 'e.g. client.create' : undefined}>
              {(a) => <input {...a} name={key} type={key === 'since' || key === 'until' ? 'date' : 'text'} value={form[key]} onInput={(e) => setForm({ ...form, [key]: (e.target as HTMLInputElement).value })} />}
            </Field>
          ))}
          <div class="actions">
            <Button type="submit" kind="primary">Apply filters</Button>
            <Button onClick={() => { setForm(Object.fromEntries(KEYS.map((k) => [k, '']))); navigate(`/t/${tenant}/audit`); }}>Clear</Button>
          </div>
        </form>
      </Section>
      <Section title="Changes" id="audit-entries">
        <ServerList<AuditEntry, 'at'>
          label="Audit entries"
          deps={[tenant, query.toString()]}
          load={async (list) => {
            // A page arrives with the names of the clients it shows (as actor or target).
            const page = await api.listAudit(tenant, { ...filter, order: list.order }, list.cursor, list.limit);
            const ids = page.items.flatMap((e) => [...(e.targetType === 'client' ? [e.targetId] : []), ...(e.actor.startsWith('console:') ? [] : [e.actor])]);
            await resolveClients(api, tenant, ids);
            setShown(ids);
            return page;
          }}
          initialSort={{ sort: 'at', order: 'desc' }}
          firstOrder={{ at: 'desc' }}
          searchPlaceholder={null}
          rowKey={(e) => e.id}
          empty="No changes match."
          columns={[
            { label: 'When', sort: 'at', render: (e) => <Time at={e.at} /> },
            { label: 'Who', render: (e) => <span class="id">{e.actor.startsWith('console:') ? e.actor : clientName(names, e.actor)}</span> },
            { label: 'Action', render: (e) => <code>{e.action}</code> },
            { label: 'Target', render: (e) => <>{e.targetType} {target(e)}</> },
            { label: 'Details', render: (e) => <code class="details">{Object.keys(e.details).length === 0 ? '' : JSON.stringify(e.details)}</code> },
          ]}
        />
      </Section>
    </>
  );
}
