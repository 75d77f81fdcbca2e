/** `tessera federations ...`: trusted external issuers for workload identity (RFC 7523 §2.1). */
import { connectionOptions, type Flags, tenantOption, UsageError } from '../args.js';
import { type CommandGroup, CONNECTION_USAGE, seg, tenantOf, withApi } from '../command.js';
import type { Io } from '../io.js';
import { readPublicJwks } from '../keys-file.js';
import { printJson, printRecord, printTable } from '../output.js';
import type { FederationResource } from '@tessera/server';

interface Rule {
  subject: string;
  claims?: Record<string, string>;
  clientId: string;
}

type Federation = FederationResource;

/** `subject=>clientId`, optionally followed by `;claim=value` selectors. */
export function parseRule(text: string, usage: string): Rule {
  const arrow = text.lastIndexOf('=>');
  if (arrow <= 0) throw new UsageError(`--rule must look like "subject=>clientId", got ${JSON.stringify(text)}`, usage);
  const subject = text.slice(0, arrow);
  const [clientId = '', ...selectors] = text.slice(arrow + 2).split(';');
  if (clientId === '') throw new UsageError(`--rule ${JSON.stringify(text)} names no client`, usage);
  const claims: Record<string, string> = {};
  for (const selector of selectors) {
    const at = selector.indexOf('=');
    if (at <= 0) throw new UsageError(`claim selector ${JSON.stringify(selector)} must look like claim=value`, usage);
    claims[selector.slice(0, at)] = selector.slice(at + 1);
  }
  return { subject, clientId, ...(selectors.length > 0 ? { claims } : {}) };
}

function formatRule(rule: Rule): string {
  const claims = Object.entries(rule.claims ?? {}).map(([claim, value]) => `;${claim}=${value}`).join('');
  return `${rule.subject}=>${rule.clientId}${claims}`;
}

function federationsPath(flags: Flags, id?: string): string {
  return `/tenants/${seg(tenantOf(flags))}/federations${id === undefined ? '' : `/${seg(id)}`}`;
}

function printFederation(flags: Flags, io: Io, federation: Federation): void {
  if (flags.json) printJson(io, federation);
  else printRecord(io, { ...federation, rules: federation.rules.map(formatRule) });
}

export const federations: CommandGroup = {
  name: 'federations',
  summary: 'Federations: external issuers (Kubernetes, GitHub Actions, clouds) whose JWTs are exchanged for tokens.',
  subcommands: {
    create: {
      summary: 'trust an external issuer',
      usage: `Usage: tessera federations create --name <n> --issuer <iss> (--jwks-uri <url> | --jwks-file <file>)
                                  --rule 'subject=>clientId' [--rule ...] [--audience <aud>] [--tenant <t>]

  --issuer <iss>          the external "iss"
  --jwks-uri <url>        where its keys are published, or
  --jwks-file <file>      its keys (JWK Set, JWK or PEM)
  --audience <aud>        the "aud" its JWTs must carry
  --rule <rule>           "subject=>clientId": a JWT with this "sub" (exact, or a prefix ending in *)
                          acts as that client; add ";claim=value" to also require claims. Repeatable.
${CONNECTION_USAGE}`,
      options: {
        ...connectionOptions,
        ...tenantOption,
        name: { type: 'string' },
        issuer: { type: 'string' },
        'jwks-uri': { type: 'string' },
        'jwks-file': { type: 'string' },
        audience: { type: 'string' },
        rule: { type: 'string', multiple: true },
      },
      async run(flags, io) {
        flags.expectPositionals(0);
        const jwksFile = flags.string('jwks-file');
        if ((jwksFile === undefined) === (flags.string('jwks-uri') === undefined)) {
          throw new UsageError('pass exactly one of --jwks-uri and --jwks-file', flags.usage);
        }
        const rules = flags.list('rule').map((rule) => parseRule(rule, flags.usage));
        if (rules.length === 0) throw new UsageError('--rule is required (repeat it for several)', flags.usage);
        const body = {
          name: flags.required('name'),
          issuer: flags.required('issuer'),
          ...(jwksFile !== undefined ? { jwks: await readPublicJwks(jwksFile) } : { jwksUri: flags.string('jwks-uri') }),
          ...(flags.string('audience') !== undefined ? { audience: flags.string('audience') } : {}),
          rules,
        };
        printFederation(flags, io, await withApi(flags, io, (api) => api.post<Federation>(federationsPath(flags), body)));
      },
    },
    list: {
      summary: 'list trusted issuers',
      usage: `Usage: tessera federations list [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        flags.expectPositionals(0);
        const page = await withApi(flags, io, (api) => api.get<{ items: Federation[]; nextCursor: string | null }>(federationsPath(flags)));
        if (flags.json) return printJson(io, page);
        printTable(io, page.items, [
          { header: 'ID', value: (f) => f.id },
          { header: 'NAME', value: (f) => f.name },
          { header: 'ISSUER', value: (f) => f.issuer },
          { header: 'RULES', value: (f) => f.rules.map(formatRule) },
        ]);
      },
    },
    get: {
      summary: 'show a trusted issuer',
      usage: `Usage: tessera federations get <id> [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        printFederation(flags, io, await withApi(flags, io, (api) => api.get<Federation>(federationsPath(flags, id))));
      },
    },
    delete: {
      summary: 'stop trusting an issuer',
      usage: `Usage: tessera federations delete <id> [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        await withApi(flags, io, (api) => api.delete(federationsPath(flags, id)));
        if (flags.json) printJson(io, { deleted: true, id });
        else io.stdout(`Deleted federation ${id}\n`);
      },
    },
  },
};
