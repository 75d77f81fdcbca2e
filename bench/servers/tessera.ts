/**
 * Tessera as `tessera serve` runs it by default (SQLite store, ES256 default tenant;
 * metrics, usage, protection and the access log at the default level, info), on a free
 * port of 127.0.0.1. The parent sends the access log (standard output) to /dev/null;
 * BENCH_TESSERA_LOG_LEVEL sets another level; BENCH_TESSERA_MODULE runs another build of the
 * server (the path of its index.js), for a before/after comparison in one run. Setup goes through the management API,
 * from the parent, with the credentials of admin.json.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigInput } from '@tessera/server';
import { createTestDatabase } from '../../packages/server/test/helpers/postgres.js';
import { announce, freePort, HOST } from './common.js';

const { serve } = (await import(process.env['BENCH_TESSERA_MODULE'] ?? '@tessera/server')) as typeof import('@tessera/server');
const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-'));
// BENCH_TESSERA_USAGE=off: usage recording switched off (the usage section's reference).
// BENCH_TESSERA_METRICS=off: the metrics-off side of the metrics comparison. OTEL_* variables
// given by the parent configure tracing (the tracing comparison points them at a closed port).
// BENCH_TESSERA_POSTGRES=on: the store in a fresh PostgreSQL database on the server of
// TESSERA_TEST_DATABASE_URL (dropped at the end); BENCH_TESSERA_STATE_URL=redis://...: the
// state store in Redis (`--state-url`).
const usage = process.env['BENCH_TESSERA_USAGE'] === 'off' ? { usage: { enabled: false } } : {};
const metricsOff = process.env['BENCH_TESSERA_METRICS'] === 'off';
const database = process.env['BENCH_TESSERA_POSTGRES'] === 'on' ? await createTestDatabase() : null;
if (process.env['BENCH_TESSERA_POSTGRES'] === 'on' && database === null) throw new Error('BENCH_TESSERA_POSTGRES=on needs TESSERA_TEST_DATABASE_URL');
const stateUrl = process.env['BENCH_TESSERA_STATE_URL'];
// BENCH_TESSERA_OUTBOUND_ALLOW=127.0.0.1: key sets may be fetched from the bench process (jwt-bearer).
const outboundAllow = (process.env['BENCH_TESSERA_OUTBOUND_ALLOW'] ?? '').split(',').filter(Boolean);
const level = process.env['BENCH_TESSERA_LOG_LEVEL'];
const logLevel = level !== undefined ? { logLevel: level as NonNullable<ConfigInput['logLevel']> } : {};
const server = await serve({
  port: await freePort(),
  host: HOST,
  dataDir,
  ...logLevel,
  ...usage,
  ...(metricsOff ? { metrics: { enabled: false } } : {}),
  ...(database !== null ? { databaseUrl: database.url, masterKey: Buffer.alloc(32, 3).toString('base64') } : {}),
  ...(stateUrl !== undefined && stateUrl !== '' ? { stateUrl } : {}),
  ...(outboundAllow.length > 0 ? { outboundAllow } : {}),
}, () => {});

announce({ type: 'ready', url: server.url, detail: { adminFile: server.adminFile } }, async () => {
  await server.close();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});
