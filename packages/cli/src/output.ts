/**
 * Human and machine output. `--json` prints what the API answered, as-is; otherwise
 * lists are aligned tables and single items `key: value` lines.
 */
import type { Io } from './io.js';

export interface Column<T> {
  header: string;
  value(row: T): unknown;
  /** Epoch milliseconds, shown as an ISO date. */
  time?: boolean;
}

export function printJson(io: Io, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** A value as one cell or line: times as ISO dates, lists comma-separated, objects as JSON. */
export function formatValue(value: unknown, key = ''): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'number' && /(At|Until|^at)$/.test(key)) return new Date(value).toISOString();
  if (Array.isArray(value)) {
    if (value.length === 0) return '-';
    return value.every((item) => typeof item !== 'object' || item === null) ? value.join(', ') : JSON.stringify(value);
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function printTable<T>(io: Io, rows: readonly T[], columns: readonly Column<T>[]): void {
  if (rows.length === 0) {
    io.stdout('(none)\n');
    return;
  }
  const cells = rows.map((row) => columns.map((column) => formatValue(column.value(row), column.time === true ? 'At' : '')));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((line) => (line[i] ?? '').length)));
  const render = (line: readonly string[]) =>
    line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  io.stdout(`${[render(columns.map((column) => column.header)), ...cells.map(render)].join('\n')}\n`);
}

/** `key: value` lines, keys aligned; `keys` picks and orders them (default: all). */
export function printRecord(io: Io, record: object, keys?: readonly string[]): void {
  const entries = (keys ?? Object.keys(record))
    .filter((key) => key in record)
    .map((key) => [key, formatValue((record as Record<string, unknown>)[key], key)] as const);
  const width = Math.max(0, ...entries.map(([key]) => key.length));
  io.stdout(entries.map(([key, value]) => `${`${key}:`.padEnd(width + 1)} ${value}`).join('\n') + '\n');
}

/** A line for people, on stderr so that stdout stays the command's result. */
export function notice(io: Io, text: string): void {
  io.stderr(`${text}\n`);
}
