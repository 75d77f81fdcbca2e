import { describe, expect, it } from 'vitest';
import { parseArgsMessage } from './args.js';
import { closest, didYouMean, editDistance } from './suggest.js';

describe('did you mean', () => {
  it('edit distance counts insertions, deletions and substitutions', () => {
    expect(editDistance('audiance', 'audience')).toBe(1);
    expect(editDistance('tenats', 'tenants')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });

  it('suggests the closest candidate when it is close enough, nothing otherwise', () => {
    expect(closest('--audiance', ['--audience', '--scope', '--url'])).toBe('--audience');
    expect(closest('clints', ['clients', 'apis', 'grants'])).toBe('clients');
    expect(closest('tok', ['token', 'tenants'])).toBe('token');
    expect(closest('bogus', ['clients', 'apis', 'grants', 'token'])).toBeUndefined();
    expect(didYouMean('verfy', ['verify'])).toBe(' (did you mean "verify"?)');
  });

  it('turns node:util parseArgs errors into short messages with a suggestion', () => {
    const unknown = Object.assign(new Error("Unknown option '--audiance'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--audiance\""), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
    expect(parseArgsMessage(unknown, ['audience', 'scope'])).toBe('unknown option --audiance (did you mean --audience?)');
    const missing = Object.assign(new Error("Option '--url <value>' argument missing"), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
    expect(parseArgsMessage(missing, ['url'])).toBe('--url needs a value');
  });
});
