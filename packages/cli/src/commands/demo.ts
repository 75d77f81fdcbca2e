/**
 * `tessera demo`: the shortest way from a running server to a verified token. Registers
 * a sample API (reused if it exists), a new client and its grant, gets a token to prove
 * that it works, and prints the same request as `curl` plus the verify command.
 */
import { connectionOptions, tenantOption } from '../args.js';
import { type Command, CONNECTION_USAGE, seg, tenantOf, withApi } from '../command.js';
import { ApiError, type ManagementApi } from '../management-api.js';
import { printJson } from '../output.js';

const DEMO_AUDIENCE = 'https://orders.example.com';
const DEMO_SCOPES = [
  { value: 'orders:read', description: 'read orders (demo)' },
  { value: 'orders:write', description: 'create orders (demo)' },
];

interface Api { id: string; identifier: string }
interface Client { clientId: string; clientSecret?: string; tokenEndpoint: string; issuer: string }

async function findOrCreateApi(api: ManagementApi, tenant: string, identifier: string): Promise<Api> {
  const path = `/tenants/${seg(tenant)}/apis`;
  try {
    return await api.post<Api>(path, { identifier, name: 'Orders (demo)', scopes: DEMO_SCOPES });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 409) throw error;
    const { items } = await api.listAll<Api>(path);
    const existing = items.find((item) => item.identifier === identifier);
    if (existing === undefined) throw error;
    return existing;
  }
}

/** Single quotes for a POSIX shell. */
function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

export const demo: Command = {
  summary: 'register a sample API, client and grant; print a working curl and the verify command',
  usage: `Usage: tessera demo [--tenant <t>] [--audience <uri>]

Registers the API ${DEMO_AUDIENCE} (scopes orders:read, orders:write; reused if it
exists), a new client "demo-<random>" and a grant of orders:read, gets a token to check
that it all works, and prints:
  - the client's id and secret (shown once: keep them),
  - a curl that gets a token (with its audience),
  - the tessera verify command that checks such a token.

  --tenant <t>            tenant (default "default")
  --audience <uri>        the sample API's identifier (default ${DEMO_AUDIENCE})
${CONNECTION_USAGE}`,
  options: { ...connectionOptions, ...tenantOption, audience: { type: 'string' } },
  async run(flags, io) {
    flags.expectPositionals(0);
    const tenant = tenantOf(flags);
    const audience = flags.string('audience') ?? DEMO_AUDIENCE;
    const { url, client, accessToken } = await withApi(flags, io, async (api) => {
      await findOrCreateApi(api, tenant, audience);
      const created = await api.post<Client>(`/tenants/${seg(tenant)}/clients`, { name: `demo-${Math.random().toString(36).slice(2, 8)}` });
      await api.post(`/tenants/${seg(tenant)}/grants`, { clientId: created.clientId, audience, scopes: ['orders:read'] });
      return { url: api.url, client: created, accessToken: await firstToken(created, audience) };
    });
    const secret = client.clientSecret ?? '';
    const curl = [
      `curl -s ${shellQuote(client.tokenEndpoint)} \\`,
      `  -u ${shellQuote(`${client.clientId}:${secret}`)} \\`,
      '  -d grant_type=client_credentials \\',
      `  -d audience=${shellQuote(audience)} \\`,
      '  -d scope=orders:read',
    ].join('\n');
    const tenantFlag = tenant === 'default' ? '' : ` --tenant ${shellQuote(tenant)}`;
    const verifyCommand = `npx tessera verify "$TOKEN" --audience ${shellQuote(audience)} --url ${shellQuote(url)}${tenantFlag}`;
    const extract = `node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token'`;
    if (flags.json) {
      return printJson(io, { issuer: client.issuer, tokenEndpoint: client.tokenEndpoint, audience, scope: 'orders:read', clientId: client.clientId, clientSecret: secret, curl, verify: verifyCommand, accessToken });
    }
    io.stdout(`Registered in tenant "${tenant}":
  API     ${audience} (scopes orders:read, orders:write)
  client  ${client.clientId}
  secret  ${secret}   (shown once: keep it)
  grant   orders:read on ${audience}

A token was issued for it just now. Get one yourself with curl (the answer is JSON
with access_token, token_type, expires_in and scope):

${curl}

Then verify it as the API would; paste these two lines into a shell:

TOKEN=$(${curl.replaceAll('\\\n  ', '')} | ${extract})
${verifyCommand}
`);
  },
};

/** A token for the new client, as a check that the setup works end to end. */
async function firstToken(client: Client, audience: string): Promise<string> {
  const { clientSecretBasic, createTokenClient } = await import('@tessera/client');
  const tokens = createTokenClient({
    issuer: client.issuer,
    tokenEndpoint: client.tokenEndpoint,
    clientId: client.clientId,
    auth: clientSecretBasic(client.clientSecret ?? ''),
    retry: { maxAttempts: 2, totalTimeoutMs: 15_000 },
  });
  try {
    return await tokens.getAccessToken({ audience, scope: 'orders:read' });
  } finally {
    await tokens.close();
  }
}
