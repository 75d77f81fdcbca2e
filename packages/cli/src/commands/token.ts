/** `tessera token`: get an access token as a client, with @tessera/client. */
import { readFile } from 'node:fs/promises';
import { createPrivateKey } from 'node:crypto';
import type { ClientAuth } from '@tessera/client';
import { connectionOptions, type Flags, tenantOption, UsageError } from '../args.js';
import type { Command } from '../command.js';
import type { Io } from '../io.js';
import { jwkThumbprint, readPrivateKey } from '../keys-file.js';
import { CliError, resolveServerUrl } from '../management-api.js';
import { printJson } from '../output.js';

export const ISSUER_USAGE = `  --issuer <url>          the issuer, e.g. https://auth.example.com/t/default (any RFC 8414 issuer), or
  --tenant <t>            a tenant of the Tessera server at --url: issuer <url>/t/<t> (default "default")
  --url <url>             (default: TESSERA_URL, else the url in the admin file, else http://127.0.0.1:8080)`;

/** `--issuer`, else `<url>/t/<tenant>`. */
export async function resolveIssuer(flags: Flags, io: Io): Promise<string> {
  const issuer = flags.string('issuer');
  if (issuer !== undefined) {
    if (flags.has('tenant')) throw new UsageError('--issuer and --tenant exclude each other', flags.usage);
    if (!URL.canParse(issuer)) throw new UsageError(`--issuer must be a URL, got ${JSON.stringify(issuer)}`, flags.usage);
    return issuer;
  }
  return `${await resolveServerUrl(flags, io)}/t/${encodeURIComponent(flags.string('tenant') ?? 'default')}`;
}

async function readPem(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

async function clientAuth(flags: Flags, io: Io): Promise<ClientAuth> {
  const { clientSecretBasic, clientSecretPost, privateKeyJwt, selfSignedTlsClientAuth, tlsClientAuth } = await import('@tessera/client');
  const secret = flags.string('client-secret') ?? (io.env['TESSERA_CLIENT_SECRET'] || undefined);
  const keyFile = flags.string('private-key');
  const cert = flags.string('tls-cert');
  const chosen = [secret !== undefined, keyFile !== undefined, cert !== undefined].filter(Boolean).length;
  if (chosen !== 1) {
    throw new UsageError('pass exactly one of --client-secret (or TESSERA_CLIENT_SECRET), --private-key, --tls-cert', flags.usage);
  }
  if (secret !== undefined) {
    const method = flags.choice('auth', ['client_secret_basic', 'client_secret_post'] as const) ?? 'client_secret_basic';
    return method === 'client_secret_post' ? clientSecretPost(secret) : clientSecretBasic(secret);
  }
  if (keyFile !== undefined) {
    const key = await readPrivateKey(keyFile);
    // A PEM key has no kid: use its thumbprint, which is the kid `clients create --jwks-file` registers for it.
    const kid = flags.string('kid') ?? (typeof key === 'string' ? jwkThumbprint(createPrivateKey(key).export({ format: 'jwk' }) as Record<string, unknown>) : undefined);
    return privateKeyJwt(key, { ...(kid !== undefined ? { kid } : {}), ...(flags.string('alg') !== undefined ? { alg: flags.string('alg') } : {}) });
  }
  const tls = { cert: await readPem(cert as string), key: await readPem(flags.required('tls-key')) };
  return flags.boolean('self-signed') ? selfSignedTlsClientAuth(tls) : tlsClientAuth(tls);
}

export const token: Command = {
  summary: 'get an access token as a client (client credentials)',
  usage: `Usage: tessera token --client-id <id> (--client-secret <s> | --private-key <file> | --tls-cert <f> --tls-key <f>)
                     [--tenant <t> | --issuer <url>] [--audience <api>] [--scope <s> ...]

Prints the access token; with --json the whole token response.

${ISSUER_USAGE}
  --client-id <id>
  --client-secret <s>     client_secret_basic (default: TESSERA_CLIENT_SECRET)
  --auth client_secret_post   send the secret in the body instead
  --private-key <file>    private_key_jwt with this key (PEM or private JWK)
  --kid <kid>             the assertion's kid (default: the JWK's kid, or the PEM key's thumbprint)
  --alg <alg>             the assertion's algorithm (default: from the key)
  --tls-cert <file>       tls_client_auth with this certificate (PEM)
  --tls-key <file>        and its key
  --self-signed           self_signed_tls_client_auth
  --audience <api>        the API's identifier (optional when the client has one grant)
  --resource <uri>        RFC 8707 resource instead of --audience
  --scope <s>             repeatable; default: every granted scope
  --dpop-key <file>       bind the token to this private key with a DPoP proof (RFC 9449; PEM or private JWK)
  --json                  the token response as JSON
`,
  options: {
    ...connectionOptions,
    ...tenantOption,
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    auth: { type: 'string' },
    'private-key': { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'self-signed': { type: 'boolean' },
    audience: { type: 'string' },
    resource: { type: 'string' },
    scope: { type: 'string', multiple: true },
    'dpop-key': { type: 'string' },
  },
  async run(flags, io) {
    flags.expectPositionals(0);
    const clientId = flags.required('client-id');
    const issuer = await resolveIssuer(flags, io);
    const auth = await clientAuth(flags, io);
    const { createTokenClient } = await import('@tessera/client');
    const dpopKey = flags.string('dpop-key');
    const dpop = dpopKey === undefined ? undefined : await readPrivateKey(dpopKey);
    const client = createTokenClient({ issuer, clientId, auth, retry: { maxAttempts: 2, totalTimeoutMs: 15_000 }, ...(dpop !== undefined ? { dpop } : {}) });
    try {
      const scopes = flags.list('scope').flatMap((s) => s.split(' ')).filter(Boolean);
      const result = await client.getToken({
        ...(flags.string('audience') !== undefined ? { audience: flags.string('audience') } : {}),
        ...(flags.string('resource') !== undefined ? { resource: flags.string('resource') } : {}),
        ...(scopes.length > 0 ? { scope: scopes } : {}),
      });
      if (flags.json) printJson(io, result.response);
      else io.stdout(`${result.accessToken}\n`);
    } finally {
      await client.close();
    }
  },
};
