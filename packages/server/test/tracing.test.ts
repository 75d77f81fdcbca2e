/**
 * OpenTelemetry traces (docs/observability.md): with OTEL_EXPORTER_OTLP_ENDPOINT set,
 * token requests and store operations become spans exported over OTLP/HTTP; without
 * it, tracing is off and nothing is loaded.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { resolveConfig } from '../src/config/config.js';
import { MasterKey } from '../src/crypto/master-key.js';
import { otlpTracesUrl, startTracing } from '../src/observability/tracing.js';
import { createStore } from '../src/store/index.js';
import { basic, form, TEST_MASTER_KEY } from './helpers/app.js';
import { makeTempDir } from './helpers/temp-dir.js';

let receiver: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  receiver = undefined;
});

/** A tiny OTLP/HTTP receiver on 127.0.0.1 that keeps every request body. */
async function otlpReceiver(): Promise<{ url: string; bodies: { path: string; body: Buffer }[] }> {
  const bodies: { path: string; body: Buffer }[] = [];
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push({ path: request.url ?? '', body: Buffer.concat(chunks) });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => (receiver as Server).listen(0, '127.0.0.1', () => resolve()));
  const { port } = receiver.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, bodies };
}

describe('tracing', () => {
  it('is off unless the standard OTEL_* variables configure an OTLP endpoint', async () => {
    expect(await startTracing({})).toBeNull();
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe('http://collector:4318/v1/traces');
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom' })).toBe('http://c:4318/custom');
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBeNull();
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeNull();
  });

  it('exports spans for token requests and store operations to an OTLP/HTTP collector', async () => {
    const collector = await otlpReceiver();
    const dir = await makeTempDir();
    const config = resolveConfig({ dataDir: dir.path, publicUrl: 'http://tessera.test', logLevel: 'silent' });
    const store = await createStore({ dataDir: dir.path });
    const app = await buildApp({ config, store, masterKey: MasterKey.fromBase64(TEST_MASTER_KEY), env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SERVICE_NAME: 'tessera-under-test' } });
    try {
      const boot = await app.tessera.bootstrap();
      if (boot === null) throw new Error('not bootstrapped');
      const response = await app.inject({
        method: 'POST',
        url: '/t/admin/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(boot.adminClientId, boot.adminClientSecret) },
        payload: form({ grant_type: 'client_credentials', audience: 'urn:tessera:management', scope: 'manage:read' }),
      });
      expect(response.statusCode).toBe(200);
    } finally {
      await app.close(); // flushes the batch of spans
      await store.close();
      await dir.cleanup();
    }
    const sent = Buffer.concat(collector.bodies.map((b) => b.body)).toString('utf8');
    expect(collector.bodies.every((b) => b.path === '/v1/traces')).toBe(true);
    expect(sent).toContain('POST /t/{tenant}/token');
    expect(sent).toContain('store.');
    expect(sent).toContain('tessera-under-test');
    expect(sent).toContain('client_credentials');
  });
});
