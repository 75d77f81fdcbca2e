/** `tessera federations ...`: trusted external issuers for workload identity (RFC 7523 §2.1). */
import { connectionOptions, type Flags, tenantOption, UsageError } from '../args.js';
import { type CommandGroup, CONNECTION_USAGE, seg, tenantOf, withApi } from '../command.js';
import type { Io } from '../io.js';
import { readPublicJwks } from '../keys-file.js';
import { printJson, printRecord, printTable } from '../output.js';
import type { FederationResource } from '@tessera/server';

type Condition = string | { equals: string } | { prefix: string } | { oneOf: string[] };

interface Rule {
  subject?: string;
  claims?: Record<string, Condition>;
  clientId: string;
}

interface ExchangeRule {
  audience: string;
  clients: string[];
  claims?: Record<string, Condition>;
}

type Federation = FederationResource;

/** `claim=value` (exact), `claim^=prefix` or `claim|=a|b|c` (one of). */
function parseSelectors(selectors: string[], usage: string): Record<string, Condition> {
  const claims: Record<string, Condition> = {};
  for (const selector of selectors) {
    const at = selector.indexOf('=');
    if (at <= 0) throw new UsageError(`claim selector ${JSON.stringify(selector)} must look like claim=value, claim^=prefix or claim|=a|b`, usage);
    const operator = selector[at - 1];
    const value = selector.slice(at + 1);
    if (operator === '^' && at > 1) claims[selector.slice(0, at - 1)] = { prefix: value };
    else if (operator === '|' && at > 1) claims[selector.slice(0, at - 1)] = { oneOf: value.split('|') };
    else claims[selector.slice(0, at)] = value;
  }
  return claims;
}

/** `subject=>clientId` (`*=>clientId`: any subject), optionally followed by `;claim=value` selectors. */
export function parseRule(text: string, usage: string): Rule {
  const arrow = text.lastIndexOf('=>');
  if (arrow <= 0) throw new UsageError(`--rule must look like "subject=>clientId", got ${JSON.stringify(text)}`, usage);
  const subject = text.slice(0, arrow);
  const [clientId = '', ...selectors] = text.slice(arrow + 2).split(';');
  if (clientId === '') throw new UsageError(`--rule ${JSON.stringify(text)} names no client`, usage);
  return { subject, clientId, ...(selectors.length > 0 ? { claims: parseSelectors(selectors, usage) } : {}) };
}

/** `audience=>client1,client2`, optionally followed by `;claim=value` selectors. */
export function parseExchangeRule(text: string, usage: string): ExchangeRule {
  const arrow = text.lastIndexOf('=>');
  if (arrow <= 0) throw new UsageError(`--exchange must look like "audience=>clientId[,clientId...]", got ${JSON.stringify(text)}`, usage);
  const [clients = '', ...selectors] = text.slice(arrow + 2).split(';');
  const list = clients.split(',').filter((c) => c !== '');
  if (list.length === 0) throw new UsageError(`--exchange ${JSON.stringify(text)} names no client`, usage);
  return { audience: text.slice(0, arrow), clients: list, ...(selectors.length > 0 ? { claims: parseSelectors(selectors, usage) } : {}) };
}

function parseReplay(text: string | undefined, usage: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  if (text === 'off' || text === 'single-use') return { mode: text };
  const match = /^max-age=(\d{1,6})$/.exec(text);
  if (match === null) throw new UsageError(`--replay must be off, single-use or max-age=<seconds>, got ${JSON.stringify(text)}`, usage);
  return { mode: 'max-age', maxAgeSeconds: Number(match[1]) };
}

function parseMappings(values: string[], usage: string): Record<string, string> {
  const mappings: Record<string, string> = {};
  for (const text of values) {
    const at = text.indexOf('=');
    if (at <= 0 || at === text.length - 1) throw new UsageError(`--map must look like tokenClaim=externalClaim, got ${JSON.stringify(text)}`, usage);
    mappings[text.slice(0, at)] = text.slice(at + 1);
  }
  return mappings;
}

function formatCondition(name: string, condition: unknown): string {
  if (typeof condition === 'string') return `;${name}=${condition}`;
  const c = condition as Record<string, unknown>;
  if (typeof c['prefix'] === 'string') return `;${name}^=${c['prefix']}`;
  if (Array.isArray(c['oneOf'])) return `;${name}|=${c['oneOf'].join('|')}`;
  return `;${name}=${String(c['equals'])}`;
}

function formatRule(rule: { subject?: string; claims?: Record<string, unknown>; clientId: string }): string {
  const claims = Object.entries(rule.claims ?? {}).map(([claim, value]) => formatCondition(claim, value)).join('');
  return `${rule.subject ?? ''}=>${rule.clientId}${claims}`;
}

function formatExchangeRule(rule: { audience: string; clients: string[]; claims?: Record<string, unknown> }): string {
  const claims = Object.entries(rule.claims ?? {}).map(([claim, value]) => formatCondition(claim, value)).join('');
  return `${rule.audience}=>${rule.clients.join(',')}${claims}`;
}

const settingOptions = {
  name: { type: 'string' },
  issuer: { type: 'string' },
  'jwks-uri': { type: 'string' },
  'jwks-file': { type: 'string' },
  audience: { type: 'string' },
  rule: { type: 'string', multiple: true },
  kind: { type: 'string' },
  exchange: { type: 'string', multiple: true },
  map: { type: 'string', multiple: true },
  replay: { type: 'string' },
} as const;

/** The request body fields that the flags set (create and update share them). */
async function settingsBody(flags: Flags): Promise<{ rules?: Rule[]; exchangeRules?: ExchangeRule[] } & Record<string, unknown>> {
  const jwksFile = flags.string('jwks-file');
  const jwksUri = flags.string('jwks-uri');
  if (jwksFile !== undefined && jwksUri !== undefined) throw new UsageError('--jwks-uri and --jwks-file exclude each other', flags.usage);
  const kind = flags.choice('kind', ['workload', 'subject'] as const);
  const rules = flags.list('rule').map((rule) => parseRule(rule, flags.usage));
  const exchangeRules = flags.list('exchange').map((rule) => parseExchangeRule(rule, flags.usage));
  const replayProtection = parseReplay(flags.string('replay'), flags.usage);
  const claimMappings = parseMappings(flags.list('map'), flags.usage);
  return {
    ...(flags.string('name') !== undefined ? { name: flags.string('name') } : {}),
    ...(flags.string('issuer') !== undefined ? { issuer: flags.string('issuer') } : {}),
    ...(kind !== undefined ? { kind } : {}),
    ...(jwksFile !== undefined ? { jwks: await readPublicJwks(jwksFile) } : {}),
    ...(jwksUri !== undefined ? { jwksUri } : {}),
    ...(flags.string('audience') !== undefined ? { audience: flags.string('audience') } : {}),
    ...(rules.length > 0 ? { rules } : {}),
    ...(exchangeRules.length > 0 ? { exchangeRules } : {}),
    ...(Object.keys(claimMappings).length > 0 ? { claimMappings } : {}),
    ...(replayProtection !== undefined ? { replayProtection } : {}),
  };
}

function federationsPath(flags: Flags, id?: string): string {
  return `/tenants/${seg(tenantOf(flags))}/federations${id === undefined ? '' : `/${seg(id)}`}`;
}

function printFederation(flags: Flags, io: Io, federation: Federation): void {
  if (flags.json) printJson(io, federation);
  else printRecord(io, { ...federation, rules: federation.rules.map(formatRule), exchangeRules: federation.exchangeRules.map(formatExchangeRule) });
}

export const federations: CommandGroup = {
  name: 'federations',
  summary: 'Federations: external issuers (Kubernetes, GitHub Actions, clouds) whose JWTs are exchanged for tokens.',
  subcommands: {
    create: {
      summary: 'trust an external issuer',
      usage: `Usage: tessera federations create --name <n> --issuer <iss> [--jwks-uri <url> | --jwks-file <file>]
                                  --rule 'subject=>clientId' [--rule ...] [--audience <aud>] [--tenant <t>]
       tessera federations create --kind subject --name <n> --issuer <iss>
                                  --exchange 'audience=>clientId[,clientId]' [--exchange ...] [--map c=c ...]

  --kind <k>              workload (default): the issuer's JWTs act as a client (jwt-bearer grant);
                          subject: users' tokens of the issuer are exchanged on their behalf (token exchange)
  --issuer <iss>          the external "iss"; without --jwks-uri and --jwks-file its keys are found
                          through <iss>/.well-known/openid-configuration
  --jwks-uri <url>        where its keys are published, or
  --jwks-file <file>      its keys (JWK Set, JWK or PEM)
  --audience <aud>        workload: the "aud" its JWTs must carry
  --rule <rule>           workload: "subject=>clientId": a JWT with this "sub" (exact, or a prefix
                          ending in *; "*": any) acts as that client. Add ";claim=value" (exact),
                          ";claim^=prefix" or ";claim|=a|b" (one of) to also require claims. Repeatable.
  --exchange <rule>       subject: "audience=>client1,client2": those clients may exchange tokens whose
                          "aud" holds this audience; claim selectors as for --rule. Repeatable.
  --map <to=from>         copy the external claim "from" into issued tokens as "to". Repeatable.
  --replay <mode>         off (default), single-use (each jti once, across replicas) or max-age=<s>
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, ...settingOptions },
      async run(flags, io) {
        flags.expectPositionals(0);
        const kind = flags.choice('kind', ['workload', 'subject'] as const) ?? 'workload';
        const body = { name: flags.required('name'), issuer: flags.required('issuer'), ...(await settingsBody(flags)), kind };
        if (kind === 'workload' && body.rules === undefined) throw new UsageError('--rule is required (repeat it for several)', flags.usage);
        if (kind === 'subject' && body.exchangeRules === undefined) throw new UsageError('--exchange is required for --kind subject (repeat it for several)', flags.usage);
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
          { header: 'KIND', value: (f) => f.kind },
          { header: 'ISSUER', value: (f) => f.issuer },
          { header: 'RULES', value: (f) => [...f.rules.map(formatRule), ...f.exchangeRules.map(formatExchangeRule)] },
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
    update: {
      summary: 'change a trusted issuer in place (same id)',
      usage: `Usage: tessera federations update <id> [--name <n>] [--issuer <iss>] [--jwks-uri <url> | --jwks-file <file>]
                                  [--audience <aud>] [--rule ... | --exchange ...] [--map c=c ...] [--replay <mode>]

The options are those of "federations create"; each one given replaces that setting
(--rule, --exchange and --map replace all the rules, exchange rules or mappings), and
the result is checked as a new federation would be.
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, ...settingOptions },
      async run(flags, io) {
        const id = flags.positional(0, 'id');
        flags.expectPositionals(1);
        const body = await settingsBody(flags);
        if (Object.keys(body).length === 0) throw new UsageError('nothing to change: pass at least one option', flags.usage);
        printFederation(flags, io, await withApi(flags, io, (api) => api.patch<Federation>(federationsPath(flags, id), body)));
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
