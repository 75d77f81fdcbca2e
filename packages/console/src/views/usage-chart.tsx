/** Tokens issued and refused over time, as SVG bars (no inline styles: CSP-safe). */
import { useState } from 'preact/hooks';
import { ApiError, type Granularity, type UsageSeries } from '../api.js';
import { describeError, formatTime, useApi, useLoad } from '../ui.js';

const RANGES: Record<Granularity, number> = { minute: 60 * 60_000, hour: 48 * 3_600_000, day: 30 * 86_400_000 };
const RANGE_LABELS: Record<Granularity, string> = { minute: 'last hour, per minute', hour: 'last 48 hours, per hour', day: 'last 30 days, per day' };

export function UsageChart({ tenant, clientId, audience, now = () => Date.now() }: { tenant: string; clientId?: string; audience?: string; now?: () => number }) {
  const api = useApi();
  const [granularity, setGranularity] = useState<Granularity>('hour');
  const { data, error, loading } = useLoad<UsageSeries>(() => {
    const to = now();
    return api.usage(tenant, { granularity, from: to - RANGES[granularity], to, ...(clientId ? { clientId } : {}), ...(audience ? { audience } : {}) });
  }, [tenant, clientId, audience, granularity]);
  return (
    <div class="usage">
      <label class="inline">
        Range{' '}
        <select value={granularity} onChange={(e) => setGranularity((e.target as HTMLSelectElement).value as Granularity)}>
          {(Object.keys(RANGES) as Granularity[]).map((g) => <option value={g}>{RANGE_LABELS[g]}</option>)}
        </select>
      </label>
      {loading ? <p class="muted">Loading usage…</p> : error !== undefined ? <UsageUnavailable error={error} /> : data ? <Bars data={data} /> : null}
    </div>
  );
}

export function UsageUnavailable({ error }: { error: unknown }) {
  if (error instanceof ApiError && (error.status === 404 || error.status === 501)) return <p class="muted">Usage data not available on this server.</p>;
  return <p class="error-text">Usage data not available: {describeError(error)}</p>;
}

function Bars({ data }: { data: UsageSeries }) {
  const issued = data.series.reduce((n, p) => n + p.issued, 0);
  const refused = data.series.reduce((n, p) => n + p.refused, 0);
  const max = Math.max(1, ...data.series.map((p) => p.issued + p.refused));
  const width = 600;
  const height = 120;
  const bar = data.series.length === 0 ? 0 : width / data.series.length;
  const summary = `${issued} tokens issued and ${refused} refused from ${formatTime(data.from)} to ${formatTime(data.to)}`;
  // Axes as text beside the drawing (the SVG stretches to the width, which would distort text in it).
  const ticks = [max, Math.round(max / 2), 0];
  const middle = data.from + Math.round((data.to - data.from) / 2);
  return (
    <figure class="chart">
      <div class="chart-plot">
        <div class="chart-y" aria-hidden="true">{ticks.map((n) => <span>{n}</span>)}</div>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={summary} preserveAspectRatio="none">
        {[0, height / 2].map((y) => <line class="chart-grid" x1={0} x2={width} y1={y + 0.5} y2={y + 0.5} />)}
        {data.series.map((p, i) => {
          const hIssued = (p.issued / max) * height;
          const hRefused = (p.refused / max) * height;
          return (
            <g key={p.start}>
              <title>{`${formatTime(p.start)}: ${p.issued} issued, ${p.refused} refused`}</title>
              <rect class="bar-issued" x={i * bar + 0.5} width={Math.max(bar - 1, 0.5)} y={height - hIssued} height={hIssued} />
              <rect class="bar-refused" x={i * bar + 0.5} width={Math.max(bar - 1, 0.5)} y={height - hIssued - hRefused} height={hRefused} />
            </g>
          );
        })}
      </svg>
      </div>
      <div class="chart-x" aria-hidden="true"><span>{formatTime(data.from)}</span><span>{formatTime(middle)}</span><span>{formatTime(data.to)}</span></div>
      <figcaption>
        <span class="legend legend-issued">{issued} issued</span> <span class="legend legend-refused">{refused} refused</span>
        {data.series.length === 0 ? <span class="muted"> · no tokens in this range</span> : null}
      </figcaption>
    </figure>
  );
}
