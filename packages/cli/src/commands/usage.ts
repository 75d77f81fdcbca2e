/**
 * `tessera usage` (tokens over time, dormant clients and secrets, token waste) and
 * `tessera grants unused` (grants and scopes not requested in N days, with the
 * narrower grant suggested and, with --apply, applied). docs/usage.md.
 */
import type { DormantResource, GrantResource, UnusedGrantsResource, UsageSeriesResource, WasteResource } from '@tessera/server';
import { connectionOptions, type Flags, tenantOption, UsageError } from '../args.js';
import { type Command, CONNECTION_USAGE, seg, tenantOf, withApi } from '../command.js';
import type { Io } from '../io.js';
import { ApiError, type ManagementApi } from '../management-api.js';
import { printJson, printTable } from '../output.js';
import { TOP_BY, usageTop } from './usage-top.js';

const GRANULARITIES = ['minute', 'hour', 'day'] as const;
const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

function usagePath(flags: Flags, rest = ''): string {
  return `/tenants/${seg(tenantOf(flags))}/usage${rest}`;
}

/** `--since 24h` (a duration back from now), an ISO date, or epoch ms. */
function instant(flags: Flags, name: string, now: number): number | undefined {
  const value = flags.string(name);
  if (value === undefined) return undefined;
  const duration = /^(\d+)([mhd])$/.exec(value);
  if (duration !== null) return now - Number(duration[1]) * (UNITS[duration[2]!] ?? 0);
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--${name} must be a duration (30m, 24h, 7d), an ISO date or epoch ms`, flags.usage);
  return ms;
}

/** Without --granularity: minutes for a few hours, hours for a few weeks, days beyond. */
function granularityFor(span: number): (typeof GRANULARITIES)[number] {
  if (span <= 6 * UNITS['h']!) return 'minute';
  if (span <= 14 * UNITS['d']!) return 'hour';
  return 'day';
}

async function series(flags: Flags, io: Io): Promise<void> {
  const now = Date.now();
  const from = instant(flags, 'since', now);
  const to = instant(flags, 'until', now);
  const granularity = flags.choice('granularity', GRANULARITIES) ?? (from !== undefined ? granularityFor((to ?? now) - from) : undefined);
  const result = await withApi(flags, io, (api) =>
    api.get<UsageSeriesResource>(usagePath(flags), { clientId: flags.string('client'), audience: flags.string('audience'), granularity, from, to }),
  );
  if (flags.json) return printJson(io, result);
  const active = result.series.filter((p) => p.issued > 0 || p.refused > 0);
  printTable(io, active, [
    { header: 'START', value: (p) => p.start, time: true },
    { header: 'ISSUED', value: (p) => p.issued },
    { header: 'REFUSED', value: (p) => p.refused },
  ]);
  const sum = (field: 'issued' | 'refused') => result.series.reduce((n, p) => n + p[field], 0);
  io.stdout(
    `total: ${sum('issued')} issued, ${sum('refused')} refused, per ${result.granularity}, ${new Date(result.from).toISOString()} to ${new Date(result.to).toISOString()}\n`,
  );
}

async function dormant(flags: Flags, io: Io): Promise<void> {
  const report = await withApi(flags, io, (api) => api.get<DormantResource>(usagePath(flags, '/dormant'), { days: days(flags) }));
  if (flags.json) return printJson(io, report);
  io.stdout(`Clients not used in ${report.days} days:\n`);
  printTable(io, report.clients, [
    { header: 'CLIENT', value: (c) => c.clientId },
    { header: 'NAME', value: (c) => c.name },
    { header: 'LAST USED', value: (c) => c.lastUsedAt ?? 'never', time: true },
  ]);
  io.stdout(`\nSecrets not used in ${report.days} days:\n`);
  printTable(io, report.secrets, [
    { header: 'CLIENT', value: (s) => s.clientId },
    { header: 'SECRET', value: (s) => s.secretId },
    { header: 'LAST USED', value: (s) => s.lastUsedAt ?? 'never', time: true },
  ]);
}

async function waste(flags: Flags, io: Io): Promise<void> {
  const threshold = flags.string('threshold');
  if (threshold !== undefined && !/^\d{1,6}(\.\d{1,3})?$/.test(threshold)) throw new UsageError('--threshold must be a number, e.g. 10', flags.usage);
  const report = await withApi(flags, io, (api) => api.get<WasteResource>(usagePath(flags, '/waste'), { days: days(flags), threshold, clientId: flags.string('client') }));
  if (flags.json) return printJson(io, report);
  printTable(io, report.clients, [
    { header: 'CLIENT', value: (c) => c.clientId },
    { header: 'AUDIENCE', value: (c) => c.audience },
    { header: 'SCOPE', value: (c) => c.scope },
    { header: 'TOKENS', value: (c) => c.tokens },
    { header: 'NEEDED', value: (c) => c.expectedMax },
    { header: 'RATIO', value: (c) => c.ratio },
    { header: 'LIFETIME', value: (c) => `${c.tokenLifetime}s` },
  ]);
  if (report.clients.length > 0) {
    io.stdout(`\nThese clients asked for more than ${report.threshold} tokens per token they needed in ${report.days} days: cache tokens until they expire (@tessera/client does).\n`);
  }
}

function days(flags: Flags): number {
  return flags.integer('days', 1, 9999) ?? 30;
}

export const usage: Command = {
  summary: 'tokens issued over time; the busiest clients or APIs; dormant clients and secrets; token waste',
  usage: `Usage: tessera usage [--client <clientId>] [--audience <identifier>] [--granularity minute|hour|day] [--since <when>] [--until <when>]
       tessera usage --by client|api [--client <clientId>] [--since <when>] [--until <when>] [--limit <n>]
       tessera usage dormant [--days <n>]
       tessera usage waste [--client <clientId>] [--days <n>] [--threshold <ratio>]

Tokens issued and refused per minute, hour or day (tenant-wide, or for one client or API);
clients and secrets not used in N days; clients asking for many more tokens than their
tokens' lifetime requires (docs/usage.md). Unused grants: tessera grants unused.

  --tenant <t>            tenant (default "default")
  --client <clientId>     one client's tokens; with --by api, the APIs it got tokens for; with
                          waste, its findings only
  --audience <id>         one API's tokens
  --granularity <g>       minute, hour or day (default: from --since, else hour)
  --by <what>             client or api: the busiest first, tokens issued and refused (default: last 30 days)
  --limit <n>             --by: at most n rows (default 50)
  --since <when>          a duration back from now (30m, 24h, 7d), an ISO date or epoch ms
  --until <when>          the end (default now)
  --days <n>              dormant, waste: the window in days (default 30)
  --threshold <ratio>     waste: tokens per needed token above which a client is listed (default 10)
${CONNECTION_USAGE}`,
  options: {
    ...connectionOptions,
    ...tenantOption,
    client: { type: 'string' },
    audience: { type: 'string' },
    granularity: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    days: { type: 'string' },
    threshold: { type: 'string' },
    by: { type: 'string' },
    limit: { type: 'string' },
  },
  async run(flags, io) {
    const report = flags.positionals[0];
    flags.expectPositionals(report === undefined ? 0 : 1);
    const by = flags.choice('by', TOP_BY);
    if (by !== undefined || flags.has('limit')) {
      const misplaced = report !== undefined ? 'by' : ['audience', 'granularity', 'days', 'threshold'].find((name) => flags.has(name));
      if (misplaced !== undefined) throw new UsageError(`--${misplaced} does not apply to "tessera usage${report === undefined ? ' --by' : ` ${report}`}"`, flags.usage);
      if (by === undefined) throw new UsageError('--limit goes with --by client|api', flags.usage);
      const now = Date.now();
      return usageTop(flags, io, by, { from: instant(flags, 'since', now), to: instant(flags, 'until', now), clientId: flags.string('client') });
    }
    const seriesOnly = ['client', 'audience', 'granularity', 'since', 'until'];
    const reportOnly = ['days', 'threshold'];
    const wasteAlso = report === 'waste' ? ['client'] : [];
    const misplaced = (report === undefined ? reportOnly : seriesOnly.filter((name) => !wasteAlso.includes(name))).find((name) => flags.has(name));
    if (misplaced !== undefined || (report === 'dormant' && flags.has('threshold'))) {
      throw new UsageError(`--${misplaced ?? 'threshold'} does not apply to "tessera usage${report === undefined ? '' : ` ${report}`}"`, flags.usage);
    }
    if (report === undefined) return series(flags, io);
    if (report === 'dormant') return dormant(flags, io);
    if (report === 'waste') return waste(flags, io);
    throw new UsageError(`unknown report "${report}" (dormant or waste)`, flags.usage);
  },
};

interface Applied {
  grantId: string;
  /** `skipped`: the server refused this one (409, e.g. a grant on the management API); the others are still applied. */
  action: 'narrow' | 'revoke' | 'skipped';
  grant: GrantResource | null;
  reason?: string;
}

async function applyAll(api: ManagementApi, flags: Flags, report: UnusedGrantsResource): Promise<Applied[]> {
  const applied: Applied[] = [];
  for (const finding of report.grants) {
    try {
      const grant = await api.post<GrantResource | undefined>(usagePath(flags, `/unused/${seg(finding.grantId)}/apply`), { days: report.days });
      applied.push({ grantId: finding.grantId, action: finding.suggestion.action, grant: grant ?? null });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 409) throw error;
      applied.push({ grantId: finding.grantId, action: 'skipped', grant: null, reason: error.message });
    }
  }
  return applied;
}

export const grantsUnused: Command = {
  summary: 'grants and scopes not requested in N days, with the narrower grant suggested',
  usage: `Usage: tessera grants unused [--days <n>] [--apply] [--tenant <t>]

Grants older than N days whose scopes were not all requested in that time: narrow each to
the scopes its client used, or revoke a grant that was not used at all. --apply makes
every suggested change (each audited as a grant change).

  --tenant <t>            tenant (default "default")
  --days <n>              the window in days (default 30)
  --apply                 apply every suggestion
${CONNECTION_USAGE}`,
  options: { ...connectionOptions, ...tenantOption, days: { type: 'string' }, apply: { type: 'boolean' } },
  async run(flags, io) {
    flags.expectPositionals(0);
    const { report, applied } = await withApi(flags, io, async (api) => {
      const report = await api.get<UnusedGrantsResource>(usagePath(flags, '/unused'), { days: days(flags) });
      return { report, applied: flags.boolean('apply') ? await applyAll(api, flags, report) : null };
    });
    if (flags.json) return printJson(io, applied === null ? report : { ...report, applied });
    printTable(io, report.grants, [
      { header: 'GRANT', value: (g) => g.grantId },
      { header: 'CLIENT', value: (g) => g.clientId },
      { header: 'AUDIENCE', value: (g) => g.audience },
      { header: 'UNUSED', value: (g) => g.unusedScopes.join(' ') },
      { header: 'LAST USED', value: (g) => g.lastUsedAt ?? 'never', time: true },
      { header: 'SUGGESTION', value: (g) => (g.suggestion.action === 'revoke' ? 'revoke' : `narrow to: ${g.suggestion.scopes.join(' ') || '(no scopes)'}`) },
    ]);
    if (applied !== null) {
      const done = applied.filter((a) => a.action !== 'skipped');
      io.stdout(`Applied ${done.length} suggestion${done.length === 1 ? '' : 's'}.\n`);
      for (const skipped of applied.filter((a) => a.action === 'skipped')) io.stdout(`Skipped ${skipped.grantId}: ${skipped.reason ?? 'refused'}\n`);
    }
    else if (report.grants.length > 0) io.stdout(`\nApply with: tessera grants unused --days ${report.days} --apply\n`);
  },
};
