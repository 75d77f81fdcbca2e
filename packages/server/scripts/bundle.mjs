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
 * it is newer than every file of dist/ (dist/bundle-loader.js), so a stale bundle is
 * never run; without esbuild (a production install) this script does nothing.
 */
import { writeFile } from 'node:fs/promises';
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
