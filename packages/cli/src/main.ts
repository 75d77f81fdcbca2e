/**
 * `tessera <command>`: dispatches to the command, and turns what went wrong into a
 * message on stderr and an exit code: 2 for usage errors, 1 for everything else
 * (API errors with the API's `{error, message}`, network errors, failed verification).
 */
import { UsageError } from './args.js';
import { type Command, type CommandGroup, runCommand, runGroup } from './command.js';
import { apis } from './commands/apis.js';
import { audit } from './commands/audit.js';
import { clients } from './commands/clients.js';
import { federations } from './commands/federations.js';
import { grants } from './commands/grants.js';
import { keys } from './commands/keys.js';
import { serve, SERVE_SUMMARY } from './commands/serve.js';
import { tenants } from './commands/tenants.js';
import { token } from './commands/token.js';
import { usage } from './commands/usage.js';
import { verify } from './commands/verify.js';
import { type Io, processIo } from './io.js';
import { ApiError } from './management-api.js';

const groups: Record<string, CommandGroup> = { tenants, clients, apis, grants, keys, federations };
const commands: Record<string, Command> = { audit, token, verify, usage };

export const USAGE = `Usage: tessera <command> [options]

Commands:
  serve          ${SERVE_SUMMARY}
  tenants        create | list | get | delete
  clients        create | list | get | update | delete | secrets add | secrets delete
  apis           create | list | get | update | delete
  grants         create | list | get | unused | delete
  keys           list | rotate
  federations    create | list | get | delete
  audit          ${audit.summary}
  token          ${token.summary}
  verify         ${verify.summary}
  usage          ${usage.summary}

Every command takes --json and --help. Management commands call the management API at
--url (default TESSERA_URL or http://127.0.0.1:8080) with the admin credentials in
--admin (default TESSERA_ADMIN or ./.tessera/admin.json).
`;

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
  if (name === undefined) throw new UsageError('missing a command', USAGE);
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
  throw new UsageError(`unknown command "${name}"`, USAGE);
}

/** The error on stderr, in JSON with --json; the exit code. */
function report(error: unknown, io: Io, json: boolean): number {
  if (error instanceof UsageError) {
    if (json) io.stderr(`${JSON.stringify({ error: 'usage', message: error.message })}\n`);
    else io.stderr(`tessera: ${error.message}\n${error.usage !== undefined ? `\n${error.usage}` : ''}`);
    return 2;
  }
  const { code, message, status } = describe(error);
  if (json) io.stderr(`${JSON.stringify({ error: code, message, ...(status !== undefined ? { status } : {}) })}\n`);
  else io.stderr(`tessera: ${code}: ${message}${status !== undefined ? ` (HTTP ${status})` : ''}\n`);
  return 1;
}

function describe(error: unknown): { code: string; message: string; status?: number } {
  if (error instanceof ApiError) return { code: error.error, message: error.message, status: error.status };
  if (error instanceof Error) {
    const fields = error as Error & { code?: unknown; error?: unknown; status?: unknown; error_description?: unknown };
    // @tessera/client's OAuthError carries the server's RFC 6749 error; its message already names it.
    if (typeof fields.error === 'string') {
      return {
        code: fields.error,
        message: typeof fields.error_description === 'string' ? fields.error_description : error.message,
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
