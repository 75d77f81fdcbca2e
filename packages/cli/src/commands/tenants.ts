/** `tessera tenants create|list|get|update|delete`: independent issuers (SPEC §2). */
import { booleanSetting, connectionOptions, type Flags } from '../args.js';
import { type CommandGroup, CONNECTION_USAGE, seg, withApi } from '../command.js';
import { printJson, printRecord, printTable } from '../output.js';
import type { TenantResource } from '@tessera/server';

type Tenant = TenantResource;

const SIGNING_ALGS = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const;

/** The settings `--name`, `--alg` and `--lifetime` give, for create and update alike. */
function tenantSettings(flags: Flags): { name?: string; signingAlg?: (typeof SIGNING_ALGS)[number]; accessTokenLifetime?: number; tokenQuotaPerMinute?: number; trustDomain?: string; dpopNonceRequired?: boolean } {
  const trustDomain = flags.string('trust-domain');
  const name = flags.string('name');
  const alg = flags.choice('alg', SIGNING_ALGS);
  const lifetime = flags.integer('lifetime', 60, 86_400);
  const quota = flags.integer('quota', 0, 1_000_000);
  return {
    ...(name !== undefined ? { name } : {}),
    ...(quota !== undefined ? { tokenQuotaPerMinute: quota } : {}),
    ...(alg !== undefined ? { signingAlg: alg } : {}),
    ...(lifetime !== undefined ? { accessTokenLifetime: lifetime } : {}),
    ...(trustDomain !== undefined ? { trustDomain } : {}),
    ...booleanSetting(flags, 'dpop-nonce', 'dpopNonceRequired'),
  };
}

export const tenants: CommandGroup = {
  name: 'tenants',
  summary: 'Tenants: each one an independent issuer with its own clients, APIs, grants and keys.',
  subcommands: {
    create: {
      summary: 'create a tenant',
      usage: `Usage: tessera tenants create <id> [--name <name>] [--alg ES256|RS256|PS256|EdDSA] [--lifetime <seconds>]

  <id>                 ^[a-z0-9][a-z0-9-]{0,62}$; the issuer becomes <url>/t/<id>
  --name <name>        display name (default: the id)
  --alg <alg>          signing algorithm of its keys (default ES256)
  --lifetime <s>       default access-token lifetime, 60 to 86400 seconds
  --quota <n>          token requests per minute of the whole tenant (0: none)
  --trust-domain <td>  audience of its transaction tokens (default: the issuer)
  --dpop-nonce true|false  DPoP proofs must carry a server nonce (RFC 9449 §8)
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, name: { type: 'string' }, alg: { type: 'string' }, lifetime: { type: 'string' }, quota: { type: 'string' }, 'trust-domain': { type: 'string' }, 'dpop-nonce': { type: 'string' } },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        const body = { id, ...tenantSettings(flags) };
        const tenant = await withApi(flags, io, (api) => api.post<Tenant>('/tenants', body));
        if (flags.json) printJson(io, tenant);
        else printRecord(io, tenant);
      },
    },
    list: {
      summary: 'list tenants',
      usage: `Usage: tessera tenants list\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions },
      async run(flags, io) {
        flags.expectPositionals(0);
        const page = await withApi(flags, io, (api) => api.get<{ items: Tenant[]; nextCursor: string | null }>('/tenants'));
        if (flags.json) return printJson(io, page);
        printTable(io, page.items, [
          { header: 'ID', value: (t) => t.id },
          { header: 'NAME', value: (t) => t.name },
          { header: 'ALG', value: (t) => t.signingAlg },
          { header: 'ISSUER', value: (t) => t.issuer },
        ]);
      },
    },
    get: {
      summary: 'show a tenant',
      usage: `Usage: tessera tenants get <id>\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        const tenant = await withApi(flags, io, (api) => api.get<Tenant>(`/tenants/${seg(id)}`));
        if (flags.json) printJson(io, tenant);
        else printRecord(io, tenant);
      },
    },
    update: {
      summary: "change a tenant's name, default token lifetime or signing algorithm",
      usage: `Usage: tessera tenants update <id> [--name <name>] [--lifetime <seconds>] [--alg ES256|RS256|PS256|EdDSA]

  --name <name>        display name
  --lifetime <s>       default access-token lifetime, 60 to 86400 seconds
  --alg <alg>          new signing algorithm: its key is published now as the next key
                       and signs from the next rotation (tessera keys rotate)
  --quota <n>          token requests per minute of the whole tenant (0: none)
  --trust-domain <td>  audience of its transaction tokens (default: the issuer)
  --dpop-nonce true|false  DPoP proofs must carry a server nonce (RFC 9449 §8)
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, name: { type: 'string' }, alg: { type: 'string' }, lifetime: { type: 'string' }, quota: { type: 'string' }, 'trust-domain': { type: 'string' }, 'dpop-nonce': { type: 'string' } },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        const body = tenantSettings(flags);
        const tenant = await withApi(flags, io, (api) => api.patch<Tenant>(`/tenants/${seg(id)}`, body));
        if (flags.json) printJson(io, tenant);
        else printRecord(io, tenant);
      },
    },
    delete: {
      summary: 'delete a tenant and everything in it',
      usage: `Usage: tessera tenants delete <id>\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        await withApi(flags, io, (api) => api.delete(`/tenants/${seg(id)}`));
        if (flags.json) printJson(io, { deleted: true, id });
        else io.stdout(`Deleted tenant ${id}\n`);
      },
    },
  },
};
