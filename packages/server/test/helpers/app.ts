/**
 * An in-process Tessera for HTTP tests: the app is built and bootstrapped but never
 * listens; requests go through `app.inject`. The clock is frozen unless a test moves it.
 *
 *   const t = await createTestServer();
 *   const api = await t.manage('POST', '/tenants/default/apis', { identifier: 'https://orders', scopes: [...] });
 *   const res = await t.token('default', { grant_type: 'client_credentials' }, basic(id, secret));
 *   await t.close();
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { type ConfigInput, resolveConfig } from '../../src/config/config.js';
import { MasterKey } from '../../src/crypto/master-key.js';
import { createStore } from '../../src/store/index.js';
import type { StateStore } from '../../src/store/state/types.js';
import type { Store } from '../../src/store/types.js';
import { makeTempDir } from './temp-dir.js';

export const TEST_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
export const PUBLIC_URL = 'http://tessera.test';

export interface TestServer {
  app: FastifyInstance;
  store: Store;
  /** The data directory (the embedded store's file lives here). */
  dataDir: string;
  /** The frozen clock (epoch ms); advance with `clock.advance(ms)`. */
  clock: { now: number; advance(ms: number): void };
  admin: { clientId: string; clientSecret: string };
  console: { user: string; password: string };
  /** A management token with manage:read and manage:write. */
  adminToken(scope?: string): Promise<string>;
  /** Calls the management API as the bootstrap admin; returns status and parsed JSON. */
  manage<T = any>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** POSTs a form to a tenant's endpoint (`token`, `introspect`, `revoke`). */
  post(tenant: string, endpoint: string, form: Record<string, string | string[]>, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  /** A client with a secret, an API, and a grant, in one call. */
  /**
   * A second replica: another app with its own caches and its own store connection
   * on the same database (the same data directory, or the same PostgreSQL URL) and
   * clock. Closed by close().
   */
  replica(): Promise<FastifyInstance>;
  setupClient(tenant: string, options?: { apiIdentifier?: string; scopes?: string[]; granted?: string[]; tokenFormat?: 'jwt' | 'opaque'; client?: Record<string, unknown> }): Promise<{ clientId: string; clientSecret: string; apiId: string; identifier: string }>;
  close(): Promise<void>;
}

export function basic(clientId: string, secret: string): Record<string, string> {
  const encode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return { authorization: `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}` };
}

export function form(values: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, v);
  }
  return params.toString();
}

let counter = 0;

export async function createTestServer(options: { config?: ConfigInput; databaseUrl?: string; state?: StateStore; startAt?: number; logStream?: NodeJS.WritableStream } = {}): Promise<TestServer> {
  const dir = await makeTempDir();
  const clock = {
    now: options.startAt ?? Date.UTC(2026, 10, 22, 12, 0, 0),
    advance(ms: number) {
      this.now += ms;
    },
  };
  const config = resolveConfig({ dataDir: dir.path, publicUrl: PUBLIC_URL, logLevel: 'silent', ...options.config });
  const store = await createStore({ dataDir: dir.path, ...(options.databaseUrl !== undefined ? { databaseUrl: options.databaseUrl } : {}) });
  const app = await buildApp({ config, store, ...(options.state !== undefined ? { state: options.state } : {}), masterKey: MasterKey.fromBase64(TEST_MASTER_KEY), now: () => clock.now, ...(options.logStream ? { logStream: options.logStream } : {}) });
  const boot = await app.tessera.bootstrap();
  if (boot === null) throw new Error('test store was already bootstrapped');
  const admin = { clientId: boot.adminClientId, clientSecret: boot.adminClientSecret };
  const consoleUser = { user: boot.consoleUser, password: boot.consolePassword };

  const post: TestServer['post'] = (tenant, endpoint, values, headers = {}) =>
    app.inject({
      method: 'POST',
      url: `/t/${tenant}/${endpoint}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: form(values),
    });

  const replicas: { app: FastifyInstance; store: Store }[] = [];
  const replica = async () => {
    const replicaStore = await createStore({ dataDir: dir.path, ...(options.databaseUrl !== undefined ? { databaseUrl: options.databaseUrl } : {}) });
    const replicaApp = await buildApp({ config, store: replicaStore, masterKey: MasterKey.fromBase64(TEST_MASTER_KEY), now: () => clock.now });
    replicas.push({ app: replicaApp, store: replicaStore });
    return replicaApp;
  };

  const tokens = new Map<string, { token: string; expiresAt: number }>();
  const adminToken = async (scope = 'manage:read manage:write') => {
    const cached = tokens.get(scope);
    if (cached !== undefined && cached.expiresAt > clock.now) return cached.token;
    const response = await post('admin', 'token', { grant_type: 'client_credentials', audience: 'urn:tessera:management', scope }, basic(admin.clientId, admin.clientSecret));
    if (response.statusCode !== 200) throw new Error(`admin token: ${response.statusCode} ${response.body}`);
    const { access_token: token, expires_in: expiresIn } = response.json() as { access_token: string; expires_in: number };
    tokens.set(scope, { token, expiresAt: clock.now + expiresIn * 1000 - 1000 });
    return token;
  };

  const manage: TestServer['manage'] = async (method, path, body) => {
    const response = await app.inject({
      method,
      url: `/manage/v1${path}`,
      headers: { authorization: `Bearer ${await adminToken()}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: response.statusCode, body: (response.body === "" ? undefined : response.json()) as never };
  };

  return {
    app,
    store,
    dataDir: dir.path,
    clock,
    admin,
    console: consoleUser,
    adminToken,
    manage,
    post,
    replica,
    async setupClient(tenant, setup = {}) {
      counter += 1;
      const identifier = setup.apiIdentifier ?? `https://api-${counter}.example`;
      const scopes = setup.scopes ?? ['read', 'write'];
      let api = await manage('GET', `/tenants/${tenant}/apis?limit=200`);
      let apiId = (api.body.items as { id: string; identifier: string }[]).find((a) => a.identifier === identifier)?.id;
      if (apiId === undefined) {
        api = await manage('POST', `/tenants/${tenant}/apis`, { identifier, scopes: scopes.map((value) => ({ value })), ...(setup.tokenFormat ? { tokenFormat: setup.tokenFormat } : {}) });
        if (api.status !== 201) throw new Error(`create api: ${api.status} ${JSON.stringify(api.body)}`);
        apiId = api.body.id as string;
      }
      const client = await manage('POST', `/tenants/${tenant}/clients`, { name: `client ${counter}`, ...setup.client });
      if (client.status !== 201) throw new Error(`create client: ${client.status} ${JSON.stringify(client.body)}`);
      const grant = await manage('POST', `/tenants/${tenant}/grants`, { clientId: client.body.clientId, audience: identifier, scopes: setup.granted ?? scopes });
      if (grant.status !== 201) throw new Error(`create grant: ${grant.status} ${JSON.stringify(grant.body)}`);
      return { clientId: client.body.clientId, clientSecret: client.body.clientSecret, apiId, identifier };
    },
    async close() {
      for (const r of replicas) {
        await r.app.close();
        await r.store.close();
      }
      await app.close();
      await store.close();
      await dir.cleanup();
    },
  };
}
