/**
 * Tessera as `tessera serve` runs it (SQLite store, ES256 default tenant), on a free
 * port of 127.0.0.1 with log level warn. Setup goes through the management API, from
 * the parent, with the credentials of admin.json.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@tessera/server';
import { announce, freePort, HOST } from './common.js';

const dataDir = await mkdtemp(join(tmpdir(), 'tessera-bench-'));
// BENCH_TESSERA_USAGE=off: usage recording switched off (the usage section's reference).
// BENCH_TESSERA_METRICS=off: the metrics-off side of the metrics comparison. OTEL_* variables
// given by the parent configure tracing (the tracing comparison points them at a closed port).
const usage = process.env['BENCH_TESSERA_USAGE'] === 'off' ? { usage: { enabled: false } } : {};
const metricsOff = process.env['BENCH_TESSERA_METRICS'] === 'off';
const server = await serve({ port: await freePort(), host: HOST, dataDir, logLevel: 'warn', ...usage, ...(metricsOff ? { metrics: { enabled: false } } : {}) }, () => {});

announce({ type: 'ready', url: server.url, detail: { adminFile: server.adminFile } }, async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});
