/**
 * Command-line parsing on top of `node:util` `parseArgs`: every command declares its
 * options, gets the common ones (`--json`, `--help`) added, and reads the result through
 * `Flags`, whose accessors check types and turn mistakes into usage errors (exit 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from './suggest.js';

/** node:util does not export this type by name. */
export type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** A mistake on the command line: reported with the command's usage, exit code 2. */
export class UsageError extends Error {
  readonly usage: string | undefined;

  constructor(message: string, usage?: string) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

export const commonOptions = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

/** Where to find the server and the admin credentials (management commands, token, verify). */
export const connectionOptions = {
  url: { type: 'string' },
  admin: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

export const tenantOption = {
  tenant: { type: 'string', short: 't' },
} as const satisfies ParseArgsOptionsConfig;

export class Flags {
  readonly positionals: readonly string[];
  readonly usage: string;
  readonly #values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

  constructor(values: Record<string, string | boolean | (string | boolean)[] | undefined>, positionals: string[], usage: string) {
    this.#values = values;
    this.positionals = positionals;
    this.usage = usage;
  }

  get json(): boolean {
    return this.boolean('json');
  }

  get help(): boolean {
    return this.boolean('help');
  }

  string(name: string): string | undefined {
    const value = this.#values[name];
    if (Array.isArray(value)) return typeof value.at(-1) === 'string' ? (value.at(-1) as string) : undefined;
    return typeof value === 'string' ? value : undefined;
  }

  required(name: string): string {
    const value = this.string(name);
    if (value === undefined || value === '') throw new UsageError(`--${name} is required`, this.usage);
    return value;
  }

  list(name: string): string[] {
    const value = this.#values[name];
    if (value === undefined) return [];
    return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
  }

  boolean(name: string): boolean {
    return this.#values[name] === true;
  }

  has(name: string): boolean {
    return this.#values[name] !== undefined;
  }

  /** A whole number of `min`..`max`, or undefined when the flag is absent. */
  integer(name: string, min = 1, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`, this.usage);
    }
    return Number(value);
  }

  /** One of `allowed`, or undefined when the flag is absent. */
  choice<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`, this.usage);
    }
    return value as T;
  }

  /** The positional argument at `index`, named `label` in the error when it is missing. */
  positional(index: number, label: string): string {
    const value = this.positionals[index];
    if (value === undefined || value === '') throw new UsageError(`missing <${label}>`, this.usage);
    return value;
  }

  /** Refuses positional arguments beyond the `count` the command takes. */
  expectPositionals(count: number): void {
    if (this.positionals.length > count) {
      throw new UsageError(`unexpected argument ${JSON.stringify(this.positionals[count])}`, this.usage);
    }
  }
}

/** Parses `argv` against `options` plus the common ones; unknown flags are usage errors. */
export function parseFlags(argv: readonly string[], options: ParseArgsOptionsConfig, usage: string): Flags {
  const all = { ...commonOptions, ...options };
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: all, allowPositionals: true, strict: true });
    return new Flags(values, positionals, usage);
  } catch (error) {
    throw new UsageError(parseArgsMessage(error, Object.keys(all)), usage);
  }
}

/**
 * node:util's parseArgs messages, said for this CLI: `Unknown option '--audiance'. To
 * specify a positional argument starting with a '-' ...` becomes `unknown option
 * --audiance (did you mean --audience?)`.
 */
export function parseArgsMessage(error: unknown, optionNames: readonly string[]): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const unknown = /^Unknown option '(-{1,2})([^'=]+)/.exec(message);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown !== null) {
    const [, dashes, name] = unknown as unknown as [string, string, string];
    const known = optionNames.map((option) => `--${option}`);
    return `unknown option ${dashes}${name}${didYouMean(`--${name}`, known, false)}`;
  }
  const missing = /^Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing !== null) return `${missing[1] as string} needs a value`;
  const noValue = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(message);
  if (noValue !== null) return `${noValue[1] as string} is a switch and takes no value`;
  return message;
}

/** A `true|false` flag as a body field, absent when the flag is. */
export function booleanSetting(flags: Flags, flag: string, field: string): Record<string, boolean> {
  const value = flags.choice(flag, ['true', 'false'] as const);
  return value === undefined ? {} : { [field]: value === 'true' };
}
