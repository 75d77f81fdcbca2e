import { describe, expect, it } from 'vitest';
import { InvalidScope } from './errors.js';
import { parseForm, parseScope } from './params.js';

/** What URLSearchParams makes of a body: the reference for application/x-www-form-urlencoded. */
function reference(body: string): Map<string, string[]> {
  const form = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(body)) form.set(name, [...(form.get(name) ?? []), value]);
  return form;
}

describe('parseForm (WHATWG URL §5.1 application/x-www-form-urlencoded)', () => {
  it.each([
    'grant_type=client_credentials&resource=https%3A%2F%2Forders.example%2Fapi&scope=orders%3Aread',
    'scope=a+b&scope=c%20d',
    'a=1&&b=2&',
    '&a',
    'a=&=b&=',
    'x=1=2',
    'caf%C3%A9=%E2%82%AC',
    'bad=%zz&ok=1',
    'half=%E2%82',
    '',
    'plus%2B=%2B',
  ])('parses %j as URLSearchParams does', (body) => {
    expect(parseForm(body)).toEqual(reference(body));
  });
});

describe('parseScope (RFC 6749 §3.3)', () => {
  it('keeps the order of the scope tokens and drops repeats, the first of each kept', () => {
    expect(parseScope('b a c')).toEqual(['b', 'a', 'c']);
    expect(parseScope('a b a c b')).toEqual(['a', 'b', 'c']);
    expect(parseScope('only')).toEqual(['only']);
    expect(parseScope(undefined)).toBeUndefined();
  });

  it.each(['', ' a', 'a ', 'a  b', 'a\tb', 'a"b', 'a\\b', 'é'])('refuses %j: scope-tokens separated by single spaces', (scope) => {
    expect(() => parseScope(scope)).toThrow(InvalidScope);
  });
});
