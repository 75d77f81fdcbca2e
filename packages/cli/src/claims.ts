/** `--claim name=value` options of clients and grants: static claims added to tokens. */
import { UsageError } from './args.js';

export const CLAIM_USAGE = `  --claim <name=value>    a claim added to every token, repeatable; the value is read as JSON
                          when it parses (42, true, ["a","b"], {"k":"v"}), else as a string`;

/** The claims object of repeated `--claim name=value` flags. */
export function parseClaims(values: string[], usage: string): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const text of values) {
    const at = text.indexOf('=');
    if (at <= 0) throw new UsageError(`--claim must look like name=value, got ${JSON.stringify(text)}`, usage);
    const name = text.slice(0, at);
    if (Object.hasOwn(claims, name)) throw new UsageError(`--claim ${name} is given twice`, usage);
    Object.defineProperty(claims, name, { value: parseValue(text.slice(at + 1)), enumerable: true, writable: true, configurable: true });
  }
  return claims;
}

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
