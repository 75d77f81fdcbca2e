#!/usr/bin/env node
/**
 * Bundles the compiled server (dist/index.js) into dist/bundle/ with esbuild, for
 * start-up: Node.js resolves, reads and links a few files instead of some eight hundred
 * (kysely, typebox, fastify and their dependencies), which is most of the time
 * `tessera serve` needs to be ready. Code split at the dynamic imports, so what the
 * configuration does not use (PostgreSQL, clustering, OpenTelemetry) is still loaded
 * only when used. Native and optional packages stay external.
 *
 * Run after `tsc -b` (the root build does). `tessera serve` uses the bundle only while
 * it was built from the files of dist/ there are (src/loader.ts), so a stale bundle is
 * never run; without esbuild (a production install) this script does nothing.
 */
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.log('@tessera/server: esbuild is not installed; no start-up bundle (the server runs unbundled)');
  process.exit(0);
}
await esbuild.build({
  entryPoints: { server: `${root}dist/index.js` },
  outdir: `${root}dist/bundle`,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Native (better-sqlite3), loaded only for PostgreSQL (pg), or only with OTEL_* set.
  external: ['better-sqlite3', 'pg', 'pg-*', '@opentelemetry/*'],
  // CommonJS dependencies bundled into ESM still call require() for Node.js built-ins.
  banner: { js: "import { createRequire as __tesseraRequire } from 'node:module'; const require = __tesseraRequire(import.meta.url);" },
  chunkNames: 'chunk-[hash]',
  legalComments: 'linked',
  // Less to parse at start-up; identifiers keep their names (Fastify reads plugin names, stack traces stay readable).
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  logLevel: 'warning',
});
await writeFile(`${root}dist/bundle/package.json`, '{ "type": "module" }\n');
// What the bundle was built from, by name and size: an installed package's files carry
// their unpacking times, so there the loader compares these instead (src/loader.ts).
const files = {};
for (const entry of await readdir(`${root}dist`, { recursive: true, withFileTypes: true })) {
  const path = join(entry.parentPath, entry.name);
  if (!entry.isFile() || !entry.name.endsWith('.js') || path.startsWith(join(root, 'dist', 'bundle'))) continue;
  files[relative(join(root, 'dist'), path).split(sep).join('/')] = (await stat(path)).size;
}
await writeFile(`${root}dist/bundle/built-from.json`, `${JSON.stringify({ files }, null, 1)}\n`);
