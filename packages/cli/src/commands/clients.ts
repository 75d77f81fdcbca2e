/** `tessera clients ...`: services that get tokens, their authentication and their secrets. */
import { booleanSetting, connectionOptions, type Flags, tenantOption, UsageError } from '../args.js';
import { type CommandGroup, CONNECTION_USAGE, seg, tenantOf, withApi } from '../command.js';
import { CLAIM_USAGE, parseClaims } from '../claims.js';
import { readPublicJwks } from '../keys-file.js';
import { notice, printJson, printRecord, printTable } from '../output.js';
import type { ClientListItemResource, CreatedClientResource, CreatedSecretResource } from '@tessera/server';


type Client = CreatedClientResource;
/** A client in the list, with when it last got a token. */
type ClientRow = ClientListItemResource;

type CreatedSecret = CreatedSecretResource;

const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'] as const;
const CLIENT_FIELDS = [
  'clientId', 'clientSecret', 'name', 'tenantId', 'tokenEndpointAuthMethod', 'disabled', 'accessTokenLifetime', 'tokenQuotaPerMinute', 'dpopBoundAccessTokens', 'txnTokenService', 'jwksUri', 'jwks',
  'tlsClientAuthSubjectDn', 'customClaims', 'secrets', 'issuer', 'tokenEndpoint', 'discoveryEndpoint', 'createdAt', 'updatedAt',
];
const SECRET_WARNING = 'warning: the client secret is shown only once; store it now. Only a hash is kept.';

const settingOptions = {
  name: { type: 'string' },
  'auth-method': { type: 'string' },
  'jwks-file': { type: 'string' },
  'jwks-uri': { type: 'string' },
  'tls-subject-dn': { type: 'string' },
  lifetime: { type: 'string' },
  claim: { type: 'string', multiple: true },
  'clear-claims': { type: 'boolean' },
  quota: { type: 'string' },
  'dpop-bound': { type: 'string' },
  'txn-token-service': { type: 'string' },
} as const;

const SETTINGS_USAGE = `  --auth-method <m>       client_secret_basic (default), client_secret_post, private_key_jwt,
                          tls_client_auth, self_signed_tls_client_auth
  --jwks-file <file>      public keys for private_key_jwt / self_signed_tls_client_auth:
                          a JWK Set, a JWK or a PEM key (a private key is reduced to its public part)
  --jwks-uri <url>        or where the client publishes them
  --tls-subject-dn <dn>   certificate subject DN for tls_client_auth
  --lifetime <s>          access-token lifetime for this client, 60 to 86400 seconds
${CLAIM_USAGE}
                          (on update, the claims given replace all the client's claims)
  --clear-claims          remove every custom claim of the client
  --quota <n>             token requests per minute for this client (0: none; docs/protection.md)
  --dpop-bound true|false every token request must carry a DPoP proof (docs/dpop.md)
  --txn-token-service true|false
                          may mint transaction tokens (docs/transaction-tokens.md)`;

/** The request body fields that the flags set (create and update share them). */
async function settingsBody(flags: Flags): Promise<Record<string, unknown>> {
  const method = flags.choice('auth-method', AUTH_METHODS);
  if (flags.has('jwks-file') && flags.has('jwks-uri')) throw new UsageError('--jwks-file and --jwks-uri exclude each other', flags.usage);
  const lifetime = flags.integer('lifetime', 60, 86_400);
  const quota = flags.integer('quota', 0, 1_000_000);
  const jwksFile = flags.string('jwks-file');
  const claims = flags.list('claim');
  if (claims.length > 0 && flags.has('clear-claims')) throw new UsageError('--claim and --clear-claims exclude each other', flags.usage);
  return {
    ...(flags.string('name') !== undefined ? { name: flags.string('name') } : {}),
    ...(method !== undefined ? { tokenEndpointAuthMethod: method } : {}),
    ...(jwksFile !== undefined ? { jwks: await readPublicJwks(jwksFile), jwksUri: null } : {}),
    ...(flags.string('jwks-uri') !== undefined ? { jwksUri: flags.string('jwks-uri'), jwks: null } : {}),
    ...(flags.string('tls-subject-dn') !== undefined ? { tlsClientAuthSubjectDn: flags.string('tls-subject-dn') } : {}),
    ...(lifetime !== undefined ? { accessTokenLifetime: lifetime } : {}),
    ...(claims.length > 0 ? { customClaims: parseClaims(claims, flags.usage) } : {}),
    ...(flags.has('clear-claims') ? { customClaims: null } : {}),
    ...(quota !== undefined ? { tokenQuotaPerMinute: quota } : {}),
    ...booleanSetting(flags, 'dpop-bound', 'dpopBoundAccessTokens'),
    ...booleanSetting(flags, 'txn-token-service', 'txnTokenService'),
  };
}

function clientPath(flags: Flags, id: string): string {
  return `/tenants/${seg(tenantOf(flags))}/clients/${seg(id)}`;
}

export const clients: CommandGroup = {
  name: 'clients',
  summary: 'Clients: services that authenticate at the token endpoint and get tokens for the APIs granted to them.',
  subcommands: {
    create: {
      summary: 'register a client (prints its secret once)',
      usage: `Usage: tessera clients create --name <name> [--tenant <t>] [options]

  --tenant <t>            tenant (default "default")
  --name <name>           1 to 100 characters
${SETTINGS_USAGE}
  --disable               create it disabled
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, ...settingOptions, disable: { type: 'boolean' } },
      async run(flags, io) {
        flags.expectPositionals(0);
        flags.required('name');
        const body = await settingsBody(flags);
        // On create, "no keys" is simply absence.
        if (body['jwks'] === null) delete body['jwks'];
        if (body['jwksUri'] === null) delete body['jwksUri'];
        if (flags.boolean('disable')) body['disabled'] = true;
        const client = await withApi(flags, io, (api) => api.post<Client>(`/tenants/${seg(tenantOf(flags))}/clients`, body));
        if (flags.json) printJson(io, client);
        else printRecord(io, client, CLIENT_FIELDS);
        if (client.clientSecret !== undefined) notice(io, SECRET_WARNING);
      },
    },
    list: {
      summary: 'list the clients of a tenant (searched and sorted by the server)',
      usage: `Usage: tessera clients list [--tenant <t>] [--search <text>] [--sort <key>] [--order asc|desc] [--dormant-days <n>] [--limit <n> [--cursor <c>]]

  --search <text>         only clients whose id or name contains it (any case)
  --sort <key>            createdAt (default), clientId, name or lastUsedAt
  --order asc|desc        default asc; --sort lastUsedAt --order desc: most recently used first
  --dormant-days <n>      only clients older than n days that got no token in them (never used included)
  --limit, --cursor       one page (default: every client); keep the other flags when following --cursor
${CONNECTION_USAGE}`,
      options: {
        ...connectionOptions,
        ...tenantOption,
        limit: { type: 'string' },
        cursor: { type: 'string' },
        search: { type: 'string' },
        sort: { type: 'string' },
        order: { type: 'string' },
        'dormant-days': { type: 'string' },
      },
      async run(flags, io) {
        flags.expectPositionals(0);
        const path = `/tenants/${seg(tenantOf(flags))}/clients`;
        const limit = flags.integer('limit', 1, 200);
        const search = flags.string('search');
        const query = {
          ...(search !== undefined && search !== '' ? { q: search } : {}),
          sort: flags.choice('sort', ['createdAt', 'clientId', 'name', 'lastUsedAt'] as const),
          order: flags.choice('order', ['asc', 'desc'] as const),
          dormantDays: flags.integer('dormant-days', 1, 9999),
        };
        const page = await withApi(flags, io, (api) =>
          limit === undefined && !flags.has('cursor')
            ? api.listAll<ClientRow>(path, query)
            : api.get<{ items: ClientRow[]; nextCursor: string | null }>(path, { ...query, limit, cursor: flags.string('cursor') }),
        );
        if (flags.json) return printJson(io, page);
        printTable(io, page.items, [
          { header: 'CLIENT ID', value: (c) => c.clientId },
          { header: 'NAME', value: (c) => c.name },
          { header: 'AUTH METHOD', value: (c) => c.tokenEndpointAuthMethod },
          { header: 'STATUS', value: (c) => (c.disabled ? 'disabled' : 'enabled') },
          { header: 'SECRETS', value: (c) => c.secrets.length },
          { header: 'LAST USED', value: (c) => c.lastUsedAt, time: true },
          { header: 'CREATED AT', value: (c) => c.createdAt, time: true },
        ]);
        if (page.nextCursor !== null) notice(io, `more: --cursor ${page.nextCursor}`);
      },
    },
    get: {
      summary: 'show a client (never its secrets)',
      usage: `Usage: tessera clients get <clientId> [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'clientId');
        flags.expectPositionals(1);
        const client = await withApi(flags, io, (api) => api.get<Client>(clientPath(flags, id)));
        if (flags.json) printJson(io, client);
        else printRecord(io, client, CLIENT_FIELDS);
      },
    },
    update: {
      summary: 'change a client',
      usage: `Usage: tessera clients update <clientId> [--tenant <t>] [options]

  --name <name>           new name
${SETTINGS_USAGE}
  --disable / --enable    disabling a client also ends every token it holds
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption, ...settingOptions, disable: { type: 'boolean' }, enable: { type: 'boolean' } },
      async run(flags, io) {
        const id = flags.positional(0, 'clientId');
        flags.expectPositionals(1);
        if (flags.boolean('disable') && flags.boolean('enable')) throw new UsageError('--disable and --enable exclude each other', flags.usage);
        const body = await settingsBody(flags);
        if (flags.boolean('disable')) body['disabled'] = true;
        if (flags.boolean('enable')) body['disabled'] = false;
        if (Object.keys(body).length === 0) throw new UsageError('nothing to change: pass at least one option', flags.usage);
        const client = await withApi(flags, io, (api) => api.patch<Client>(clientPath(flags, id), body));
        if (flags.json) printJson(io, client);
        else printRecord(io, client, CLIENT_FIELDS);
      },
    },
    delete: {
      summary: 'delete a client (its tokens stop working)',
      usage: `Usage: tessera clients delete <clientId> [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'clientId');
        flags.expectPositionals(1);
        await withApi(flags, io, (api) => api.delete(clientPath(flags, id)));
        if (flags.json) printJson(io, { deleted: true, clientId: id });
        else io.stdout(`Deleted client ${id}\n`);
      },
    },
    'secrets add': {
      summary: 'add a second secret (rotation: add, deploy it, then delete the old one)',
      usage: `Usage: tessera clients secrets add <clientId> [--tenant <t>]

A client holds at most two secrets. To rotate: "secrets add", deploy the new secret,
then "secrets delete <clientId> <oldSecretId>" (ids: "clients get <clientId>").
${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'clientId');
        flags.expectPositionals(1);
        const secret = await withApi(flags, io, (api) => api.post<CreatedSecret>(`${clientPath(flags, id)}/secrets`));
        if (flags.json) printJson(io, secret);
        else printRecord(io, secret, ['id', 'clientSecret', 'createdAt']);
        notice(io, SECRET_WARNING);
      },
    },
    'secrets delete': {
      summary: 'delete one secret of a client',
      usage: `Usage: tessera clients secrets delete <clientId> <secretId> [--tenant <t>]\n${CONNECTION_USAGE}`,
      options: { ...connectionOptions, ...tenantOption },
      async run(flags, io) {
        const id = flags.positional(0, 'clientId');
        const secretId = flags.positional(1, 'secretId');
        flags.expectPositionals(2);
        await withApi(flags, io, (api) => api.delete(`${clientPath(flags, id)}/secrets/${seg(secretId)}`));
        if (flags.json) printJson(io, { deleted: true, clientId: id, secretId });
        else io.stdout(`Deleted secret ${secretId} of client ${id}\n`);
      },
    },
  },
};
