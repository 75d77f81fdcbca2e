/**
 * `@tessera/server/loader`: loads `@tessera/server` for what starts a server and wants
 * it soon (`tessera serve`, @tessera/testing's `startTestIssuer`): its start-up bundle (dist/bundle/, made
 * by packages/server/scripts/bundle.mjs after the build) when there is one newer than
 * every compiled file, else the compiled modules. The bundle is the same code in a few
 * files instead of hundreds; module loading is most of a start's time. A bundle older
 * than the code (`tsc -b` after a change) is never used; TESSERA_SERVER_BUNDLE=off
 * does without it.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/** The start-up bundle's path if it exists and is newer than every compiled file of the server; else null. */
export function freshBundle(dist = serverDist()): string | null {
  try {
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
