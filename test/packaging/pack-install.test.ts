/**
 * The packages as a service gets them: every workspace package that is not private is
 * packed with `npm pack`, the tarballs are installed together into an empty project
 * outside the repository (third-party dependencies from the registry, preferring npm's
 * cache), and then used from there: imported from plain Node.js ESM (no TypeScript
 * loader), type-checked by `tsc` from a consumer's .ts file, `npx tessera --help`,
 * a service's own `node --test` suite on the installed @tessera/testing, and `tessera
 * serve` from the installed CLI issuing a token that the installed client gets and the
 * installed verifier verifies.
 *
 * The install skips lifecycle scripts and gives better-sqlite3 the binary this
 * repository's `npm ci` compiled (same Node.js, same version): compiling SQLite again
 * would cost minutes. The image build (.ci/image.sh) compiles it from source.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT, waitFor } from '../../packages/cli/test/helpers/tessera-process.js';
import { makeTempDir, type TempDir } from '../../packages/server/test/helpers/temp-dir.js';

interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  repository?: { type: string; url: string; directory?: string };
  engines?: { node?: string };
  types?: string;
  exports?: Record<string, { types?: string; default?: string }>;
  files?: string[];
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
}

interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without what `npm test` sets for its own run (npm_*), nor TESSERA_*. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^(npm_|TESSERA_)/i.test(key)) env[key] = value;
  return { ...env, ...extra };
}

function run(command: string, args: string[], cwd: string, timeoutMs = 120_000, env = childEnv()): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function ok(result: Run, what: string): Run {
  if (result.code !== 0) throw new Error(`${what} exited ${String(result.code)}\n${result.stdout}\n${result.stderr}`);
  return result;
}

const readJson = async <T>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;

/** Every workspace package that is not private: what is meant to be installed elsewhere. */
async function publishablePackages(): Promise<{ dir: string; pkg: PackageJson }[]> {
  const root = await readJson<{ workspaces: string[] }>(join(REPO_ROOT, 'package.json'));
  const all = await Promise.all(root.workspaces.map(async (dir) => ({ dir, pkg: await readJson<PackageJson>(join(REPO_ROOT, dir, 'package.json')) })));
  return all.filter(({ pkg }) => pkg.private !== true);
}

let temp: TempDir;
let project: string;
let packages: { dir: string; pkg: PackageJson }[];
let packed: Packed[];
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

beforeAll(async () => {
  packages = await publishablePackages();
  for (const { dir } of packages) {
    if (!existsSync(join(REPO_ROOT, dir, 'dist'))) throw new Error(`${dir}/dist is missing: run \`npm run build\` first`);
  }
  temp = await makeTempDir('tessera-pack-');
  const tarballs = join(temp.path, 'tarballs');
  project = join(temp.path, 'service');
  await mkdir(tarballs);
  await mkdir(project);
  const workspaces = packages.flatMap(({ pkg }) => ['-w', pkg.name]);
  packed = JSON.parse(ok(await run(npm, ['pack', '--json', '--pack-destination', tarballs, ...workspaces], REPO_ROOT), 'npm pack').stdout) as Packed[];

  const root = await readJson<{ devDependencies: Record<string, string> }>(join(REPO_ROOT, 'package.json'));
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'a-service', version: '1.0.0', private: true, type: 'module' }, null, 2));
  ok(
    await run(
      npm,
      ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', ...packed.map((p) => join(tarballs, p.filename)), `@types/node@${root.devDependencies['@types/node'] ?? '20'}`],
      project,
      240_000,
    ),
    'npm install of the tarballs',
  );
  const sqlite = 'node_modules/better-sqlite3';
  if (existsSync(join(project, sqlite))) {
    const [theirs, ours] = await Promise.all([readJson<PackageJson>(join(project, sqlite, 'package.json')), readJson<PackageJson>(join(REPO_ROOT, sqlite, 'package.json'))]);
    const release = join(project, sqlite, 'build', 'Release');
    if (theirs.version === ours.version) {
      await mkdir(release, { recursive: true });
      await copyFile(join(REPO_ROOT, sqlite, 'build', 'Release', 'better_sqlite3.node'), join(release, 'better_sqlite3.node'));
    } else {
      ok(await run(npm, ['rebuild', 'better-sqlite3'], project, 600_000), 'npm rebuild better-sqlite3');
    }
  }
}, 600_000);

afterAll(async () => temp?.cleanup());

describe('npm pack of every publishable package', () => {
  it('finds the SDKs, the server and the CLI among the workspaces', () => {
    expect(packages.map(({ pkg }) => pkg.name)).toEqual(expect.arrayContaining(['@tessera/verifier', '@tessera/client', '@tessera/server', '@tessera/cli']));
    expect(packed.map((p) => p.name).sort()).toEqual(packages.map(({ pkg }) => pkg.name).sort());
  });

  it('each is publishable as it is: license, repository, engines, exports with types, internal dependencies by range', () => {
    const names = new Set(packages.map(({ pkg }) => pkg.name));
    for (const { dir, pkg } of packages) {
      expect(pkg.license, pkg.name).toBe('Apache-2.0');
      expect(pkg.repository, pkg.name).toMatchObject({ type: 'git', url: expect.stringMatching(/^git\+https:\/\//), directory: dir });
      expect(pkg.engines?.node, pkg.name).toBe('>=20.18');
      expect(pkg.types, pkg.name).toMatch(/\.d\.ts$/);
      expect(Object.keys(pkg.exports ?? {}), pkg.name).toContain('.');
      for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
        expect(target.types, `${pkg.name} ${subpath}`).toMatch(/\.d\.ts$/);
        expect(target.default, `${pkg.name} ${subpath}`).toMatch(/\.js$/);
      }
      for (const [dep, range] of Object.entries(pkg.dependencies ?? {})) {
        if (!names.has(dep)) continue;
        // A range the registry can resolve: not a path, a workspace link or "anything".
        expect(range, `${pkg.name} -> ${dep}`).toMatch(/^\^\d+\.\d+\.\d+$/);
      }
    }
  });

  it('each tarball holds its README, its entry points and declarations, and no tests or build info', () => {
    for (const tarball of packed) {
      const { pkg } = packages.find((p) => p.pkg.name === tarball.name) as { pkg: PackageJson };
      const files = new Set(tarball.files.map((f) => f.path));
      expect(files.has('README.md'), `${tarball.name} README.md`).toBe(true);
      for (const target of Object.values(pkg.exports ?? {})) {
        for (const path of [target.types, target.default]) expect(files.has(String(path).replace(/^\.\//, '')), `${tarball.name} ${String(path)}`).toBe(true);
      }
      for (const bin of Object.values(pkg.bin ?? {})) expect(files.has(bin.replace(/^\.\//, '')), `${tarball.name} bin ${bin}`).toBe(true);
      const unwanted = [...files].filter((f) => /\.test\.tsx?$|\.tsbuildinfo$|(^|\/)test\//.test(f));
      expect(unwanted, tarball.name).toEqual([]);
    }
    const server = packed.find((p) => p.name === '@tessera/server');
    expect(server?.files.map((f) => f.path)).toContain('console/index.html');
  });
});

describe('installed together into an empty project', () => {
  it('each package and subpath imports from plain Node.js ESM with the same exports as in the repository', async () => {
    for (const { pkg } of packages) {
      for (const subpath of Object.keys(pkg.exports ?? { '.': {} })) {
        const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.replace(/^\.\//, '')}`;
        const script = `const m = await import(${JSON.stringify(specifier)}); process.stdout.write(JSON.stringify(Object.keys(m).sort()));`;
        const installed = ok(await run(process.execPath, ['--input-type=module', '-e', script], project), `import ${specifier}`);
        const inRepo = ok(await run(process.execPath, ['--input-type=module', '-e', script], REPO_ROOT), `import ${specifier} in the repository`);
        // Where it resolved from: the project's node_modules, not the repository.
        const where = ok(await run(process.execPath, ['--input-type=module', '-e', `process.stdout.write(import.meta.resolve(${JSON.stringify(specifier)}))`], project), 'resolve');
        expect(where.stdout, specifier).toContain(`${project}/node_modules/`);
        const names = JSON.parse(installed.stdout) as string[];
        expect(names.length, specifier).toBeGreaterThan(0);
        expect(names, specifier).toEqual(JSON.parse(inRepo.stdout) as string[]);
      }
    }
  }, 120_000);

  it('`npx tessera --help` runs the installed CLI (npx fetches nothing)', async () => {
    const help = ok(await run(npm, ['exec', '--no', '--', 'tessera', '--help'], project), 'npx tessera --help');
    expect(help.stdout + help.stderr).toMatch(/\bserve\b/);
    expect(help.stdout + help.stderr).toMatch(/\btoken\b/);
  }, 60_000);

  it('a TypeScript consumer type-checks against the declarations (and a misuse does not)', async () => {
    const lines = [
      "import { createVerifier, type AccessTokenClaims } from '@tessera/verifier';",
      "import { clientSecretBasic, createTokenClient } from '@tessera/client';",
      "import { serve, type RunningServer } from '@tessera/server';",
      "import { main } from '@tessera/cli';",
      "const verifier = createVerifier({ issuer: 'https://auth.example.com/t/default', audience: 'https://api.example.com' });",
      "export async function subject(token: string): Promise<string | undefined> { const claims: Readonly<AccessTokenClaims> = await verifier.verify(token, { scopes: ['orders:read'] }); return claims.sub; }",
      "export const tokens = createTokenClient({ issuer: 'https://auth.example.com/t/default', clientId: 'billing', auth: clientSecretBasic('secret') });",
      'export const start: (port: number) => Promise<RunningServer> = (port) => serve({ port });',
      'export const cli: typeof main = main;',
      '// @ts-expect-error: the issuer is a string (fails if the declarations were `any`)',
      'createVerifier({ issuer: 42, audience: "x" });',
    ];
    for (const { pkg } of packages.filter(({ pkg }) => !['@tessera/verifier', '@tessera/client', '@tessera/server', '@tessera/cli'].includes(pkg.name))) {
      lines.unshift(`import * as ${pkg.name.replace(/\W/g, '_')} from '${pkg.name}';`, `export const uses${pkg.name.replace(/\W/g, '_')} = Object.keys(${pkg.name.replace(/\W/g, '_')});`);
    }
    await writeFile(join(project, 'consumer.ts'), `${lines.join('\n')}\n`);
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['consumer.ts'] }),
    );
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    ok(await run(process.execPath, [tsc, '-p', 'tsconfig.json'], project), 'tsc over the consumer');

    await writeFile(join(project, 'misuse.ts'), "import { createVerifier } from '@tessera/verifier';\ncreateVerifier({ issuer: 'https://a.example', audiences: 'x' });\n");
    await writeFile(join(project, 'tsconfig.misuse.json'), JSON.stringify({ extends: './tsconfig.json', files: ['misuse.ts'] }));
    const misuse = await run(process.execPath, [tsc, '-p', 'tsconfig.misuse.json'], project);
    expect(misuse.code).not.toBe(0);
    expect(misuse.stdout).toMatch(/audiences/);
  }, 120_000);

  it('a service\'s own node:test suite runs on the installed @tessera/testing: real tokens (secret and mTLS) that the installed verifier accepts, and a failing test is reported as failed', async () => {
    // What a team writes in its own repository: plain ESM, node:test, no TypeScript loader.
    const suite = `
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestIssuer } from '@tessera/testing';
import { clientSecretBasic, createTokenClient, tlsClientAuth } from '@tessera/client';
import { createVerifier } from '@tessera/verifier';

const API = 'https://orders.example';
const issuer = await startTestIssuer();
after(() => issuer.stop());
const verifier = createVerifier({ issuer: issuer.issuer, audience: API });

test('a client_credentials token from the test issuer verifies, with its scope', async () => {
  const client = await issuer.createClient({ audience: API, scopes: ['orders:read'] });
  const tokens = createTokenClient({ issuer: issuer.issuer, clientId: client.clientId, auth: clientSecretBasic(client.clientSecret) });
  const { accessToken } = await tokens.getToken({ audience: API, scope: 'orders:read' });
  const claims = await verifier.verify(accessToken, { scopes: ['orders:read'] });
  assert.equal(claims.client_id, client.clientId);
  await assert.rejects(verifier.verify(accessToken, { scopes: ['orders:write'] }), { code: 'ERR_INSUFFICIENT_SCOPE' });
});

test('an mTLS client gets a certificate-bound token (RFC 8705)', async () => {
  const client = await issuer.createClient({ audience: API, scopes: ['orders:read'], method: 'tls_client_auth' });
  const tokens = createTokenClient({ issuer: issuer.issuer, clientId: client.clientId, auth: tlsClientAuth({ cert: client.certificate.cert, key: client.certificate.key, ca: client.ca }) });
  try {
    const { accessToken } = await tokens.getToken({ audience: API });
    assert.equal((await verifier.verify(accessToken, { certificate: client.certificate.cert })).cnf['x5t#S256'], client.certificate.thumbprint);
  } finally {
    await tokens.close();
  }
});

test('an expired token is refused', async () => {
  await assert.rejects(verifier.verify(await issuer.issueToken({ audience: API, expiresIn: -120 })), { code: 'ERR_TOKEN_EXPIRED' });
});

test('a token for another audience would be accepted', { skip: !process.env.EXPECT_FAILURE }, async () => {
  await verifier.verify(await issuer.issueToken({ audience: 'https://another.example' }));
});
`;
    await writeFile(join(project, 'orders.test.mjs'), suite);
    const summary = (output: string) => Object.fromEntries([...output.matchAll(/^# (tests|pass|fail|skipped) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    const passing = await run(process.execPath, ['--test', '--test-reporter=tap', '--test-timeout=30000', 'orders.test.mjs'], project, 60_000);
    expect(passing.code, passing.stdout + passing.stderr).toBe(0);
    expect(summary(passing.stdout)).toEqual({ tests: 4, pass: 3, fail: 0, skipped: 1 });
    // The same suite with its wrong expectation switched on fails, and says so: the run above could have.
    const failing = await run(process.execPath, ['--test', '--test-reporter=tap', '--test-timeout=30000', 'orders.test.mjs'], project, 60_000, childEnv({ EXPECT_FAILURE: '1' }));
    expect(failing.code).not.toBe(0);
    expect(summary(failing.stdout)).toEqual({ tests: 4, pass: 3, fail: 1, skipped: 0 });
    expect(failing.stdout).toMatch(/ERR_AUDIENCE_MISMATCH/);
  }, 150_000);

  it('the installed `tessera serve` issues a token that the installed client gets and the installed verifier verifies', async () => {
    const port = await freePort();
    const dataDir = join(temp.path, 'data');
    const child = spawn(process.execPath, ['node_modules/@tessera/cli/bin/tessera.js', 'serve', '--port', String(port), '--data-dir', dataDir], {
      cwd: project,
      env: childEnv({ TESSERA_LOG_LEVEL: 'warn' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)) || undefined, 30_000, 100);
      const consolePage = await fetch(`http://127.0.0.1:${port}/console/`);
      expect(consolePage.status).toBe(200);
      const script = `
        import { readFileSync } from 'node:fs';
        import { createTokenClient, clientSecretBasic } from '@tessera/client';
        import { createVerifier } from '@tessera/verifier';
        const admin = JSON.parse(readFileSync(process.argv[1], 'utf8'));
        const tokens = createTokenClient({ issuer: admin.issuer, clientId: admin.clientId, auth: clientSecretBasic(admin.clientSecret) });
        const { accessToken } = await tokens.getToken({ audience: 'urn:tessera:management', scope: 'manage:read' });
        const claims = await createVerifier({ issuer: admin.issuer, audience: 'urn:tessera:management' }).verify(accessToken, { scopes: ['manage:read'] });
        process.stdout.write(JSON.stringify({ iss: claims.iss, client_id: claims.client_id, scope: claims.scope }));`;
      const admin = join(dataDir, 'admin.json');
      const result = ok(await run(process.execPath, ['--input-type=module', '-e', script, admin], project), 'client and verifier');
      const { issuer, clientId } = await readJson<{ issuer: string; clientId: string }>(admin);
      expect(JSON.parse(result.stdout)).toEqual({ iss: issuer, client_id: clientId, scope: 'manage:read' });
    } catch (error) {
      throw new Error(`${String(error)}\n${output}`);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 90_000);
});
