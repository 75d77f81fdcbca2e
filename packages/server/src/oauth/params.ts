/**
 * Form parameters of the OAuth endpoints (RFC 6749 §3.2, Appendix B). A parameter
 * sent without a value counts as omitted (§3.1); a parameter sent twice is an
 * `invalid_request` (§3.2), except where an extension allows repeats.
 */
import { InvalidRequest, InvalidScope } from './errors.js';

/** Body of a request whose Content-Type is not application/x-www-form-urlencoded. */
export const UNSUPPORTED_BODY = Symbol('unsupported body');

export type FormBody = Map<string, string[]>;

/**
 * application/x-www-form-urlencoded parsing (WHATWG URL §5.1), as URLSearchParams does
 * it, without building its intermediate list: pairs split on `&`, name and value on the
 * first `=`, `+` is a space, then percent-decoding. A body with a malformed percent
 * escape (which URLSearchParams keeps as it is) is handed to URLSearchParams.
 */
export function parseForm(body: string): FormBody {
  const form: FormBody = new Map();
  try {
    let start = 0;
    while (start <= body.length) {
      let end = body.indexOf('&', start);
      if (end === -1) end = body.length;
      if (end > start) {
        const equals = body.indexOf('=', start);
        const split = equals === -1 || equals > end ? end : equals;
        add(form, formValue(body.slice(start, split)), split < end ? formValue(body.slice(split + 1, end)) : '');
      }
      start = end + 1;
    }
  } catch {
    form.clear();
    for (const [name, value] of new URLSearchParams(body)) add(form, name, value);
  }
  return form;
}

function add(form: FormBody, name: string, value: string): void {
  const values = form.get(name);
  if (values === undefined) form.set(name, [value]);
  else values.push(value);
}

function formValue(raw: string): string {
  const spaced = raw.includes('+') ? raw.replace(/\+/g, ' ') : raw;
  return spaced.includes('%') ? decodeURIComponent(spaced) : spaced;
}

export class Params {
  readonly #form: FormBody;

  constructor(body: unknown) {
    if (body === UNSUPPORTED_BODY) {
      throw new InvalidRequest('the request body must be application/x-www-form-urlencoded (RFC 6749 §3.2)');
    }
    this.#form = body instanceof Map ? (body as FormBody) : new Map();
  }

  /** The single value of `name`, or undefined when absent or empty. */
  get(name: string): string | undefined {
    const values = this.#form.get(name);
    if (values === undefined) return undefined;
    if (values.length > 1) throw new InvalidRequest(`parameter "${name}" must not be repeated (RFC 6749 §3.2)`);
    const [value] = values;
    return value === '' ? undefined : value;
  }

  /** Every non-empty value of a parameter that may repeat (RFC 8707 `resource`). */
  getAll(name: string): string[] {
    return (this.#form.get(name) ?? []).filter((v) => v !== '');
  }

  require(name: string): string {
    const value = this.get(name);
    if (value === undefined) throw new InvalidRequest(`missing required parameter "${name}"`);
    return value;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
}

/** RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
export function parseScope(scope: string | undefined): string[] | undefined {
  if (scope === undefined) return undefined;
  if (!SCOPE.test(scope)) throw new InvalidScope('scope must be scope tokens separated by single spaces (RFC 6749 §3.3)');
  const tokens = scope.split(' ');
  // Repeats are dropped, the first of each kept; the usual scope has none and keeps its array.
  for (let i = 1; i < tokens.length; i++) if (tokens.indexOf(tokens[i] as string) < i) return [...new Set(tokens)];
  return tokens;
}

const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;
