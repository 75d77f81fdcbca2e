/** `tessera apis ...`: resource servers (audiences) and the scopes they define. */
import { connectionOptions, type Flags, tenantOption, UsageError } from '../args.js';
import { type CommandGroup, CONNECTION_USAGE, seg, tenantOf, withApi } from '../command.js';
import { notice, printJson, printRecord, printTable } from '../output.js';
import type { ApiResource } from '@tessera/server';

type Api = ApiResource;

const API_FIELDS = ['id', 'identifier', 'name', 'tenantId', 'scopes', 'tokenFormat', 'accessTokenLifetime', 'introspectors', 'createdAt', 'updatedAt'];

const settingOptions = {
  identifier: { type: 'string' },
  name: { type: 'string' },
  scope: { type: 'string', multiple: true },
  opaque: { type: 'boolean' },
  jwt: { type: 'boolean' },
  lifetime: { type: 'string' },
  introspector: { type: 'string', multiple: true },
} as const;

const SETTINGS_USAGE = `  --scope <value>         a scope it defines, repeatable; "value=description" adds a description
  --name <name>           display name (default: the identifier)
  --opaque / --jwt        token format: opaque reference tokens (resolved by introspection) or JWT (default)
  --lifetime <s>          access-token lifetime for this API, 60 to 86400 seconds
  --introspector <id>     a client allowed to introspect its tokens, repeatable`;

/** `read` or `read=Read orders`: scope values never contain "=". */
function parseScope(text: string): { value: string; description?: string } {
  const at = text.indexOf('=');
  return at < 0 ? { value: text } : { value: text.slice(0, at), description: text.slice(at + 1) };
}

function settingsBody(flags: Flags): Record<string, unknown> {
  if (flags.boolean('opaque') && flags.boolean('jwt')) throw new UsageError('--opaque and --jwt exclude each other', flags.usage);
  const lifetime = flags.integer('lifetime', 60, 86_400);
  return {
    ...(flags.string('identifier') !== undefined ? { identifier: flags.string('identifier') } : {}),
    ...(flags.string('name') !== undefined ? { name: flags.string('name') } : {}),
    ...(flags.has('scope') ? { scopes: flags.list('scope').map(parseScope) } : {}),
    ...(flags.boolean('opaque') ? { tokenFormat: 'opaque' } : {}),
    ...(flags.boolean('jwt') ? { tokenFormat: 'jwt' } : {}),
    ...(lifetime !== undefined ? { accessTokenLifetime: lifetime } : {}),
    ...(flags.has('introspector') ? { introspectors: flags.list('introspector') } : {}),
  };
}

function apisPath(flags: Flags, id?: string): string {
  return `/tenants/${seg(tenantOf(flags))}/apis${id === undefined ? '' : `/${seg(id)}`}`;
}

function printApi(flags: Flags, io: Parameters<typeof printJson>[0], api: Api): void {
  if (flags.json) printJson(io, api);
  else printRecord(io, { ...api, scopes: api.scopes.map((s) => s.value) }, API_FIELDS);
}

export const apis: CommandGroup = {
  name: 'apis',
  summary: 'APIs: the audiences tokens are issued for, with the scopes each defines.',
  subcommands: {
    create: {
      summary: 'register an API',
      usage: `Usage: tessera apis create --identifier <uri> --scope <s> [--scope <s> ...] [--tenant <t>] [options]

  --tenant <t>            tenant (default "default")
  --identifier <uri>      the audience (aud) of its tokens, e.g. https://orders.example.com
${SETTINGS_USAGE}
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, ...settingOptions },
      async run(flags, io) {
        flags.expectPositionals(0);
        flags.required('identifier');
        const body = { scopes: [], ...settingsBody(flags) };
        const api = await withApi(flags, io, (client) => client.post<Api>(apisPath(flags), body));
        printApi(flags, io, api);
      },
    },
    list: {
      summary: 'list the APIs of a tenant',
      usage: `Usage: tessera apis list [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        flags.expectPositionals(0);
        const page = await withApi(flags, io, (client) => client.listAll<Api>(apisPath(flags)));
        if (flags.json) return printJson(io, page);
        printTable(io, page.items, [
          { header: 'ID', value: (a) => a.id },
          { header: 'IDENTIFIER', value: (a) => a.identifier },
          { header: 'NAME', value: (a) => a.name },
          { header: 'FORMAT', value: (a) => a.tokenFormat },
          { header: 'SCOPES', value: (a) => a.scopes.map((s) => s.value) },
        ]);
      },
    },
    get: {
      summary: 'show an API',
      usage: `Usage: tessera apis get <id> [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        printApi(flags, io, await withApi(flags, io, (client) => client.get<Api>(apisPath(flags, id))));
      },
    },
    update: {
      summary: 'change an API (--scope replaces the whole list)',
      usage: `Usage: tessera apis update <id> [--tenant <t>] [options]

  --identifier <uri>      new audience
${SETTINGS_USAGE}
Every --scope given replaces the API's whole scope list.
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, ...settingOptions },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        const body = settingsBody(flags);
        if (Object.keys(body).length === 0) throw new UsageError('nothing to change: pass at least one option', flags.usage);
        if (body['scopes'] !== undefined && !flags.json) notice(io, 'note: the scope list is replaced by the --scope values given');
        printApi(flags, io, await withApi(flags, io, (client) => client.patch<Api>(apisPath(flags, id), body)));
      },
    },
    delete: {
      summary: 'delete an API',
      usage: `Usage: tessera apis delete <id> [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        await withApi(flags, io, (client) => client.delete(apisPath(flags, id)));
        if (flags.json) printJson(io, { deleted: true, id });
        else io.stdout(`Deleted API ${id}\n`);
      },
    },
  },
};
