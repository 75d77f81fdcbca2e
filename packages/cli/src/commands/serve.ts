/** `tessera serve`: the authorization server (what `npm start` runs). */
import { parseArgsMessage, UsageError } from '../args.js';
import type { Io } from '../io.js';
import { loadServer } from '@tessera/server/loader';

export const SERVE_SUMMARY = 'run the authorization server';

export async function serve(argv: readonly string[], io: Io): Promise<number> {
  // Loaded here so that management commands do not load the server and its drivers.
  const server = await loadServer();
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(server.SERVE_USAGE);
    return 0;
  }
  let input: Awaited<ReturnType<typeof server.parseServeArgs>>;
  try {
    input = await server.parseServeArgs([...argv], io.env);
  } catch (error) {
    // A TLS file that cannot be read is not a usage error; an unknown flag is.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== undefined && !code.startsWith('ERR_PARSE_ARGS')) throw error;
    throw new UsageError(parseArgsMessage(error, Object.keys(server.SERVE_OPTIONS)), server.SERVE_USAGE);
  }
  await server.runUntilSignal(input, { banner: argv.includes('--json') ? 'json' : 'text' });
  return 0;
}
