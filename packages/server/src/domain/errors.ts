/**
 * Errors of the management rules. The management API maps each to its status and
 * `{ error, message }`; `error` is a stable code that callers switch on.
 */
export abstract class DomainError extends Error {
  abstract readonly status: 400 | 403 | 404 | 409 | 422;
  abstract readonly code: string;
}

export class ValidationError extends DomainError {
  readonly status = 422;
  readonly code = 'validation_failed';
}

export class NotFoundError extends DomainError {
  readonly status = 404;
  readonly code = 'not_found';
  constructor(what: string, id: string) {
    super(`${what} ${JSON.stringify(id)} does not exist`);
  }
}

export class ConflictError extends DomainError {
  readonly status = 409;
  readonly code = 'conflict';
}

export class ForbiddenError extends DomainError {
  readonly status = 403;
  readonly code = 'forbidden';
}
