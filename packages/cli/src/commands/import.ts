/** `tessera import keycloak REALM.json`: a Keycloak realm export as a Tessera configuration file (docs/config-as-code.md). */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../args.js';
import type { CommandGroup } from '../command.js';
import { importKeycloakRealm, keycloakImportText } from '../config-as-code/keycloak.js';
import { writeSecretFile } from '../config-as-code/secrets.js';
import { CliError } from '../management-api.js';
import { notice, printJson } from '../output.js';

export const importGroup: CommandGroup = {
  name: 'import',
  summary: 'Import the registry of another server as a configuration file.',
  subcommands: {
    keycloak: {
      summary: 'print the Tessera configuration of a Keycloak realm export',
      usage: `Usage: tessera import keycloak <realm.json> [--secrets-out <dir>] [--tenant <id>]

Prints the configuration file on stdout; what has no equivalent is listed at its top as
comments, with the reason. The file never holds a secret.

  --secrets-out <dir>     write the realm's client secrets there, one file per client id
                          (mode 0600), for "tessera apply -f FILE --secrets-from <dir>"
  --tenant <id>           the tenant to create (default: the realm's name)
  --json                  print {config, dropped, changed} instead
`,
      options: { 'secrets-out': { type: 'string' }, tenant: { type: 'string', short: 't' } },
      async run(flags, io) {
        const file = flags.positional(0, 'realm.json');
        flags.expectPositionals(1);
        let realm: unknown;
        try {
          realm = JSON.parse(await readFile(file, 'utf8'));
        } catch (error) {
          throw new CliError(`cannot read ${file} as JSON: ${(error as Error).message}`);
        }
        const tenant = flags.string('tenant');
        if (tenant === '') throw new UsageError('--tenant must not be empty', flags.usage);
        const result = importKeycloakRealm(realm, tenant !== undefined ? { tenant } : {});
        const dir = flags.string('secrets-out');
        if (dir !== undefined) {
          for (const [clientId, secret] of result.secrets) await writeSecretFile(dir, clientId, secret);
          notice(io, `wrote the secrets of ${result.secrets.size} client(s) to ${dir} (one file per client id, mode 0600)`);
        } else if (result.secrets.size > 0) {
          notice(io, `the realm holds the secrets of ${result.secrets.size} client(s); pass --secrets-out <dir> to carry them over (without, apply gives those clients new secrets)`);
        }
        if (flags.json) printJson(io, { config: result.config, dropped: result.dropped, changed: result.changed });
        else io.stdout(keycloakImportText(result, file));
      },
    },
  },
};
