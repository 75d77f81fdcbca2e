/**
 * One client's usage (the client page's Usage tab): its tokens issued and refused over
 * time, the APIs it gets tokens for with its own counts and last use, and, where it
 * matters, token waste: a client fetching far more tokens than their lifetime needs
 * (a token per call) is told, per API, to cache them.
 */
import { useState } from 'preact/hooks';
import type { Client, Grant, UsageTop, Waste } from '../api.js';
import { useNames } from '../names.js';
import { Link, Section, Time, useApi, useLoad } from '../ui.js';
import { UsageChart, UsageUnavailable } from './usage-chart.js';

const DAY = 86_400_000;
const WINDOWS = [1, 7, 30] as const;
type WindowDays = (typeof WINDOWS)[number];
const WINDOW_LABELS: Record<WindowDays, string> = { 1: 'last 24 hours', 7: 'last 7 days', 30: 'last 30 days' };
const WASTE_DAYS = 1;

/** Per API, the waste findings of its scope sets added up: tokens against the most a caching client needs. */
export interface ApiWaste { audience: string; tokens: number; expectedMax: number; tokenLifetime: number; ratio: number }
export function wasteByApi(waste: Waste): ApiWaste[] {
  const byApi = new Map<string, ApiWaste>();
  for (const f of waste.clients) {
    const sum = byApi.get(f.audience) ?? { audience: f.audience, tokens: 0, expectedMax: 0, tokenLifetime: f.tokenLifetime, ratio: 0 };
    sum.tokens += f.tokens;
    sum.expectedMax += f.expectedMax;
    sum.tokenLifetime = Math.min(sum.tokenLifetime, f.tokenLifetime);
    sum.ratio = Math.round((sum.tokens / Math.max(sum.expectedMax, 1)) * 10) / 10;
    byApi.set(f.audience, sum);
  }
  return [...byApi.values()].sort((a, b) => b.ratio - a.ratio);
}

const count = (n: number) => n.toLocaleString('en');

export function ClientUsage({ tenant, client, grants, now = () => Date.now() }: { tenant: string; client: Client; grants: readonly Grant[]; now?: () => number }) {
  const api = useApi();
  const names = useNames(api, tenant);
  const [days, setDays] = useState<WindowDays>(7);
  const clientId = client.clientId;
  const report = useLoad<{ apis: UsageTop; overall: UsageTop }>(async () => {
    const to = now();
    const range = { from: to - days * DAY, to, clientId };
    const [apis, overall] = await Promise.all([api.top(tenant, 'api', { ...range, limit: 1000 }), api.top(tenant, 'client', range)]);
    return { apis, overall };
  }, [tenant, clientId, days]);
  // Waste over the last day: read from minute buckets, exact now (a longer window is read
  // from rolled-up hours, which lag), and what a client does now is what to fix.
  const waste = useLoad<Waste>(() => api.waste(tenant, WASTE_DAYS, { clientId }), [tenant, clientId]);
  const apiName = (audience: string, name?: string | null) => names?.apisByIdentifier.get(audience)?.name ?? name ?? audience;
  const apiLink = (audience: string, name?: string | null) => {
    const found = names?.apisByIdentifier.get(audience);
    return found ? <Link to={`/t/${tenant}/apis/${found.id}`}>{found.name}</Link> : <code class="id">{name ?? audience}</code>;
  };

  const rows = report.data?.apis.rows ?? [];
  const seen = new Set(rows.map((r) => r.audience));
  const unusedGrants = grants.filter((g) => !seen.has(g.audience));
  const overall = report.data?.overall.rows[0];
  const findings = waste.data !== undefined ? wasteByApi(waste.data) : [];
  const wasteOf = new Map(findings.map((f) => [f.audience, f]));

  return (
    <>
      {findings.length > 0 ? (
        <section class="notice" aria-labelledby="token-waste">
          <h2 id="token-waste">{client.name} fetches far more tokens than it needs: cache them</h2>
          <ul>
            {findings.map((f) => (
              <li>
                <strong>{apiName(f.audience)}</strong>: {count(f.tokens)} tokens in the {WINDOW_LABELS[WASTE_DAYS]}, where a client that reuses each token until it expires
                ({f.tokenLifetime} s) needs at most {count(f.expectedMax)}: <strong>{f.ratio}× more than needed</strong>. One instance never needs more than {count(Math.ceil(3600 / f.tokenLifetime))} an hour.
              </li>
            ))}
          </ul>
          <p>
            Each token request costs the client a round trip and the server a signature. Keep the token and reuse it until shortly before <code>expires_in</code> runs out:
            {' '}<code>@tessera/client</code>'s <code>createTokenClient</code> does this (one token per API and scope set, renewed before it expires), see
            {' '}<Link to={`/t/${tenant}/clients/${clientId}`}>"Get a token" on the Overview tab</Link>. Several instances sharing this client each keep their own token, so a ratio near their number is expected.
          </p>
        </section>
      ) : null}

      <Section title="Tokens over time" id="client-usage">
        <UsageChart tenant={tenant} clientId={clientId} now={now} />
      </Section>

      <Section
        title="APIs"
        id="client-usage-apis"
        actions={
          <label class="inline">
            Window{' '}
            <select value={days} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value) as WindowDays)}>
              {WINDOWS.map((d) => <option value={d}>{WINDOW_LABELS[d]}</option>)}
            </select>
          </label>
        }
      >
        {report.loading ? <p class="muted" aria-busy="true">Loading usage…</p> : report.error !== undefined ? <UsageUnavailable error={report.error} /> : (
          <>
            <p>
              Last token: {overall !== undefined ? <Time at={overall.lastUsedAt} /> : <span class="muted">none in the {WINDOW_LABELS[days]}</span>}
              {overall !== undefined ? <span class="muted"> · {count(overall.issued)} issued, {count(overall.refused)} refused in the {WINDOW_LABELS[days]}</span> : null}
            </p>
            {rows.length === 0 && unusedGrants.length === 0 ? <p class="empty">No grants and no tokens: this client gets no token for any API.</p> : (
              <table>
                <caption class="visually-hidden">APIs of {client.name}, {WINDOW_LABELS[days]}</caption>
                <thead><tr><th scope="col">API</th><th scope="col">Issued</th><th scope="col">Refused</th><th scope="col">Last token</th><th scope="col">Tokens per needed token (24 h)</th></tr></thead>
                <tbody>
                  {rows.map((r) => {
                    const w = wasteOf.get(r.audience ?? '');
                    return (
                      <tr>
                        <td data-label="API">{apiLink(r.audience ?? '', r.name)}</td>
                        <td data-label="Issued">{count(r.issued)}</td>
                        <td data-label="Refused">{count(r.refused)}</td>
                        <td data-label="Last token"><Time at={r.lastUsedAt} /></td>
                        <td data-label="Tokens per needed token (24 h)">{w !== undefined ? <strong class="error-text">{w.ratio}× (cache tokens)</strong> : <span class="muted">fine</span>}</td>
                      </tr>
                    );
                  })}
                  {unusedGrants.map((g) => (
                    <tr>
                      <td data-label="API">{apiLink(g.audience)}</td>
                      <td data-label="Issued">0</td>
                      <td data-label="Refused">0</td>
                      <td data-label="Last token"><span class="muted">none in the {WINDOW_LABELS[days]}</span></td>
                      <td data-label="Tokens per needed token (24 h)"><span class="muted">granted, not used</span></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {waste.error !== undefined ? <UsageUnavailable error={waste.error} /> : null}
          </>
        )}
      </Section>
    </>
  );
}
