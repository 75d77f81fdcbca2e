#!/usr/bin/env node
// RS256/PS256 signatures run on the libuv thread pool (4 threads unless told):
// size it to the machine before anything uses it, which is why main is imported below.
import { availableParallelism } from 'node:os';

if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.min(64, Math.max(4, availableParallelism())));

const { main } = await import('../dist/main.js');

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (error) => {
    process.stderr.write(`tessera: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
