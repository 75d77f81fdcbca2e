/**
 * The one log format of the server process: pino JSON lines, on standard output by
 * default. The app's Fastify logger, the start-up lines of main.ts and the shutdown
 * lines all come from the logger made here, so nothing in the process writes plain
 * text (a person reading a terminal pipes through `pino-pretty`).
 *
 * Credentials never reach a line: the only request fields logged are chosen ones
 * (access log: method, path without query, status, time), and the redact list covers
 * the headers that carry them, should a serializer ever log headers.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { serializeRequest } from '../logging.js';
import pino, { type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';

export function createLogger(level: LogLevel, stream?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: ['req.headers.authorization', 'req.headers["x-client-cert"]', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'], remove: true },
      // A request logged anywhere shows its query string with credential-like values replaced.
      serializers: { req: serializeRequest },
    },
    // pino's default destination writes standard output synchronously: no line is lost at exit.
    stream ?? pino.destination(1),
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
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
