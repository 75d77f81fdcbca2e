/**
 * `tessera <command>`: dispatches to the command, and turns what went wrong into a
 * message on stderr and an exit code: 2 for usage errors, 1 for everything else
 * (API errors with the API's `{error, message}`, network errors, failed verification).
 */
import { UsageError } from './args.js';
import { type Command, type CommandGroup, runCommand, runGroup } from './command.js';
import { admin } from './commands/admin.js';
import { apis } from './commands/apis.js';
import { audit } from './commands/audit.js';
import { clients } from './commands/clients.js';
import { apply, exportCommand, plan } from './commands/config.js';
import { demo } from './commands/demo.js';
import { federations } from './commands/federations.js';
import { grants } from './commands/grants.js';
import { importGroup } from './commands/import.js';
import { keys } from './commands/keys.js';
import { serve, SERVE_SUMMARY } from './commands/serve.js';
import { tenants } from './commands/tenants.js';
import { token } from './commands/token.js';
import { usage } from './commands/usage.js';
import { verify } from './commands/verify.js';
import { type Io, processIo } from './io.js';
import { ApiError } from './management-api.js';
import { didYouMean } from './suggest.js';

/**
 * The command table: add a group or a command here and it is dispatched, listed in
 * --help and suggested for typos. (A test checks that docs/cli.md lists the same.)
 */
export const groups: Record<string, CommandGroup> = { tenants, clients, apis, grants, keys, federations, admin, import: importGroup };
export const commands: Record<string, Command> = { audit, token, verify, usage, demo, plan, apply, export: exportCommand };

/** Every command line the CLI knows, two-word ones included: `serve`, `tenants create`, `clients secrets add`, `demo`, ... */
export function commandNames(): string[] {
  return [
    'serve',
    ...Object.values(groups).flatMap((group) => Object.keys(group.subcommands).map((name) => `${group.name} ${name}`)),
    ...Object.keys(commands),
  ];
}

function buildUsage(): string {
  const rows: [string, string][] = [
    ['serve', SERVE_SUMMARY],
    ...Object.values(groups).map((group): [string, string] => [group.name, Object.keys(group.subcommands).join(' | ')]),
    ...Object.entries(commands).map(([name, command]): [string, string] => [name, command.summary]),
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return `Usage: tessera <command> [options]

Commands:
${rows.map(([name, summary]) => `  ${name.padEnd(width)} ${summary}`).join('\n')}

Start here: npm start (or npx tessera serve) in one terminal, npx tessera demo in another.

Every command takes --json and --help. Management commands call the management API at
--url (default TESSERA_URL, else the url in the admin file, else http://127.0.0.1:8080)
with the admin credentials in --admin (default TESSERA_ADMIN or ./.tessera/admin.json).
`;
}

export const USAGE = buildUsage();

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const json = argv.includes('--json');
  try {
    return await dispatch(argv, io);
  } catch (error) {
    return report(error, io, json);
  }
}

async function dispatch(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(`tessera: missing a command\n\n${USAGE}`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout('0.1.0\n');
    return 0;
  }
  if (name === 'serve') return serve(rest, io);
  const group = groups[name];
  if (group !== undefined) return runGroup(group, rest, io);
  const command = commands[name];
  if (command !== undefined) return runCommand(command, rest, io);
  const hint = didYouMean(name, ['serve', 'help', ...Object.keys(groups), ...Object.keys(commands)]);
  throw new UsageError(`unknown command "${name}"${hint}`, USAGE);
}

/** The error on stderr, in JSON with --json; the exit code. */
function report(error: unknown, io: Io, json: boolean): number {
  if (error instanceof UsageError) {
    if (json) io.stderr(`${JSON.stringify({ error: 'usage', message: error.message })}\n`);
    else io.stderr(`tessera: ${error.message}\n${error.usage !== undefined ? `\n${shortUsage(error.usage)}` : ''}`);
    return 2;
  }
  const { code, message, status } = describe(error);
  // A refused configuration file names each problem: machines get them one by one.
  const problems = (error as { problems?: unknown } | null)?.problems;
  if (json) io.stderr(`${JSON.stringify({ error: code, message, ...(status !== undefined ? { status } : {}), ...(Array.isArray(problems) ? { problems } : {}) })}\n`);
  else io.stderr(`tessera: ${code}: ${message}${status !== undefined ? ` (HTTP ${status})` : ''}\n`);
  return 1;
}

/**
 * The usage line(s) of a command and where the rest is: an error shows what was
 * expected without burying the message under every option. The top-level usage (a list
 * of commands) is short enough to show whole.
 */
export function shortUsage(usage: string): string {
  const synopsis = usage.split(/\n\s*\n/)[0] ?? usage;
  if (synopsis.startsWith('Usage: tessera <command>')) return `${synopsis}\n\nRun "tessera --help" for the list of commands.\n`;
  const command = /^Usage: (tessera(?: [a-z][\w-]*)*)/.exec(synopsis)?.[1] ?? 'tessera';
  const groupList = /\nCommands:\n[\s\S]*?(?=\n\n)/.exec(usage)?.[0] ?? '';
  return `${synopsis}\n${groupList !== '' ? `${groupList}\n` : ''}\nRun "${command.replace(/ <command>$/, '')} --help" for all options.\n`;
}

function describe(error: unknown): { code: string; message: string; status?: number } {
  if (error instanceof Error && error.name === 'StartError') return { code: 'cannot start', message: error.message };
  if (error instanceof Error && error.name === 'DataDirInUseError') return { code: 'cannot start', message: error.message };
  // `admin reset`, `keys rewrap`: the message says what to fix.
  if (error instanceof Error && error.name === 'StoreCommandError') return { code: 'error', message: error.message };
  const network = (error as { code?: unknown } | null)?.code;
  if (network === 'ERR_NETWORK' && error instanceof Error) {
    return { code: 'ERR_NETWORK', message: `${causeMessage(error)}: is the server running? Start it (npm start, or npx tessera serve), or pass its URL with --url or TESSERA_URL` };
  }
  if (error instanceof ApiError) return { code: error.error, message: error.message, status: error.status };
  if (error instanceof Error) {
    const fields = error as Error & { code?: unknown; error?: unknown; status?: unknown; error_description?: unknown };
    // @tessera/client's OAuthError carries the server's RFC 6749 error; its message already names it.
    if (typeof fields.error === 'string') {
      const hint = fields.error === 'invalid_client' && fields.status === 401
        ? ' (check the client id and secret, and that --auth matches the method the client is registered for: tessera clients get <id>)'
        : '';
      return {
        code: fields.error,
        message: `${typeof fields.error_description === 'string' ? fields.error_description : error.message}${hint}`,
        ...(typeof fields.status === 'number' ? { status: fields.status } : {}),
      };
    }
    // @tessera/client and @tessera/verifier errors carry a stable ERR_* code.
    if (typeof fields.code === 'string' && fields.code.startsWith('ERR_')) return { code: fields.code, message: causeMessage(error) };
    return { code: error.name === 'Error' || error.name === 'CliError' ? 'error' : error.name, message: causeMessage(error) };
  }
  return { code: 'error', message: String(error) };
}

/** The message, with the underlying cause (ECONNREFUSED, ...) when the error wraps one. */
function causeMessage(error: Error): string {
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
  return detail !== undefined && !error.message.includes(detail) ? `${error.message} (${detail})` : error.message;
}
