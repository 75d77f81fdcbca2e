/**
 * `tessera admin reset | set-public-url`: break-glass and deployment settings, run where
 * the store is (docs/deploy.md). They open the store themselves, so they work with no
 * admin credentials and no server running, and while servers run.
 */
import type { CommandGroup } from '../command.js';
import { printJson, printRecord } from '../output.js';
import { localActor, STORE_USAGE, storeLocationOf, storeOptions } from '../store-location.js';

export const admin: CommandGroup = {
  name: 'admin',
  summary: 'Break-glass and deployment settings, run where the store is (--data-dir or --database-url, with the master key).',
  subcommands: {
    reset: {
      summary: 'give the admin client a new secret (its others revoked) and write a new admin.json',
      usage: `Usage: tessera admin reset [--data-dir <path>] [--database-url <url>] [--public-url <url>]

The way back in when admin.json is lost: the bootstrap admin client gets a new secret,
every other secret of it stops working (on running servers too, within a second or
two), and <data-dir>/admin.json is written again (mode 0600). It is put back in working
order if needed (enabled, secret authentication, grant of manage:read and manage:write).
Audited in the admin tenant as admin.reset. Console users keep their passwords
(tessera console-users).

  --public-url <url>    the URL admin.json names, for a store that has not recorded its
                        public URL (the recorded one wins)
${STORE_USAGE}`,
      options: { ...storeOptions, 'public-url': { type: 'string' } },
      async run(flags, io) {
        flags.expectPositionals(0);
        const server = await import('@tessera/server');
        const publicUrl = flags.string('public-url');
        const outcome = await server.resetAdmin({ ...storeLocationOf(flags, io), actor: localActor(), ...(publicUrl !== undefined ? { publicUrl } : {}) });
        if (flags.json) return printJson(io, outcome);
        printRecord(io, { adminFile: outcome.adminFile, clientId: outcome.clientId, url: outcome.url, revokedSecrets: outcome.revokedSecrets.length, repaired: outcome.repaired.join(', ') || 'nothing' });
        io.stderr(`\nNew admin credentials in ${outcome.adminFile} (mode 0600). Try: npx tessera tenants list --admin ${outcome.adminFile}\n`);
      },
    },
    'set-public-url': {
      summary: "change the deployment's public URL (the base of every issuer), then restart every replica with it",
      usage: `Usage: tessera admin set-public-url <url> [--data-dir <path>] [--database-url <url>]

Records <url> as the deployment's public URL. Replicas check it when they start: restart
every one with --public-url <url> (TESSERA_PUBLIC_URL). Every issuer changes with it, so
tokens issued under the old URL stop verifying where the issuer is checked. admin.json in
the data directory, if there is one, is rewritten with the new URL. Audited in the admin
tenant as deployment.public_url.update.
${STORE_USAGE}`,
      options: { ...storeOptions },
      async run(flags, io) {
        flags.expectPositionals(1);
        const server = await import('@tessera/server');
        const outcome = await server.setPublicUrl({ ...storeLocationOf(flags, io), url: flags.positional(0, 'url'), actor: localActor() });
        if (flags.json) return printJson(io, outcome);
        printRecord(io, { previous: outcome.previous ?? '(none recorded)', url: outcome.url, adminFile: outcome.adminFile ?? '(none in the data directory)' });
        io.stderr(`\nNow restart every replica with --public-url ${outcome.url} (or TESSERA_PUBLIC_URL=${outcome.url}).\n`);
      },
    },
  },
};
