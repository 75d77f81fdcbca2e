/** `tessera verify <jwt>`: verify an access token as a resource server would, with @tessera/verifier. */
import { connectionOptions, tenantOption, UsageError } from '../args.js';
import type { Command } from '../command.js';
import { printJson, printRecord } from '../output.js';
import { ISSUER_USAGE, resolveIssuer } from './token.js';

export const verify: Command = {
  summary: 'verify an access token against an issuer and print its claims',
  usage: `Usage: tessera verify <jwt | -> --audience <api> [--tenant <t> | --issuer <url>] [--scope <s> ...]

Verifies the signature (keys from the issuer's JWKS, found by discovery), typ, iss, aud,
exp and the scopes, and prints the claims. "-" reads the token from standard input.
On failure, exits 1 and prints the error code (e.g. ERR_AUDIENCE_MISMATCH).

${ISSUER_USAGE}
  --audience <api>        the identifier of the API the token must be for, repeatable
  --scope <s>             a scope the token must carry, repeatable
  --json                  the claims as JSON
`,
  options: {
    ...connectionOptions,
    ...tenantOption,
    issuer: { type: 'string' },
    audience: { type: 'string', multiple: true },
    scope: { type: 'string', multiple: true },
  },
  async run(flags, io) {
    let jwt = flags.positional(0, 'jwt');
    flags.expectPositionals(1);
    if (jwt === '-') jwt = (await io.readStdin()).trim();
    const audiences = flags.list('audience');
    if (audiences.length === 0) throw new UsageError('--audience is required', flags.usage);
    const issuer = await resolveIssuer(flags, io);
    const { createVerifier } = await import('@tessera/verifier');
    const verifier = createVerifier({ issuer, audience: audiences });
    const scopes = flags.list('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const claims = await verifier.verify(jwt, scopes.length > 0 ? { scopes } : {});
    if (flags.json) printJson(io, claims);
    else printRecord(io, { ...claims, ...expiry(claims.exp) });
  },
};

function expiry(exp: number): { expires: string } {
  const seconds = Math.round(exp - Date.now() / 1000);
  return { expires: `${new Date(exp * 1000).toISOString()} (in ${seconds} s)` };
}
