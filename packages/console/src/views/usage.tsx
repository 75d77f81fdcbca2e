import { useState } from 'preact/hooks';
import type { Dormant, Unused, UnusedGrant, UsageTop, Waste } from '../api.js';
import { notify } from '../messages.js';
import { clientName, resolveClients, useNames } from '../names.js';
import { Button, confirmAction, describeError, Link, Section, Time, useAction, useApi, useLoad } from '../ui.js';
import { UsageChart, UsageUnavailable } from './usage-chart.js';

/** Findings of the unused-grant report per page. */
const UNUSED_PAGE = 20;
/** Dormant clients and secrets per page. */
const DORMANT_PAGE = 20;
/** The management API's audience: its grants are changed by hand, never in bulk. */
const MANAGEMENT_AUDIENCE = 'urn:tessera:management';

interface NarrowResult {
  finding: UnusedGrant;
  /** null: narrowed. */
  error: string | null;
}

/** Tenant-wide usage: tokens over time, unused scopes, dormant clients and secrets, token waste. */
export function UsageView({ tenant }: { tenant: string }) {
  const api = useApi();
  const [days, setDays] = useState(30);
  // The unused-grant report a page at a time: unusedCursors[i] loads page i.
  const [unusedCursors, setUnusedCursors] = useState<(string | null)[]>([null]);
  const [changed, setChanged] = useState(0);
  const unusedCursor = unusedCursors[unusedCursors.length - 1] ?? null;
  // Each report arrives with the names of its clients, so rows never show an id first.
  const unused = useLoad<Unused>(() => api.unused(tenant, days, { limit: UNUSED_PAGE, cursor: unusedCursor }).then(async (u) => (await resolveClients(api, tenant, u.grants.map((g) => g.clientId)), u)), [tenant, days, unusedCursor, changed]);
  const [results, setResults] = useState<NarrowResult[] | null>(null);
  const lookBack = (d: number) => {
    setDays(d);
    setUnusedCursors([null]);
    setDormantPage(0);
    setResults(null);
  };
  const dormant = useLoad<Dormant>(() => api.dormant(tenant, days).then(async (d) => (await resolveClients(api, tenant, d.secrets.map((s) => s.clientId)), d)), [tenant, days]);
  const waste = useLoad<Waste>(() => api.waste(tenant, days).then(async (w) => (await resolveClients(api, tenant, w.clients.map((c) => c.clientId)), w)), [tenant, days]);
  const names = useNames(api, tenant, [...(unused.data?.grants ?? []).map((g) => g.clientId), ...(dormant.data?.secrets ?? []).map((s) => s.clientId), ...(waste.data?.clients ?? []).map((c) => c.clientId)]);
  const busiest = useLoad<{ clients: UsageTop; apis: UsageTop }>(async () => {
    const range = { from: Date.now() - days * 86_400_000, limit: 10 };
    const [clients, apis] = await Promise.all([api.top(tenant, 'client', range), api.top(tenant, 'api', range)]);
    return { clients, apis };
  }, [tenant, days]);
  const [busy, run] = useAction();
  const apply = (g: UnusedGrant) =>
    run(async () => {
      // The window the finding was computed over, which is what the page shows.
      const window = unused.data?.days ?? days;
      const who = clientName(names, g.clientId);
      const ok = await confirmAction({
        title: g.suggestion.action === 'revoke' ? `Revoke ${who}'s unused grant?` : `Narrow ${who}'s grant?`,
        body: g.suggestion.action === 'revoke'
          ? <p>{who} has not used its access to <code>{g.audience}</code> in {window} days; the grant ({g.grantedScopes.join(' ')}) is revoked.</p>
          : <p>{who} keeps <strong>{g.suggestion.scopes.join(' ')}</strong> on <code>{g.audience}</code> and loses the unused <strong>{g.unusedScopes.join(' ')}</strong>.</p>,
        confirmLabel: g.suggestion.action === 'revoke' ? 'Revoke grant' : 'Narrow grant',
      });
      if (!ok) return;
      await api.applySuggestion(tenant, g.grantId, window);
      notify('success', g.suggestion.action === 'revoke' ? `Grant of ${who} revoked` : `Grant of ${who} narrowed`);
      unused.reload();
    });
  const shown = unused.data?.grants ?? [];
  const [dormantPage, setDormantPage] = useState(0);
  const dormantRows = [
    ...(dormant.data?.clients ?? []).map((c) => <li>Client <Link to={`/t/${tenant}/clients/${c.clientId}`}>{c.name}</Link> <span class="muted">last used <Time at={c.lastUsedAt} /></span></li>),
    ...(dormant.data?.secrets ?? []).map((s) => <li>Secret <code>{s.secretId}</code> of <Link to={`/t/${tenant}/clients/${s.clientId}`}>{clientName(names, s.clientId)}</Link> <span class="muted">last used <Time at={s.lastUsedAt} /></span></li>),
  ];
  // Narrowing keeps each grant (same id, PATCH) with the scopes its client used; a grant
  // not used at all is left for its own Revoke, and the management API's are changed by hand.
  const narrowable = shown.filter((g): g is UnusedGrant & { suggestion: { action: 'narrow'; scopes: string[] } } => g.suggestion.action === 'narrow' && g.audience !== MANAGEMENT_AUDIENCE);
  const apiName = (audience: string) => names?.apisByIdentifier.get(audience)?.name ?? audience;
  const narrowAll = () =>
    run(async () => {
      const ok = await confirmAction({
        title: `Narrow ${narrowable.length} grant${narrowable.length === 1 ? '' : 's'}?`,
        body: (
          <>
            <p>Each grant below keeps the scopes its client used in the last {unused.data?.days ?? days} days and loses the others. The grants stay (same grant, changed in place); no client loses a scope it used.</p>
            <ul class="rows narrow-list">
              {narrowable.map((g) => (
                <li>
                  <strong>{clientName(names, g.clientId)}</strong> on {apiName(g.audience)}: loses <span class="scopes">{g.unusedScopes.map((sc) => <code class="scope">{sc}</code>)}</span>, keeps <span class="scopes">{g.suggestion.scopes.length === 0 ? '(no scopes)' : g.suggestion.scopes.map((sc) => <code class="scope">{sc}</code>)}</span>
                </li>
              ))}
            </ul>
          </>
        ),
        confirmLabel: `Narrow ${narrowable.length} grant${narrowable.length === 1 ? '' : 's'}`,
      });
      if (!ok) return;
      const outcome: NarrowResult[] = [];
      for (const g of narrowable) {
        try {
          await api.updateGrant(tenant, g.grantId, { scopes: g.suggestion.scopes });
          outcome.push({ finding: g, error: null });
        } catch (error) {
          outcome.push({ finding: g, error: describeError(error) });
        }
      }
      setResults(outcome);
      const failed = outcome.filter((r) => r.error !== null).length;
      notify(failed === 0 ? 'success' : 'error', failed === 0 ? `Narrowed ${outcome.length} grant${outcome.length === 1 ? '' : 's'}` : `Narrowed ${outcome.length - failed} of ${outcome.length} grants; ${failed} failed (see the list)`);
      setChanged((n) => n + 1);
    });
  return (
    <>
      <h1>Usage</h1>
      <Section title="Tokens over time" id="usage-chart"><UsageChart tenant={tenant} /></Section>
      <label class="inline">Look back{' '}
        <select value={String(days)} onChange={(e) => lookBack(Number((e.target as HTMLSelectElement).value))}>
          {[7, 30, 90].map((d) => <option value={String(d)}>{d} days</option>)}
        </select>
      </label>
      <Section title="Busiest clients and APIs" id="busiest">
        {busiest.loading ? <p class="muted">Loading…</p> : busiest.error !== undefined ? <UsageUnavailable error={busiest.error} /> : busiest.data?.clients.rows.length === 0 ? <p class="empty">No tokens in the last {days} days.</p> : (
          <div class="busiest">
            {(['clients', 'apis'] as const).map((kind) => (
              <table>
                <caption>{kind === 'clients' ? 'Clients' : 'APIs'}, busiest first</caption>
                <thead><tr><th scope="col">{kind === 'clients' ? 'Client' : 'API'}</th><th scope="col">Issued</th><th scope="col">Refused</th><th scope="col">Last used</th></tr></thead>
                <tbody>
                  {busiest.data?.[kind].rows.map((r) => (
                    <tr>
                      <td data-label={kind === 'clients' ? 'Client' : 'API'}>
                        {r.clientId !== undefined
                          ? (r.name !== null ? <Link to={`/t/${tenant}/clients/${r.clientId}`}>{r.name}</Link> : <span class="muted">{r.clientId} (deleted)</span>)
                          : (names?.apisByIdentifier.get(r.audience ?? '') !== undefined ? <Link to={`/t/${tenant}/apis/${names.apisByIdentifier.get(r.audience ?? '')?.id ?? ''}`}>{r.name ?? r.audience}</Link> : <code>{r.audience}</code>)}
                      </td>
                      <td data-label="Issued">{r.issued}</td>
                      <td data-label="Refused">{r.refused}</td>
                      <td data-label="Last used"><Time at={r.lastUsedAt} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ))}
          </div>
        )}
      </Section>
      <Section title="Unused scopes" id="unused" actions={narrowable.length > 0 ? <Button write kind="primary" busy={busy} onClick={narrowAll}>Narrow all shown ({narrowable.length})</Button> : undefined}>
        {results !== null ? (
          <div class="results" role="status">
            <p><strong>Narrowed {results.filter((r) => r.error === null).length} of {results.length} grants.</strong></p>
            <ul class="rows">
              {results.map((r) => (
                <li>
                  {clientName(names, r.finding.clientId)} on {apiName(r.finding.audience)}:{' '}
                  {r.error === null ? <span class="badge badge-on">narrowed to {r.finding.suggestion.action === 'narrow' ? r.finding.suggestion.scopes.join(' ') || '(no scopes)' : ''}</span> : <span class="error-text">not changed: {r.error}</span>}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
        {unused.loading ? <p class="muted">Loading…</p> : unused.error !== undefined ? <UsageUnavailable error={unused.error} /> : shown.length === 0 ? <p class="empty">{unusedCursors.length > 1 ? 'No more findings.' : `Every granted scope was used in the last ${days} days.`}</p> : (
          <ul class="rows">
            {shown.map((g) => (
              <li>
                <Link to={`/t/${tenant}/clients/${g.clientId}`}>{clientName(names, g.clientId)}</Link> on <code>{apiName(g.audience)}</code>:{' '}
                unused <span class="scopes">{g.unusedScopes.map((s) => <code class="scope">{s}</code>)}</span> <span class="muted">last used <Time at={g.lastUsedAt} /></span>
                <Button write busy={busy} class="btn-small" onClick={() => apply(g)}>{g.suggestion.action === 'revoke' ? 'Revoke grant' : `Narrow to ${g.suggestion.scopes.join(' ')}`}</Button>
              </li>
            ))}
          </ul>
        )}
        {unusedCursors.length > 1 || unused.data?.nextCursor != null ? (
          <nav class="actions pager" aria-label="Pages of unused scopes">
            <Button disabled={unusedCursors.length === 1 || unused.loading} onClick={() => { setResults(null); setUnusedCursors((c) => c.slice(0, -1)); }}>Previous page</Button>
            <span class="muted">Page {unusedCursors.length}</span>
            <Button disabled={unused.data?.nextCursor == null || unused.loading} onClick={() => { const next = unused.data?.nextCursor; if (next != null) { setResults(null); setUnusedCursors((c) => [...c, next]); } }}>Next page</Button>
          </nav>
        ) : null}
      </Section>
      <Section title="Dormant clients and secrets" id="dormant">
        {dormant.loading ? <p class="muted">Loading…</p> : dormant.error !== undefined ? <UsageUnavailable error={dormant.error} /> : (
          <>
            {dormant.data?.clients.length === 0 && dormant.data.secrets.length === 0 ? <p class="empty">Nothing dormant in the last {days} days.</p> : null}
            <ul class="rows">
              {dormantRows.slice(dormantPage * DORMANT_PAGE, (dormantPage + 1) * DORMANT_PAGE)}
            </ul>
            {dormantRows.length > DORMANT_PAGE ? (
              <nav class="actions pager" aria-label="Pages of dormant clients and secrets">
                <Button disabled={dormantPage === 0} onClick={() => setDormantPage((n) => n - 1)}>Previous page</Button>
                <span class="muted">Page {dormantPage + 1} of {Math.ceil(dormantRows.length / DORMANT_PAGE)}</span>
                <Button disabled={(dormantPage + 1) * DORMANT_PAGE >= dormantRows.length} onClick={() => setDormantPage((n) => n + 1)}>Next page</Button>
              </nav>
            ) : null}
          </>
        )}
      </Section>
      <Section title="Token waste" id="waste">
        <p class="hint">Clients that get far more tokens than their lifetime needs (no caching): they load the server and their own latency.</p>
        {waste.loading ? <p class="muted">Loading…</p> : waste.error !== undefined ? <UsageUnavailable error={waste.error} /> : waste.data?.clients.length === 0 ? <p class="empty">No client wastes tokens.</p> : (
          <table>
            <caption class="visually-hidden">Token waste</caption>
            <thead><tr><th scope="col">Client</th><th scope="col">API and scope</th><th scope="col">Tokens</th><th scope="col">Expected at most</th><th scope="col">Ratio</th></tr></thead>
            <tbody>
              {waste.data?.clients.map((w) => (
                <tr>
                  <td data-label="Client"><Link to={`/t/${tenant}/clients/${w.clientId}`}>{clientName(names, w.clientId)}</Link></td>
                  <td data-label="API and scope"><code>{w.audience}</code> <code>{w.scope}</code></td>
                  <td data-label="Tokens">{w.tokens}</td>
                  <td data-label="Expected at most">{w.expectedMax} <span class="muted">({w.tokenLifetime} s lifetime)</span></td>
                  <td data-label="Ratio">{w.ratio.toFixed(1)}×</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
