/**
 * How a command is declared: its usage text, its options and what it runs. A group
 * (`tenants`, `clients`, ...) dispatches to its subcommands, two-word ones included
 * (`clients secrets add`).
 */
import { type Flags, type ParseArgsOptionsConfig, parseFlags, UsageError } from './args.js';
import type { Io } from './io.js';
import { connect, type ManagementApi } from './management-api.js';
import { didYouMean } from './suggest.js';

export interface Command {
  summary: string;
  usage: string;
  options: ParseArgsOptionsConfig;
  /** Returns the exit code (0 when nothing is returned). */
  run(flags: Flags, io: Io): Promise<number | void>;
}

export interface CommandGroup {
  name: string;
  summary: string;
  subcommands: Record<string, Command>;
}

export const CONNECTION_USAGE = `
Connection (every management command):
  --url <url>      server base URL (default: TESSERA_URL, else the url in the admin file, else http://127.0.0.1:8080)
  --admin <file>   admin credentials (default: TESSERA_ADMIN, else ./.tessera/admin.json)
  --json           print the API's JSON as-is
  -h, --help       this help
`;

export function groupUsage(group: CommandGroup): string {
  const names = Object.keys(group.subcommands);
  const width = Math.max(...names.map((name) => name.length));
  const lines = Object.entries(group.subcommands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return `Usage: tessera ${group.name} <command> [options]\n\n${group.summary}\n\nCommands:\n${lines.join('\n')}\n\nRun "tessera ${group.name} <command> --help" for its options.\n`;
}

export async function runCommand(command: Command, argv: readonly string[], io: Io): Promise<number> {
  const flags = parseFlags(argv, command.options, command.usage);
  if (flags.help) {
    io.stdout(command.usage);
    return 0;
  }
  return (await command.run(flags, io)) ?? 0;
}

export async function runGroup(group: CommandGroup, argv: readonly string[], io: Io): Promise<number> {
  const [first, second] = argv;
  if (first === undefined) throw new UsageError(`missing a ${group.name} command`, groupUsage(group));
  if (first === '--help' || first === '-h' || first === 'help') {
    io.stdout(groupUsage(group));
    return 0;
  }
  const twoWords = second !== undefined ? group.subcommands[`${first} ${second}`] : undefined;
  if (twoWords !== undefined) return runCommand(twoWords, argv.slice(2), io);
  const command = group.subcommands[first];
  if (command === undefined) {
    const prefix = Object.keys(group.subcommands).some((name) => name.startsWith(`${first} `));
    const names = Object.keys(group.subcommands);
    const hint = didYouMean(`${group.name} ${first}`, names.map((name) => `${group.name} ${name}`));
    throw new UsageError(prefix ? `missing a ${group.name} ${first} command` : `unknown command "${group.name} ${first}"${hint}`, groupUsage(group));
  }
  return runCommand(command, argv.slice(1), io);
}

/** Runs `fn` with a connected management API and releases it afterwards. */
export async function withApi<T>(flags: Flags, io: Io, fn: (api: ManagementApi) => Promise<T>): Promise<T> {
  const api = await connect(flags, io);
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
}

/** The tenant of a command: `--tenant`, default `default`. */
export function tenantOf(flags: Flags): string {
  return flags.string('tenant') ?? 'default';
}

/** A path segment, escaped. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
