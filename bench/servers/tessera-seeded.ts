/**
 * `tessera serve` on a store seeded by bench/seed-registry.ts (BENCH_DATA_DIR, and
 * BENCH_DATABASE_URL for PostgreSQL), with the seeding master key.
 */
import { serve } from '@tessera/server';
import { SEEDED_MASTER_KEY } from '../seed-registry.js';
import { announce, freePort, HOST } from './common.js';

const dataDir = process.env['BENCH_DATA_DIR'];
if (dataDir === undefined) throw new Error('BENCH_DATA_DIR is required');
const databaseUrl = process.env['BENCH_DATABASE_URL'];
const started = performance.now();
const server = await serve(
  { port: await freePort(), host: HOST, dataDir, masterKey: SEEDED_MASTER_KEY, logLevel: 'warn', ...(databaseUrl ? { databaseUrl } : {}) },
  () => {},
);
announce({ type: 'ready', url: server.url, detail: { listeningMs: String(Math.round(performance.now() - started)) } }, () => server.close());
