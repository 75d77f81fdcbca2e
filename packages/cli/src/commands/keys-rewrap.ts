/** `tessera keys rewrap`: master-key rotation, run where the store is (docs/keys.md). */
import type { Command } from '../command.js';
import { printJson, printRecord } from '../output.js';
import { localActor, STORE_USAGE, storeLocationOf, storeOptions } from '../store-location.js';

export const keysRewrap: Command = {
  summary: 'rotate the master key: re-encrypt every signing key under TESSERA_NEW_MASTER_KEY (servers stopped)',
  usage: `Usage: tessera keys rewrap [--data-dir <path>] [--database-url <url>]

Re-encrypts the private signing keys of every tenant, in one transaction, from the
current master key (TESSERA_MASTER_KEY, or master.key in the data dir) to the new one:
  TESSERA_NEW_MASTER_KEY  base64 of 32 random bytes (openssl rand -base64 32); without it,
                          a deployment whose key is master.key gets a generated one
With master.key, the new key replaces it and the old one is kept as master.key.previous.
Stop every server first; start them again with the new key (docs/keys.md).
${STORE_USAGE}`,
  options: { ...storeOptions },
  async run(flags, io) {
    flags.expectPositionals(0);
    const server = await import('@tessera/server');
    const outcome = await server.rewrapKeys({ ...storeLocationOf(flags, io), actor: localActor() });
    if (flags.json) return printJson(io, outcome);
    printRecord(io, { tenants: outcome.tenants, rewrapped: outcome.rewrapped, unchanged: outcome.unchanged, masterKeyFile: outcome.masterKeyFile ?? '(TESSERA_MASTER_KEY)' });
    io.stderr(outcome.masterKeyFile !== null
      ? `\nThe new master key is in ${outcome.masterKeyFile} (the old one in ${outcome.masterKeyFile}.previous): start the server again.\n`
      : '\nStart every server with TESSERA_MASTER_KEY set to the new key (the value of TESSERA_NEW_MASTER_KEY).\n');
  },
};
