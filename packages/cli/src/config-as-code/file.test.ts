import { describe, expect, it } from 'vitest';
import { ConfigFileError, parseConfig } from './file.js';

function problems(text: string): string[] {
  try {
    parseConfig(text, 'f.yaml');
  } catch (error) {
    if (error instanceof ConfigFileError) return error.problems.map((p) => `${p.line} ${p.field}: ${p.message}`);
    throw error;
  }
  return [];
}

describe('parseConfig', () => {
  it('accepts the smallest file and JSON alike', () => {
    expect(problems('version: 1\ntenants: []\n')).toEqual([]);
    expect(problems('{"version": 1, "tenants": [{"id": "a"}]}')).toEqual([]);
  });

  it('names the line of a YAML syntax error and of a key given twice', () => {
    expect(problems('version: 1\ntenants:\n  - id: [a\n')[0]).toMatch(/^\d+ : not valid YAML or JSON/);
    expect(problems('version: 1\nversion: 1\ntenants: []\n')[0]).toMatch(/^2 : not valid YAML or JSON/);
  });

  it('says what a field expected, not "expected union value"', () => {
    expect(problems('version: 1\ntenants:\n  - id: a\n    signingAlg: HS256\n')).toEqual([expect.stringMatching(/^4 tenants\[0\]\.signingAlg: Expected /)]);
    expect(problems('version: 1\ntenants:\n  - id: a\n    clients:\n      - { clientId: "-x", name: X }\n')[0]).toMatch(/^5 tenants\[0\]\.clients\[0\]\.clientId: Expected string to match/);
    expect(problems('version: 2\ntenants: []\n')[0]).toMatch(/^1 version: /);
  });

  it('refuses secrets anywhere, before anything else, without echoing them', () => {
    const found = problems('version: 1\ntenants:\n  - id: a\n    colour: red\n    clients:\n      - clientId: c\n        name: C\n        customClaims: { secret: hunter2-hunter2 }\n');
    expect(found).toEqual(['8 tenants[0].clients[0].customClaims.secret: a secret value has no place in a configuration file: apply generates secrets (--secrets-out), or takes them from --secrets-from DIR']);
  });

  it('refuses the admin tenant, an object named twice, and references to nothing', () => {
    expect(problems('version: 1\ntenants:\n  - id: admin\n')[0]).toMatch(/^3 tenants\[0\]\.id: the admin tenant belongs to the server/);
    expect(problems('version: 1\ntenants:\n  - id: a\n  - id: a\n')[0]).toMatch(/^4 tenants\[1\]\.id: tenant "a" is named twice/);
    const refs = problems(`version: 1
tenants:
  - id: a
    apis: [{ identifier: https://x, scopes: [read], introspectors: [ghost] }]
    clients: [{ clientId: c, name: C }, { clientId: c, name: D }]
    grants: [{ clientId: c, audience: https://x, scopes: [write] }]
    federations: [{ name: f, issuer: https://i, rules: [{ subject: s, clientId: nobody }] }]
`);
    expect(refs).toEqual([
      '5 tenants[0].clients[1].clientId: client "c" is named twice in this tenant (first as clients[0])',
      '4 tenants[0].apis[0].introspectors[0]: names client "ghost", which is not among this tenant\'s clients in the file',
      '6 tenants[0].grants[0].scopes[0]: scope "write" is not defined by the API "https://x"',
      '7 tenants[0].federations[0].rules[0].clientId: names client "nobody", which is not among this tenant\'s clients in the file',
    ]);
  });
});
