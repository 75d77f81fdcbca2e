/**
 * Loads `@tessera/server` for `tessera serve`: its start-up bundle (dist/bundle/, made
 * by packages/server/scripts/bundle.mjs after the build) when there is one newer than
 * every compiled file, else the compiled modules. The bundle is the same code in a few
 * files instead of hundreds; module loading is most of a start's time. A bundle older
 * than the code (`tsc -b` after a change) is never used; TESSERA_SERVER_BUNDLE=off
 * does without it.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Server = typeof import('@tessera/server');

export async function loadServer(): Promise<Server> {
  const bundle = process.env['TESSERA_SERVER_BUNDLE'] === 'off' ? null : freshBundle();
  if (bundle !== null) return (await import(pathToFileURL(bundle).href)) as Server;
  return import('@tessera/server');
}

/** The start-up bundle's path if it exists and is newer than every compiled file of the server; else null. */
export function freshBundle(): string | null {
  try {
    const dist = dirname(fileURLToPath(import.meta.resolve('@tessera/server')));
    const bundle = join(dist, 'bundle', 'server.js');
    const built = statSync(bundle).mtimeMs;
    for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
      const path = join(entry.parentPath, entry.name);
      if (path.startsWith(join(dist, 'bundle'))) continue;
      if (statSync(path).mtimeMs > built) return null;
    }
    return bundle;
  } catch {
    return null;
  }
}
