/** `tessera grants ...`: which client may get which scopes of which API. */
import { connectionOptions, type Flags, tenantOption, UsageError } from '../args.js';
import { CLAIM_USAGE, parseClaims } from '../claims.js';
import { type CommandGroup, CONNECTION_USAGE, seg, tenantOf, withApi } from '../command.js';
import { printJson, printRecord, printTable } from '../output.js';
import type { GrantResource } from '@tessera/server';
import { grantsUnused } from './usage.js';

type Grant = GrantResource;

function grantsPath(flags: Flags, id?: string): string {
  return `/tenants/${seg(tenantOf(flags))}/grants${id === undefined ? '' : `/${seg(id)}`}`;
}

export const grants: CommandGroup = {
  name: 'grants',
  summary: 'Grants: client X may get scopes S on API Y.',
  subcommands: {
    create: {
      summary: 'grant a client scopes on an API',
      usage: `Usage: tessera grants create --client <clientId> --audience <identifier> --scope <s> [--scope <s> ...] [--tenant <t>]

  --tenant <t>            tenant (default "default")
  --client <clientId>     the client
  --audience <id>         the API's identifier
  --scope <s>             a scope the API defines, repeatable
${CLAIM_USAGE}
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, client: { type: 'string' }, audience: { type: 'string' }, scope: { type: 'string', multiple: true }, claim: { type: 'string', multiple: true } },
      async run(flags, io) {
        flags.expectPositionals(0);
        const claims = flags.list('claim');
        const body = {
          clientId: flags.required('client'),
          audience: flags.required('audience'),
          scopes: flags.list('scope'),
          ...(claims.length > 0 ? { customClaims: parseClaims(claims, flags.usage) } : {}),
        };
        if (body.scopes.length === 0) throw new UsageError('--scope is required (repeat it for several)', flags.usage);
        const grant = await withApi(flags, io, (api) => api.post<Grant>(grantsPath(flags), body));
        if (flags.json) printJson(io, grant);
        else printRecord(io, grant);
      },
    },
    list: {
      summary: 'list grants, optionally of one client or API',
      usage: `Usage: tessera grants list [--client <clientId>] [--audience <identifier>] [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, client: { type: 'string' }, audience: { type: 'string' } },
      async run(flags, io) {
        flags.expectPositionals(0);
        const page = await withApi(flags, io, (api) =>
          api.listAll<Grant>(grantsPath(flags), { clientId: flags.string('client'), audience: flags.string('audience') }),
        );
        if (flags.json) return printJson(io, page);
        printTable(io, page.items, [
          { header: 'ID', value: (g) => g.id },
          { header: 'CLIENT', value: (g) => g.clientId },
          { header: 'AUDIENCE', value: (g) => g.audience },
          { header: 'SCOPES', value: (g) => g.scopes.join(' ') },
        ]);
      },
    },
    get: {
      summary: 'show a grant',
      usage: `Usage: tessera grants get <id> [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        const grant = await withApi(flags, io, (api) => api.get<Grant>(grantsPath(flags, id)));
        if (flags.json) printJson(io, grant);
        else printRecord(io, grant);
      },
    },
    update: {
      summary: 'change a grant in place (same id): its scopes, its claims',
      usage: `Usage: tessera grants update <id> [--scope <s> ...] [--claim <name=value> ... | --clear-claims] [--tenant <t>]

  --scope <s>             the scopes the grant gives from now on (replaces them), repeatable
${CLAIM_USAGE}
                          (the claims given replace all the grant's claims)
  --clear-claims          remove every custom claim of the grant
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, scope: { type: 'string', multiple: true }, claim: { type: 'string', multiple: true }, 'clear-claims': { type: 'boolean' } },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        const scopes = flags.list('scope');
        const claims = flags.list('claim');
        if (claims.length > 0 && flags.has('clear-claims')) throw new UsageError('--claim and --clear-claims exclude each other', flags.usage);
        const body = {
          ...(scopes.length > 0 ? { scopes } : {}),
          ...(claims.length > 0 ? { customClaims: parseClaims(claims, flags.usage) } : {}),
          ...(flags.has('clear-claims') ? { customClaims: null } : {}),
        };
        if (Object.keys(body).length === 0) throw new UsageError('nothing to change: pass --scope, --claim or --clear-claims', flags.usage);
        const grant = await withApi(flags, io, (api) => api.patch<Grant>(grantsPath(flags, id), body));
        if (flags.json) printJson(io, grant);
        else printRecord(io, grant);
      },
    },
    unused: grantsUnused,
    delete: {
      summary: 'revoke a grant',
      usage: `Usage: tessera grants delete <id> [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        await withApi(flags, io, (api) => api.delete(grantsPath(flags, id)));
        if (flags.json) printJson(io, { deleted: true, id });
        else io.stdout(`Deleted grant ${id}\n`);
      },
    },
  },
};
