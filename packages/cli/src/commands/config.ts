/**
 * Configuration as code: `tessera plan`, `apply` and `export` (docs/config-as-code.md).
 * The file is checked whole before the server is asked anything; the plan is read from
 * the server through the management API; apply makes it, one audited request per change.
 */
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { connectionOptions, type Flags, UsageError } from '../args.js';
import { type Command, CONNECTION_USAGE, withApi } from '../command.js';
import { applyPlan, collectProvidedSecrets, type ApplyResult, type ProvidedSecrets } from '../config-as-code/apply.js';
import { configText, exportConfig } from '../config-as-code/export.js';
import { loadConfigFile } from '../config-as-code/file.js';
import { computePlan, type Plan } from '../config-as-code/plan.js';
import { listTenantIds, readRegistry, readTenant, type TenantState } from '../config-as-code/registry.js';
import { planJson, planText, summarize } from '../config-as-code/render.js';
import { configJsonSchemaText } from '../config-as-code/schema.js';
import type { ConfigFile } from '../config-as-code/schema.js';
import { type SecretsFormat, writeSecrets } from '../config-as-code/secrets.js';
import type { Io } from '../io.js';
import type { ManagementApi } from '../management-api.js';
import { CliError } from '../management-api.js';
import { notice, printJson } from '../output.js';

const FILE_USAGE = `  -f, --file <file>       the configuration (YAML or JSON; schema: docs/tessera-config.schema.json); - reads stdin
  --prune                 also delete what the file no longer names, in the tenants it names`;

async function planOf(api: ManagementApi, config: ConfigFile, flags: Flags): Promise<Plan> {
  const states = await readRegistry(api, config.tenants.map((t) => t.id));
  return computePlan(config, states, { prune: flags.boolean('prune') });
}

export const plan: Command = {
  summary: 'show what apply -f FILE would create, update and delete, field by field',
  usage: `Usage: tessera plan -f <file> [--prune]
       tessera plan --schema

${FILE_USAGE}
  --schema                print the file's JSON Schema (draft 2020-12) and exit
${CONNECTION_USAGE}`,
  options: { ...connectionOptions, file: { type: 'string', short: 'f' }, prune: { type: 'boolean' }, schema: { type: 'boolean' } },
  async run(flags, io) {
    flags.expectPositionals(0);
    if (flags.boolean('schema')) {
      io.stdout(configJsonSchemaText());
      return;
    }
    // The file is checked whole before the server is asked anything.
    const config = await loadConfigFile(flags.required('file'), io.readStdin);
    const result = await withApi(flags, io, (api) => planOf(api, config, flags));
    if (flags.json) printJson(io, planJson(result));
    else io.stdout(planText(result, { prune: flags.boolean('prune') }));
  },
};

export const apply: Command = {
  summary: 'make the server hold what FILE says (plan, then one audited request per change)',
  usage: `Usage: tessera apply -f <file> [--dry-run] [--prune] [--secrets-out <dir> [--secrets-format files|kubernetes]]
                     [--secrets-from <dir>]

${FILE_USAGE}
  --dry-run               print the plan and change nothing
  --secrets-out <dir>     write the secrets of the clients apply creates there (mode 0600) instead of
                          printing them once
  --secrets-format <f>    files (default): one file per client id holding the secret;
                          kubernetes: one Secret manifest per client (client-id, client-secret,
                          token-endpoint, issuer), for kubectl apply -f <dir>
  --secrets-from <dir>    the secrets for the clients apply creates, one file per client id (as
                          "tessera import keycloak --secrets-out" writes them); stored hashed
${CONNECTION_USAGE}`,
  options: {
    ...connectionOptions,
    file: { type: 'string', short: 'f' },
    prune: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    'secrets-out': { type: 'string' },
    'secrets-format': { type: 'string' },
    'secrets-from': { type: 'string' },
  },
  async run(flags, io) {
    flags.expectPositionals(0);
    const file = flags.required('file');
    const format = flags.choice('secrets-format', ['files', 'kubernetes'] as const) ?? 'files';
    const secretsOut = flags.string('secrets-out');
    if (flags.has('secrets-format') && secretsOut === undefined) throw new UsageError('--secrets-format needs --secrets-out <dir>', flags.usage);
    const prune = flags.boolean('prune');
    const config = await loadConfigFile(file, io.readStdin);
    return withApi(flags, io, async (api) => {
      const planned = await planOf(api, config, flags);
      const secretsFrom = flags.string('secrets-from');
      const provided: ProvidedSecrets = secretsFrom === undefined ? new Map() : await collectProvidedSecrets(planned, secretsFrom);
      if (flags.boolean('dry-run') || planned.changes.length === 0) {
        if (flags.json) printJson(io, { dryRun: flags.boolean('dry-run'), ...planJson(planned) });
        else io.stdout(planText(planned, { prune, secretsFrom: secretsFrom !== undefined }) + (flags.boolean('dry-run') && planned.changes.length > 0 ? 'Dry run: nothing was changed.\n' : ''));
        return 0;
      }
      // A secret the server generated exists once: the place it goes must be writable before anything is created.
      if (secretsOut !== undefined) await assertWritableDirectory(secretsOut);
      if (!flags.json) io.stdout(`${planText(planned, { prune, secretsFrom: secretsFrom !== undefined })}\n`);
      const result = await applyPlan(api, planned, provided);
      let written: string[] = [];
      let destination = secretsOut;
      if (secretsOut !== undefined) {
        try {
          written = await writeSecrets(secretsOut, result.secrets, format);
        } catch (error) {
          // Lost, they could only be replaced: show them instead.
          notice(io, `warning: could not write the secrets to ${secretsOut} (${(error as Error).message}); they are printed below instead`);
          destination = undefined;
        }
      }
      report(io, flags, planned, result, { secretsOut: destination, written, format });
      return result.outcomes.some((o) => o.status !== 'applied') ? 1 : 0;
    });
  },
};

async function assertWritableDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
  } catch (error) {
    throw new CliError(`--secrets-out ${dir} is not a directory apply can write (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); nothing was changed`);
  }
}

function report(io: Io, flags: Flags, planned: Plan, result: ApplyResult, out: { secretsOut: string | undefined; written: string[]; format: SecretsFormat }): void {
  const failed = result.outcomes.filter((o) => o.status === 'failed').length;
  const skipped = result.outcomes.filter((o) => o.status === 'skipped').length;
  const applied = result.outcomes.filter((o) => o.status === 'applied').map((o) => o.change);
  const counts = summarize({ changes: applied, unmanaged: [] });
  if (flags.json) {
    printJson(io, {
      ...planJson(planned),
      outcomes: result.outcomes.map((o) => ({ action: o.change.action, kind: o.change.kind, tenant: o.change.tenant, name: o.change.name, status: o.status, ...(o.error !== undefined ? { error: o.error } : {}) })),
      applied: counts,
      failed,
      skipped,
      ...(out.secretsOut === undefined ? { secrets: result.secrets.map(({ tenant, clientId, clientSecret, tokenEndpoint }) => ({ tenant, clientId, clientSecret, tokenEndpoint })) } : { secretsWritten: out.written }),
    });
    return;
  }
  const lines: string[] = [];
  const PAST = { create: 'created', update: 'updated', delete: 'deleted' } as const;
  for (const { change, status, error } of result.outcomes) {
    const what = `${change.tenant}: ${change.kind === 'secret' ? `secret of client ${change.name}` : `${change.kind} ${change.name}`}`;
    if (status === 'applied') lines.push(`  ${PAST[change.action].padEnd(8)} ${what}`);
    else lines.push(`  ${(status === 'failed' ? 'FAILED' : 'skipped').padEnd(8)} ${change.action} ${what}
           ${error ?? ''}`);
  }
  lines.push('', `Applied: ${counts.create} created, ${counts.update} updated, ${counts.delete} deleted.${failed + skipped > 0 ? ` ${failed} failed, ${skipped} skipped: what was applied stays applied; fix the cause and run apply again to finish.` : ''}`);
  io.stdout(`${lines.join('\n')}\n`);
  if (result.secrets.length === 0) return;
  if (out.secretsOut !== undefined) {
    io.stdout(`\nSecrets of the ${result.secrets.length} client(s) created were written to ${out.secretsOut} (${out.format === 'kubernetes' ? 'Kubernetes Secrets' : 'one file per client id'}, mode 0600).\n`);
    return;
  }
  io.stdout(`\nSecrets of the clients created, shown once (only a hash is kept; store them now, or use --secrets-out):\n${result.secrets.map((s) => `  ${s.tenant}/${s.clientId}  ${s.clientSecret}`).join('\n')}\n`);
  notice(io, 'warning: these client secrets are shown only once.');
}

export const exportCommand: Command = {
  summary: 'print the registry as a configuration file (YAML or JSON), ready to commit',
  usage: `Usage: tessera export [--tenant <t> ...] [--format yaml|json]

  --tenant <t>            only this tenant, repeatable (default: every tenant but admin)
  --format <f>            yaml (default) or json (--json means json too)
${CONNECTION_USAGE}`,
  options: { ...connectionOptions, tenant: { type: 'string', short: 't', multiple: true }, format: { type: 'string' } },
  async run(flags, io) {
    flags.expectPositionals(0);
    const format = flags.choice('format', ['yaml', 'json'] as const) ?? (flags.json ? 'json' : 'yaml');
    const named = flags.list('tenant');
    if (named.includes('admin')) throw new UsageError('the admin tenant belongs to the server and is not exported', flags.usage);
    const states = await withApi(flags, io, async (api) => {
      const ids = named.length > 0 ? named : await listTenantIds(api);
      const found: TenantState[] = [];
      for (const id of ids) {
        const state = await readTenant(api, id);
        if (state === null) throw new CliError(`no tenant ${JSON.stringify(id)} on the server`);
        found.push(state);
      }
      return found;
    });
    io.stdout(configText(exportConfig(states), format));
  },
};
