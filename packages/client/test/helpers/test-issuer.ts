/**
 * A small standards-following authorization server for the tests: discovery (both
 * locations), a token endpoint that really checks every client authentication method,
 * counts what it sees, and can be scripted to fail.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';

export type TestClient =
  | { clientId: string; method: 'client_secret_basic' | 'client_secret_post'; secret: string }
  | { clientId: string; method: 'private_key_jwt'; publicKey: KeyObject }
  | { clientId: string; method: 'tls_client_auth'; subjectCN: string };

/** What one scripted answer does instead of issuing a token. */
export type ScriptedResponse =
  | { status: number; body?: string | Record<string, unknown>; headers?: Record<string, string> }
  | { hang: true };

export interface RecordedTokenRequest {
  params: URLSearchParams;
  authorization: string | undefined;
  /** Which client authenticated (undefined when auth failed or a script answered). */
  clientId: string | undefined;
  /** CN of the TLS client certificate, when one was presented. */
  peerCertificateCN: string | undefined;
  /** Which listener got the request. */
  via: 'http' | 'https';
  /** Decoded private_key_jwt assertion claims, when verified. */
  assertionClaims?: Record<string, unknown>;
}

export interface TestIssuerOptions {
  clients: TestClient[];
  /** `expires_in` of issued tokens. Default 3600. */
  expiresIn?: number;
  /** Which discovery locations answer. Default both. */
  discovery?: 'both' | 'oidc' | 'oauth';
  /** Replace members of the metadata document (e.g. a wrong `issuer`). */
  metadata?: Record<string, unknown>;
  /** Also listen with TLS and require client certificates (RFC 8705). */
  mtls?: { key: string; cert: string; ca: string };
  /** Extra members of every successful token response. */
  tokenResponse?: Record<string, unknown>;
}

export interface TestIssuer {
  issuer: string;
  tokenEndpoint: string;
  mtlsTokenEndpoint: string | undefined;
  tokenRequests: RecordedTokenRequest[];
  discoveryRequests: string[];
  /** Answers for the next token requests, in order; afterwards tokens are issued again. */
  script(...responses: ScriptedResponse[]): void;
  close(): Promise<void>;
}

const TENANT_PATH = '/t/default';

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

export async function startTestIssuer(options: TestIssuerOptions): Promise<TestIssuer> {
  const clients = new Map(options.clients.map((c) => [c.clientId, c]));
  const tokenRequests: RecordedTokenRequest[] = [];
  const discoveryRequests: string[] = [];
  const scripted: ScriptedResponse[] = [];
  const seenJti = new Set<string>();
  let issued = 0;
  let issuer = '';
  let tokenEndpoint = '';
  let mtlsTokenEndpoint: string | undefined;

  function metadata(): Record<string, unknown> {
    return {
      issuer,
      token_endpoint: tokenEndpoint,
      jwks_uri: `${issuer}/jwks.json`,
      grant_types_supported: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth'],
      ...(mtlsTokenEndpoint ? { mtls_endpoint_aliases: { token_endpoint: mtlsTokenEndpoint } } : {}),
      ...options.metadata,
    };
  }

  /** Returns the authenticated client id, or an error message. */
  async function authenticate(
    req: IncomingMessage,
    params: URLSearchParams,
    record: RecordedTokenRequest,
  ): Promise<string | { error: string }> {
    const header = req.headers.authorization;
    if (header?.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const id = formDecode(decoded.slice(0, colon));
      const secret = formDecode(decoded.slice(colon + 1));
      const client = clients.get(id);
      if (client?.method !== 'client_secret_basic' || client.secret !== secret) return { error: 'bad basic credentials' };
      if (params.has('client_secret')) return { error: 'two authentication methods' };
      return id;
    }
    const id = params.get('client_id') ?? '';
    const client = clients.get(id);
    if (!client) return { error: 'unknown client' };
    switch (client.method) {
      case 'client_secret_post':
        return params.get('client_secret') === client.secret ? id : { error: 'bad secret' };
      case 'private_key_jwt': {
        if (params.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
          return { error: 'bad client_assertion_type' };
        }
        try {
          const { payload } = await jwtVerify(params.get('client_assertion') ?? '', client.publicKey, {
            issuer: id,
            subject: id,
            audience: [issuer, tokenEndpoint],
            requiredClaims: ['exp', 'iat', 'jti'],
          });
          if ((payload.exp ?? 0) - (payload.iat ?? 0) > 300) return { error: 'assertion lives too long' };
          if (seenJti.has(payload.jti ?? '')) return { error: 'jti replayed' };
          seenJti.add(payload.jti ?? '');
          record.assertionClaims = payload as Record<string, unknown>;
          return id;
        } catch (error) {
          return { error: `assertion rejected: ${(error as Error).message}` };
        }
      }
      case 'tls_client_auth': {
        const socket = req.socket as TLSSocket;
        if (typeof socket.getPeerCertificate !== 'function' || !socket.authorized) return { error: 'no client certificate' };
        return socket.getPeerCertificate().subject?.CN === client.subjectCN ? id : { error: 'certificate subject mismatch' };
      }
      default:
        return { error: 'unsupported method' };
    }
  }

  async function handleToken(req: IncomingMessage, res: ServerResponse, via: 'http' | 'https'): Promise<void> {
    const params = new URLSearchParams(await readBody(req));
    const socket = req.socket as TLSSocket;
    const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
    const record: RecordedTokenRequest = {
      params,
      authorization: req.headers.authorization,
      clientId: undefined,
      peerCertificateCN: [peer?.subject?.CN].flat()[0],
      via,
    };
    tokenRequests.push(record);

    const next = scripted.shift();
    if (next) {
      if ('hang' in next) return; // never answer; close() destroys the socket
      const body = typeof next.body === 'string' ? next.body : JSON.stringify(next.body ?? {});
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(body);
      return;
    }

    const authenticated = await authenticate(req, params, record);
    if (typeof authenticated !== 'string') {
      sendJson(res, 401, { error: 'invalid_client', error_description: authenticated.error });
      return;
    }
    record.clientId = authenticated;
    issued++;
    const grantType = params.get('grant_type');
    const base = { token_type: 'Bearer', expires_in: options.expiresIn ?? 3600, ...options.tokenResponse };
    if (grantType === 'client_credentials') {
      sendJson(res, 200, {
        access_token: `at-${issued}`,
        ...base,
        ...(params.has('scope') ? { scope: params.get('scope') } : {}),
      });
    } else if (grantType === 'urn:ietf:params:oauth:grant-type:token-exchange') {
      if (!params.get('subject_token') || !params.get('subject_token_type')) {
        sendJson(res, 400, { error: 'invalid_request', error_description: 'subject_token required' });
        return;
      }
      sendJson(res, 200, {
        access_token: `exchanged-${issued}`,
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        ...base,
      });
    } else {
      sendJson(res, 400, { error: 'unsupported_grant_type' });
    }
  }

  function handler(via: 'http' | 'https') {
    return (req: IncomingMessage, res: ServerResponse): void => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const discovery = options.discovery ?? 'both';
      if (req.method === 'GET' && path === `${TENANT_PATH}/.well-known/openid-configuration` && discovery !== 'oauth') {
        discoveryRequests.push(path);
        sendJson(res, 200, metadata());
      } else if (req.method === 'GET' && path === `/.well-known/oauth-authorization-server${TENANT_PATH}` && discovery !== 'oidc') {
        discoveryRequests.push(path);
        sendJson(res, 200, metadata());
      } else if (req.method === 'POST' && path === `${TENANT_PATH}/token`) {
        handleToken(req, res, via).catch((error: unknown) => sendJson(res, 500, { error: String(error) }));
      } else {
        if (req.method === 'GET') discoveryRequests.push(path);
        sendJson(res, 404, { error: 'not_found' });
      }
    };
  }

  const servers: Server[] = [];
  const http = createHttpServer(handler('http'));
  servers.push(http);
  const port = await listen(http);
  issuer = `http://127.0.0.1:${port}${TENANT_PATH}`;
  tokenEndpoint = `${issuer}/token`;
  if (options.mtls) {
    const https = createHttpsServer(
      { ...options.mtls, requestCert: true, rejectUnauthorized: false },
      handler('https'),
    );
    servers.push(https);
    const tlsPort = await listen(https);
    mtlsTokenEndpoint = `https://127.0.0.1:${tlsPort}${TENANT_PATH}/token`;
  }

  return {
    issuer,
    tokenEndpoint,
    mtlsTokenEndpoint,
    tokenRequests,
    discoveryRequests,
    script: (...responses) => void scripted.push(...responses),
    close: async () => {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    },
  };
}

/** A clock the test moves by hand; `sleep` advances it instead of waiting. */
export function fakeTime(start = Date.UTC(2025, 0, 1)) {
  let now = start;
  const sleeps: number[] = [];
  return {
    clock: { now: () => now },
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
    sleeps,
  };
}
