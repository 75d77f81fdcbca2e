/**
 * What request logs may show. Credentials travel in headers and bodies, which are
 * never logged; but a client may still put one in a query string
 * (`/token?client_secret=...`, `?access_token=...`), and the URL is logged at debug
 * level. Values of parameters that name a credential are replaced.
 */
import type { FastifyRequest } from 'fastify';

const SENSITIVE_PARAMETER = /secret|token|assertion|password|passwd|pwd|code|key|credential|session|auth|signature|sig$/i;

/** The URL with the values of credential-like query parameters replaced by `[redacted]`. */
export function redactQuery(url: string): string {
  const start = url.indexOf('?');
  if (start === -1) return url;
  const redacted = url
    .slice(start + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const rawName = equals === -1 ? pair : pair.slice(0, equals);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        // A malformed escape: judge the raw name.
      }
      return equals !== -1 && SENSITIVE_PARAMETER.test(name) ? `${rawName}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, start)}?${redacted}`;
}

/** pino serializer for `req`: Fastify's default fields, with the query redacted. */
export function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactQuery(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
