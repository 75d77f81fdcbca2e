/** `tessera usage --by client|api [--client C]`: the busiest clients or APIs of a range, busiest first (docs/usage.md); one client's APIs with --client. */
import type { UsageTopResource } from '@tessera/server';
import type { Flags } from '../args.js';
import { seg, tenantOf, withApi } from '../command.js';
import type { Io } from '../io.js';
import { printJson, printTable } from '../output.js';

export const TOP_BY = ['client', 'api'] as const;

export async function usageTop(flags: Flags, io: Io, by: (typeof TOP_BY)[number], range: { from?: number | undefined; to?: number | undefined; clientId?: string | undefined }): Promise<void> {
  const limit = flags.integer('limit', 1, 1000);
  const result = await withApi(flags, io, (api) =>
    api.get<UsageTopResource>(`/tenants/${seg(tenantOf(flags))}/usage/top`, { by, from: range.from, to: range.to, limit, clientId: range.clientId }),
  );
  if (flags.json) return printJson(io, result);
  printTable(io, result.rows, [
    by === 'client' ? { header: 'CLIENT', value: (r) => r.clientId } : { header: 'API', value: (r) => r.audience },
    { header: 'NAME', value: (r) => r.name ?? '(deleted)' },
    { header: 'ISSUED', value: (r) => r.issued },
    { header: 'REFUSED', value: (r) => r.refused },
    { header: 'LAST USED', value: (r) => r.lastUsedAt ?? 'never', time: true },
  ]);
  io.stdout(`busiest ${by === 'client' ? 'clients' : 'APIs'} first, ${new Date(result.from).toISOString()} to ${new Date(result.to).toISOString()}\n`);
}
