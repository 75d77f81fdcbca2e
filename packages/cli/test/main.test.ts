/** The CLI in-process: dispatch, usage errors, output formatting, key files. No server needed. */
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../server/test/helpers/temp-dir.js';
import { parseRule } from '../src/commands/federations.js';
import type { Io } from '../src/io.js';
import { jwkThumbprint, readPrivateKey, readPublicJwks } from '../src/keys-file.js';
import { main } from '../src/main.js';
import { printRecord, printTable } from '../src/output.js';

function fakeIo(env: NodeJS.ProcessEnv = {}): Io & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env,
    stdout: (text: string) => void (io.out += text),
    stderr: (text: string) => void (io.err += text),
    readStdin: async () => '',
  };
  return io;
}

let dir: TempDir;
beforeAll(async () => {
  dir = await makeTempDir('tessera-cli-unit-');
});
afterAll(() => dir?.cleanup());

describe('dispatch and usage errors', () => {
  it('no command: exit 2 with the usage on stderr', async () => {
    const io = fakeIo();
    expect(await main([], io)).toBe(2);
    expect(io.err).toContain('Usage: tessera <command>');
    expect(io.out).toBe('');
  });

  it('--help: exit 0 with the usage on stdout', async () => {
    const io = fakeIo();
    expect(await main(['--help'], io)).toBe(0);
    expect(io.out).toContain('Usage: tessera <command>');
  });

  it('a group without a command, an unknown flag, a missing positional: exit 2', async () => {
    for (const argv of [['clients'], ['clients', 'secrets'], ['tenants', 'list', '--nope'], ['tenants', 'get'], ['apis', 'create', '--scope', 'a']]) {
      const io = fakeIo();
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      expect(io.err, argv.join(' ')).toMatch(/^tessera: /);
      expect(io.err, argv.join(' ')).toContain('Usage: tessera');
    }
  });

  it('flags are checked before anything is sent', async () => {
    const cases: [string[], RegExp][] = [
      [['tenants', 'create', 'x', '--alg', 'HS256'], /--alg must be one of ES256, RS256, PS256, EdDSA/],
      [['clients', 'create', '--name', 'x', '--lifetime', '5'], /--lifetime must be a whole number from 60 to 86400/],
      [['clients', 'update', 'id'], /nothing to change/],
      [['clients', 'update', 'id', '--enable', '--disable'], /exclude each other/],
      [['token', '--client-id', 'x'], /exactly one of --client-secret/],
      [['verify', 'a.b.c'], /--audience is required/],
      [['federations', 'create', '--name', 'n', '--issuer', 'i', '--jwks-uri', 'u', '--rule', 'nope'], /subject=>clientId/],
    ];
    const admin = join(dir.path, 'admin.json');
    await writeFile(admin, JSON.stringify({ clientId: 'a', clientSecret: 'b' }));
    cases.push([['tenants', 'list', '--url', 'ftp://x', '--admin', admin], /--url must be an http\(s\) URL/]);
    for (const [argv, message] of cases) {
      const io = fakeIo();
      const code = await main(argv, io);
      expect(code, argv.join(' ')).toBeGreaterThan(0);
      expect(io.err, argv.join(' ')).toMatch(message);
    }
  });

  it('serve: an unknown flag or an impossible value is a usage error (exit 2), before anything starts', async () => {
    for (const argv of [['serve', '--bogus'], ['serve', '--port', '99999'], ['serve', '--port', 'abc'], ['serve', '--public-url', 'ftp://x'], ['serve', '--database-url', 'mysql://x'], ['serve', '--state-url', 'memcached://x']]) {
      const io = fakeIo();
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      expect(io.err.length, argv.join(' ')).toBeGreaterThan(0);
    }
  });

  it('a mistyped command, subcommand or flag gets a suggestion and a short usage, not parseArgs text', async () => {
    const cases: [string[], string][] = [
      [['tenats', 'list'], 'unknown command "tenats" (did you mean "tenants"?)'],
      [['clients', 'craete'], 'unknown command "clients craete" (did you mean "clients create"?)'],
      [['token', '--audiance', 'x'], 'unknown option --audiance (did you mean --audience?)'],
      [['serve', '--prot', '1'], 'unknown option --prot (did you mean --port?)'],
      [['tenants', 'list', '--url'], '--url needs a value'],
    ];
    for (const [argv, message] of cases) {
      const io = fakeIo();
      expect(await main(argv, io), argv.join(' ')).toBe(2);
      expect(io.err, argv.join(' ')).toContain(`tessera: ${message}\n`);
      expect(io.err, argv.join(' ')).not.toContain('To specify a positional argument');
      expect(io.err, argv.join(' ')).toMatch(/Run "tessera[\w ]*--help"/);
    }
  });

  it('--json turns an error into a JSON object on stderr', async () => {
    const io = fakeIo();
    expect(await main(['bogus', '--json'], io)).toBe(2);
    expect(JSON.parse(io.err)).toEqual({ error: 'usage', message: 'unknown command "bogus"' });
  });

  it('a missing admin file is exit 1 and names the file and the way out', async () => {
    const io = fakeIo({ TESSERA_ADMIN: join(dir.path, 'nope.json') });
    expect(await main(['tenants', 'list'], io)).toBe(1);
    expect(io.err).toContain('nope.json');
    expect(io.err).toContain('--admin');
  });
});

describe('output', () => {
  it('tables align every column to its widest cell', () => {
    const io = fakeIo();
    printTable(io, [{ a: 'x', b: 'long value' }, { a: 'longer', b: 'y' }], [
      { header: 'A', value: (r) => r.a },
      { header: 'B', value: (r) => r.b },
    ]);
    expect(io.out).toBe('A       B\nx       long value\nlonger  y\n');
  });

  it('records align keys and format times, lists and nulls', () => {
    const io = fakeIo();
    printRecord(io, { id: 'k1', createdAt: 0, scopes: ['a', 'b'], lifetime: null });
    expect(io.out).toBe('id:        k1\ncreatedAt: 1970-01-01T00:00:00.000Z\nscopes:    a, b\nlifetime:  -\n');
  });

  it('an empty list says so', () => {
    const io = fakeIo();
    printTable(io, [], [{ header: 'A', value: () => '' }]);
    expect(io.out).toBe('(none)\n');
  });
});

describe('federation rules', () => {
  it('parses subject=>clientId with optional claim selectors', () => {
    expect(parseRule('repo:acme/app:*=>c1', '')).toEqual({ subject: 'repo:acme/app:*', clientId: 'c1' });
    expect(parseRule('system:serviceaccount:ns:sa=>c2;namespace=prod;env=a=b', '')).toEqual({
      subject: 'system:serviceaccount:ns:sa',
      clientId: 'c2',
      claims: { namespace: 'prod', env: 'a=b' },
    });
    expect(() => parseRule('=>c', '')).toThrow(/subject=>clientId/);
    expect(() => parseRule('s=>', '')).toThrow(/names no client/);
  });
});

describe('key files', () => {
  it('computes RFC 7638 thumbprints (the RFC 7638 §3.1 example)', () => {
    const jwk = {
      kty: 'RSA',
      e: 'AQAB',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    };
    expect(jwkThumbprint(jwk)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('reduces a private PEM key to a public JWK with a kid, and reads it back for signing', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const file = join(dir.path, 'ed.pem');
    await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const jwks = await readPublicJwks(file);
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: expect.any(String) });
    expect(jwks.keys[0]).not.toHaveProperty('d');
    expect(typeof (await readPrivateKey(file))).toBe('string');
  });

  it('strips private members from a JWK Set and keeps given kids', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'mine' };
    const file = join(dir.path, 'set.json');
    await writeFile(file, JSON.stringify({ keys: [jwk] }));
    const jwks = await readPublicJwks(file);
    expect(jwks.keys[0]).toEqual({ kty: 'EC', kid: 'mine', crv: 'P-256', x: jwk.x, y: jwk.y });
    await writeFile(file, JSON.stringify(jwk));
    expect(await readPrivateKey(file)).toMatchObject({ kid: 'mine', d: jwk.d });
  });
});
