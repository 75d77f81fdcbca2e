/**
 * OpenTelemetry traces, exported over OTLP/HTTP when the standard OTEL_* variables
 * ask for it (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; off
 * with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none). When they do not, the
 * @opentelemetry packages are never imported and callers hold `null`: the cost on
 * the request path is one null check.
 */

export interface SpanHandle {
  set(key: string, value: string | number | boolean): void;
  fail(error: unknown): void;
  end(): void;
}

export interface Tracing {
  startSpan(name: string, attributes?: Record<string, string | number | boolean>): SpanHandle;
  /** Flushes spans not yet exported; called when the app closes. */
  shutdown(): Promise<void>;
}

/** The OTLP traces URL the standard variables name, or null when tracing is not configured. */
export function otlpTracesUrl(env: NodeJS.ProcessEnv): string | null {
  if (env['OTEL_SDK_DISABLED']?.toLowerCase() === 'true') return null;
  const exporters = (env['OTEL_TRACES_EXPORTER'] ?? 'otlp').split(',').map((s) => s.trim());
  if (!exporters.includes('otlp')) return null;
  const traces = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
  if (traces) return traces;
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : null;
}

export async function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracing | null> {
  const url = otlpTracesUrl(env);
  if (url === null) return null;
  const [api, sdk, otlp, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new sdk.NodeTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': env['OTEL_SERVICE_NAME'] ?? 'tessera' }),
    spanProcessors: [new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter({ url }), { scheduledDelayMillis: 1000 })],
  });
  const tracer = provider.getTracer('tessera');
  return {
    startSpan(name, attributes) {
      const span = tracer.startSpan(name, attributes !== undefined ? { attributes } : {});
      return {
        set: (key, value) => void span.setAttribute(key, value),
        fail(error) {
          span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
        },
        end: () => span.end(),
      };
    },
    shutdown: () => provider.shutdown(),
  };
}

/** A fetch that records one client span per outbound request (key sets, discovery). */
export function tracedFetch<F extends (url: string, init: never) => Promise<Response>>(tracing: Tracing, fetch: F): F {
  return (async (url: string, init: never) => {
    const span = tracing.startSpan('GET', { 'http.request.method': 'GET', 'url.full': url.split('?')[0] ?? url });
    try {
      const response = await fetch(url, init);
      span.set('http.response.status_code', response.status);
      return response;
    } catch (error) {
      span.fail(error);
      throw error;
    } finally {
      span.end();
    }
  }) as F;
}
