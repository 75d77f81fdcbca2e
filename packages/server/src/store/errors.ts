/**
 * Typed store errors with stable codes, so the HTTP layer can answer 409 or 503
 * instead of 500. Messages name the constraint or the failure, never row values:
 * a secret hash or an encrypted key can never end up in a log line through them.
 */

export type StoreErrorCode = 'STORE_CONFLICT' | 'STORE_UNAVAILABLE' | 'STORE_INVALID_CURSOR';

export abstract class StoreError extends Error {
  abstract readonly code: StoreErrorCode;
}

/** A unique or foreign-key constraint rejected the write (409). */
export class StoreConflictError extends StoreError {
  readonly code = 'STORE_CONFLICT';
  /** 'unique': the row exists already; 'reference': it points at a row that does not exist. */
  readonly kind: 'unique' | 'reference';
  constructor(kind: 'unique' | 'reference', message: string) {
    super(message);
    this.name = 'StoreConflictError';
    this.kind = kind;
  }
}

/** The database cannot be reached or is shutting down (503). */
export class StoreUnavailableError extends StoreError {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A paging cursor that this store did not produce (400). */
export class StoreInvalidCursorError extends StoreError {
  readonly code = 'STORE_INVALID_CURSOR';
  constructor() {
    super('invalid paging cursor');
    this.name = 'StoreInvalidCursorError';
  }
}

const PG_UNIQUE_VIOLATION = '23505';
const PG_FOREIGN_KEY_VIOLATION = '23503';
/**
 * SQLSTATE classes that mean "the database cannot serve us right now", whatever the
 * statement: 08 connection exception, 28 invalid authorization, 3D the database does
 * not exist (dropped or renamed), 53 insufficient resources, 57 operator intervention
 * (shutdown, cannot connect now), 58 system error.
 */
const PG_UNAVAILABLE_CLASSES = ['08', '28', '3D', '53', '57', '58'];
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const SQLITE_UNAVAILABLE_CODES = new Set([
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_READONLY',
]);
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
  'terminating connection due to administrator command',
  'Cannot use a pool after calling end',
  'driver has already been destroyed',
  'The database connection is not open',
];

function describeConstraint(error: { constraint?: unknown; table?: unknown }): string {
  const parts: string[] = [];
  if (typeof error.table === 'string') parts.push(`table ${error.table}`);
  if (typeof error.constraint === 'string') parts.push(`constraint ${error.constraint}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/**
 * Maps a driver error from either database to a typed store error; anything else is
 * returned unchanged. Driver messages for constraint errors are not reused because
 * PostgreSQL's `detail` and SQLite's message may quote the offending values.
 */
export function toStoreError(error: unknown): unknown {
  if (error instanceof StoreError || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code === PG_UNIQUE_VIOLATION) {
      return new StoreConflictError('unique', `already exists${describeConstraint(error as { constraint?: unknown; table?: unknown })}`);
    }
    if (code === PG_FOREIGN_KEY_VIOLATION) {
      return new StoreConflictError('reference', `refers to a missing row${describeConstraint(error as { constraint?: unknown; table?: unknown })}`);
    }
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      return new StoreConflictError('unique', 'already exists');
    }
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
      return new StoreConflictError('reference', 'refers to a missing row');
    }
    if (
      PG_UNAVAILABLE_CLASSES.some((c) => code.length === 5 && code.startsWith(c)) ||
      NETWORK_ERROR_CODES.has(code) ||
      [...SQLITE_UNAVAILABLE_CODES].some((c) => code === c || code.startsWith(`${c}_`))
    ) {
      return new StoreUnavailableError(`database unavailable (${code})`, { cause: error });
    }
  }
  if (UNAVAILABLE_MESSAGES.some((m) => error.message.includes(m))) {
    return new StoreUnavailableError('database unavailable', { cause: error });
  }
  return error;
}
