/** `tessera audit`: who changed what in a tenant, newest first. */
import { connectionOptions, type Flags, tenantOption, UsageError } from '../args.js';
import { type Command, CONNECTION_USAGE, seg, tenantOf, withApi } from '../command.js';
import { notice, printJson, printTable } from '../output.js';
import type { AuditEntryResource } from '@tessera/server';

type AuditEntry = AuditEntryResource;

/** An ISO date or epoch milliseconds. */
function instant(flags: Flags, name: string): number | undefined {
  const value = flags.string(name);
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--${name} must be an ISO date or epoch milliseconds`, flags.usage);
  return ms;
}

export const audit: Command = {
  summary: 'who changed what, when',
  usage: `Usage: tessera audit [--tenant <t>] [filters]

  --tenant <t>            tenant (default "default")
  --action <a>            e.g. client.create, key.rotate
  --actor <clientId>      the admin client that made the change
  --target-type <type>    client, api, grant, key, ...
  --target-id <id>
  --since <date>          ISO date or epoch ms
  --until <date>
  --limit <n>             entries per page, 1 to 200 (default 50)
  --cursor <c>            the next page, as printed after a full page
${CONNECTION_USAGE}`,
  options: {
    ...connectionOptions,
    ...tenantOption,
    action: { type: 'string' },
    actor: { type: 'string' },
    'target-type': { type: 'string' },
    'target-id': { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
  },
  async run(flags, io) {
    flags.expectPositionals(0);
    const query = {
      action: flags.string('action'),
      actor: flags.string('actor'),
      targetType: flags.string('target-type'),
      targetId: flags.string('target-id'),
      since: instant(flags, 'since'),
      until: instant(flags, 'until'),
      limit: flags.integer('limit', 1, 200),
      cursor: flags.string('cursor'),
    };
    const page = await withApi(flags, io, (api) =>
      api.get<{ items: AuditEntry[]; nextCursor: string | null }>(`/tenants/${seg(tenantOf(flags))}/audit`, query),
    );
    if (flags.json) return printJson(io, page);
    printTable(io, page.items, [
      { header: 'AT', value: (e) => e.at, time: true },
      { header: 'ACTOR', value: (e) => e.actor },
      { header: 'ACTION', value: (e) => e.action },
      { header: 'TARGET', value: (e) => `${e.targetType} ${e.targetId}` },
    ]);
    if (page.nextCursor !== null) notice(io, `more: --cursor ${page.nextCursor}`);
  },
};
