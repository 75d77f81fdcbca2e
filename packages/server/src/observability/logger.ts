/**
 * The one log format of the server process: pino JSON lines, on standard output by
 * default. The app's Fastify logger, the start-up lines of main.ts and the shutdown
 * lines all come from the logger made here, so nothing in the process writes plain
 * text (a person reading a terminal pipes through `pino-pretty`).
 *
 * Credentials never reach a line: the only request fields logged are chosen ones
 * (access log: method, path without query, status, time), and the redact list covers
 * the headers that carry them, should a serializer ever log headers.
 *
 * Standard output is written through a buffer by default. Before, every line was its
 * own write (pino's `destination(1)`: one `fs.write` per line on the libuv pool), and at
 * the access log's one line per request those writes and the thread switches they
 * cause cost a server that is not saturated 10-20 % of its CPU per token (docs/performance.md). Lines
 * are now gathered up to LOG_BUFFER_BYTES and written at the latest after
 * LOG_FLUSH_INTERVAL_MS; pino flushes the buffer synchronously when the process exits
 * (a normal exit, a signal main.ts handles, an uncaught exception). A crash that skips
 * the exit handlers (SIGKILL, the kernel's OOM killer, a native abort) loses what is
 * in the buffer: at most LOG_BUFFER_BYTES, about 20 access lines, or the last second.
 * `--log-sync` writes each line at once, synchronously, for sites that want every line
 * even then. If the reader of standard output stops reading, the buffer holds at most
 * LOG_MAX_BUFFERED_BYTES and drops lines beyond it, where a synchronous write would
 * stall every request instead.
 */
import { randomUuid } from '../crypto/uuid.js';
import type { IncomingMessage } from 'node:http';
import { serializeRequest } from '../logging.js';
import pino, { type DestinationStream, type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';

/** Lines gathered before a write of standard output. */
export const LOG_BUFFER_BYTES = 4096;
/** A buffered line waits at most this long before it is written. */
export const LOG_FLUSH_INTERVAL_MS = 1000;
/** What the buffer holds while standard output is not read; lines beyond it are dropped. */
export const LOG_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export interface LogOutput {
  /** Write every line at once (`--log-sync`): nothing lost on a crash, a system call per line. */
  sync: boolean;
}

/** Standard output for pino: buffered (the default) or a write per line. */
export function logDestination(output: LogOutput, dest: number | string = 1): DestinationStream {
  if (output.sync) return pino.destination({ dest, sync: true });
  // Lines are kept as bytes: in its text mode sonic-boom appends each line to one string
  // and measures it (Buffer.byteLength) on the next line, which copies the whole buffer
  // again for every line (about 2.5 KB of garbage per access-log line at a 4 KiB buffer).
  // As bytes, a line is encoded once and the buffer is joined once, when it is written.
  const boom = pino.destination({ dest, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_INTERVAL_MS, maxLength: LOG_MAX_BUFFERED_BYTES, contentMode: 'buffer' });
  const writeBytes = boom.write.bind(boom) as unknown as (data: Buffer) => boolean;
  boom.write = (line: string | Buffer) => writeBytes(typeof line === 'string' ? Buffer.from(line) : line);
  return boom;
}

export function createLogger(level: LogLevel, stream?: NodeJS.WritableStream, output: LogOutput = { sync: false }): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: ['req.headers.authorization', 'req.headers["x-client-cert"]', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], remove: true },
      // A request logged anywhere shows its query string with credential-like values replaced.
      serializers: { req: serializeRequest },
    },
    stream ?? logDestination(output),
  );
}

/**
 * Lines that a person starting the server must see (where it listens, where admin.json
 * is) even at `--log-level warn`: logged at info by a child that keeps info on,
 * unless the level is `silent`.
 */
export function startupLogger(logger: Logger): Logger {
  return logger.level === 'silent' ? logger : logger.child({}, { level: levelAtMost(logger.level, 'info') });
}

function levelAtMost(level: string, most: 'info'): string {
  return ['fatal', 'error', 'warn'].includes(level) ? most : level;
}

/** A request id from the client is kept when it is short and plain; otherwise a fresh one. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function requestIdOf(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUuid();
}

