/** `tessera keys list|rotate`: a tenant's signing keys. */
import { connectionOptions, type Flags, tenantOption } from '../args.js';
import { type CommandGroup, CONNECTION_USAGE, seg, tenantOf, withApi } from '../command.js';
import type { Io } from '../io.js';
import { notice, printJson, printTable } from '../output.js';
import type { KeyResource } from '@tessera/server';
import { keysRewrap } from './keys-rewrap.js';

type SigningKey = KeyResource;

type KeyPage = { items: SigningKey[]; nextCursor: string | null };

function printKeys(flags: Flags, io: Io, page: KeyPage): void {
  if (flags.json) return printJson(io, page);
  printTable(io, page.items, [
    { header: 'KID', value: (k) => k.kid },
    { header: 'ALG', value: (k) => k.alg },
    { header: 'STATUS', value: (k) => k.status },
    { header: 'CREATED AT', value: (k) => k.createdAt, time: true },
    { header: 'ACTIVATED AT', value: (k) => k.activatedAt, time: true },
    { header: 'RETIRED AT', value: (k) => k.retiredAt, time: true },
    { header: 'PUBLISHED UNTIL', value: (k) => k.publishUntil, time: true },
  ]);
}

export const keys: CommandGroup = {
  name: 'keys',
  summary: 'Signing keys: next (published, not yet signing), active, retired (published until its tokens expire).',
  subcommands: {
    list: {
      summary: "list a tenant's signing keys",
      usage: `Usage: tessera keys list [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        flags.expectPositionals(0);
        printKeys(flags, io, await withApi(flags, io, (api) => api.get<KeyPage>(`/tenants/${seg(tenantOf(flags))}/keys`)));
      },
    },
    rotate: {
      summary: 'rotate now: the published next key signs, the old one is retired; --emergency removes it at once',
      usage: `Usage: tessera keys rotate [--tenant <t>] [--emergency]

  --emergency    the active key is compromised: stop publishing it at once. Tokens it
                 signed stop verifying as soon as verifiers refresh their key sets.
To change the algorithm: tessera tenants update <t> --alg <alg>, then rotate.
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, emergency: { type: 'boolean' } },
      async run(flags, io) {
        flags.expectPositionals(0);
        const body = flags.boolean('emergency') ? { emergency: true } : {};
        const page = await withApi(flags, io, (api) => api.post<KeyPage>(`/tenants/${seg(tenantOf(flags))}/keys/rotate`, body));
        if (!flags.json) notice(io, flags.boolean('emergency') ? 'Emergency rotation done: the old key is no longer published.' : 'Rotated.');
        printKeys(flags, io, page);
      },
    },
    rewrap: keysRewrap,
  },
};
