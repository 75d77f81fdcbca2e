/**
 * `@tessera/server/loader`: loads `@tessera/server` for what starts a server and wants
 * it soon (`tessera serve`, @tessera/testing's `startTestIssuer`): its start-up bundle
 * (dist/bundle/, made by packages/server/scripts/bundle.mjs after the build) when it was
 * built from the compiled files there are, else the compiled modules. The bundle is the same code in a few
 * files instead of hundreds; module loading is most of a start's time. A bundle older
 * than the code (`tsc -b` after a change) is never used; TESSERA_SERVER_BUNDLE=off
 * does without it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Server = typeof import('./index.js');

/** The directory of the compiled server: this module sits beside its entry. */
function serverDist(): string {
  return dirname(fileURLToPath(import.meta.url));
}

export async function loadServer(): Promise<Server> {
  const bundle = process.env['TESSERA_SERVER_BUNDLE'] === 'off' ? null : freshBundle();
  if (bundle !== null) return (await import(pathToFileURL(bundle).href)) as Server;
  return import('./index.js');
}

/**
 * The start-up bundle's path if it was built from the compiled files there are now; else
 * null. In the repository, that is when it is newer than every compiled file (`tsc -b`
 * after a change makes it stale). An installed package's files all carry the time they
 * were unpacked, in no particular order, so there it is when the compiled files are
 * the ones the bundle records it was built from (bundle/built-from.json: each name and
 * size); nothing rebuilds an installed package's dist/.
 */
export function freshBundle(dist = serverDist()): string | null {
  try {
    const bundle = join(dist, 'bundle', 'server.js');
    const built = statSync(bundle).mtimeMs;
    const compiled = new Map<string, { size: number; mtimeMs: number }>();
    for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
      const path = join(entry.parentPath, entry.name);
      if (path.startsWith(join(dist, 'bundle'))) continue;
      const { size, mtimeMs } = statSync(path);
      compiled.set(relative(dist, path).split(sep).join('/'), { size, mtimeMs });
    }
    if ([...compiled.values()].every((file) => file.mtimeMs <= built)) return bundle;
    if (!dist.split(sep).includes('node_modules')) return null;
    const recorded = (JSON.parse(readFileSync(join(dist, 'bundle', 'built-from.json'), 'utf8')) as { files?: Record<string, number> }).files ?? {};
    const names = Object.keys(recorded);
    return names.length === compiled.size && names.every((name) => compiled.get(name)?.size === recorded[name]) ? bundle : null;
  } catch {
    return null;
  }
}
