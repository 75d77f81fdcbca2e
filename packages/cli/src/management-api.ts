/**
 * The management API as the CLI sees it: admin credentials from `admin.json`, a token
 * from the admin tenant (client_secret_basic, via @tessera/client), then JSON requests
 * under `<url>/manage/v1` with `Authorization: Bearer`.
 */
import { readFile } from 'node:fs/promises';
import type { TokenClient } from '@tessera/client';
import { UsageError, type Flags } from './args.js';
import type { Io } from './io.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';
export const DEFAULT_ADMIN_FILE = './.tessera/admin.json';
export const MANAGEMENT_AUDIENCE = 'urn:tessera:management';
export const MANAGEMENT_SCOPE = 'manage:read manage:write';

/** What `tessera serve` writes to `<data-dir>/admin.json` on first start (SPEC §1). */
export interface AdminCredentials {
  url?: string;
  issuer?: string;
  tokenEndpoint?: string;
  clientId: string;
  clientSecret: string;
  audience?: string;
  managementApi?: string;
}

/** The management API answered with an error: `{error, message}` and the HTTP status. */
export class ApiError extends Error {
  readonly status: number;
  readonly error: string;

  constructor(status: number, error: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.error = error;
  }
}

/** Anything else that stops a command after its arguments were accepted (exit 1). */
export class CliError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

export function adminFilePath(flags: Flags, io: Io): string {
  return flags.string('admin') ?? nonEmpty(io.env['TESSERA_ADMIN']) ?? DEFAULT_ADMIN_FILE;
}

/**
 * The admin file's credentials. A file written by a first start that took the admin
 * secret from TESSERA_BOOTSTRAP_ADMIN_SECRET has no clientSecret: the same variable,
 * set where the CLI runs (say, in the server's pod), supplies it.
 */
export async function loadAdminCredentials(path: string, env: NodeJS.ProcessEnv = {}): Promise<AdminCredentials> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    const firstStart = reason === 'no such file' ? '. The first start of the server writes it into its data directory (npm start, or npx tessera serve): start it, or' : ';';
    throw new CliError(`cannot read the admin credentials ${path} (${reason})${firstStart} pass --admin <data-dir>/admin.json or set TESSERA_ADMIN`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not JSON`);
  }
  const record = parsed as Partial<AdminCredentials> | null;
  const bootstrapSecret = nonEmpty(env['TESSERA_BOOTSTRAP_ADMIN_SECRET']);
  if (typeof record?.clientId === 'string' && typeof record.clientSecret !== 'string' && bootstrapSecret !== undefined) {
    return { ...record, clientSecret: bootstrapSecret } as AdminCredentials;
  }
  if (typeof record?.clientId !== 'string' || typeof record.clientSecret !== 'string') {
    const hint = typeof record?.clientId === 'string' ? ' (its secret came from TESSERA_BOOTSTRAP_ADMIN_SECRET at the first start: set that variable here too)' : '';
    throw new CliError(`${path} has no clientId and clientSecret${hint}`);
  }
  return record as AdminCredentials;
}

/**
 * The server's base URL: `--url`, else TESSERA_URL, else the `url` of the admin
 * credentials when they can be read, else http://127.0.0.1:8080.
 */
export async function resolveServerUrl(flags: Flags, io: Io, admin?: AdminCredentials): Promise<string> {
  return (await resolveServer(flags, io, admin)).url;
}

/** Where the URL came from, for messages that must say how to change it. */
export type UrlSource = '--url' | 'TESSERA_URL' | 'admin file' | 'default';

export async function resolveServer(flags: Flags, io: Io, admin?: AdminCredentials): Promise<{ url: string; source: UrlSource }> {
  let url = flags.string('url');
  let source: UrlSource = '--url';
  if (url === undefined && nonEmpty(io.env['TESSERA_URL']) !== undefined) {
    url = io.env['TESSERA_URL'] as string;
    source = 'TESSERA_URL';
  }
  if (url === undefined) {
    const credentials = admin ?? (await loadAdminCredentials(adminFilePath(flags, io), io.env).catch(() => undefined));
    url = credentials?.url ?? DEFAULT_URL;
    source = credentials?.url !== undefined ? 'admin file' : 'default';
  }
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw new UsageError(`--url must be an http(s) URL, got ${JSON.stringify(url)}`, flags.usage);
  }
  return { url: url.replace(/\/+$/, ''), source };
}

/**
 * A connection failure said with what to do: nothing listening (start it, or --url), a
 * server that is not Tessera (name the URL), credentials the server does not know (name
 * the URL and the admin file: usually an admin file from another start or data directory).
 */
export function explainConnectionError(error: unknown, target: { url: string; source?: UrlSource; adminFile?: string; admin?: AdminCredentials }): unknown {
  const fields = (error ?? {}) as { code?: unknown; error?: unknown; status?: unknown };
  const { url } = target;
  const from = target.source === 'admin file' ? ` (this URL is the one in ${target.adminFile ?? 'the admin file'})`
    : target.source === 'default' ? ' (the default URL)'
    : target.source === 'TESSERA_URL' ? ' (from TESSERA_URL)'
    : '';
  if (fields.code === 'ERR_NETWORK' || fields.code === 'ERR_TIMEOUT' || error instanceof TypeError) {
    return new CliError(`no Tessera server answers at ${url}${from}: ${describeCause(error)}. Start it (npm start, or npx tessera serve), or pass the URL of the running one with --url or TESSERA_URL`, { cause: error });
  }
  if (fields.code === 'ERR_OAUTH_ERROR' && fields.error === 'invalid_client') {
    const file = target.adminFile ?? 'the admin file';
    const written = target.admin?.url !== undefined && target.admin.url.replace(/\/+$/, '') !== url ? ` ${file} was written by the server at ${target.admin.url}.` : '';
    return new CliError(
      `the server at ${url} does not accept the admin credentials in ${file} (invalid_client).${written} ` +
        'Each data directory has its own credentials: pass --admin <data-dir>/admin.json of the server you are talking to, ' +
        `or --url of the server that wrote ${file} (a stale URL, e.g. a server restarted on another port, is the usual cause)`,
      { cause: error },
    );
  }
  if (fields.code === 'ERR_HTTP_STATUS' || fields.code === 'ERR_RESPONSE_FORMAT' || (fields.code === 'ERR_OAUTH_ERROR' && fields.status === 404)) {
    const status = typeof fields.status === 'number' ? ` (HTTP ${fields.status})` : '';
    return new CliError(`${url}${from} does not look like a Tessera server: its token endpoint ${url}/t/admin/token did not answer as one${status}. Check --url or TESSERA_URL`, { cause: error });
  }
  return error;
}

export interface ManagementApi {
  readonly url: string;
  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  delete(path: string): Promise<void>;
  /** Every item of a paged list, following `nextCursor`. */
  listAll<T>(path: string, query?: Record<string, string | number | undefined>): Promise<{ items: T[]; nextCursor: null }>;
  close(): Promise<void>;
}

/** Connects with the flags of a management command: `--url`, `--admin`. */
export async function connect(flags: Flags, io: Io, fetchImpl: typeof fetch = fetch): Promise<ManagementApi> {
  const adminFile = adminFilePath(flags, io);
  const admin = await loadAdminCredentials(adminFile, io.env);
  const { url, source } = await resolveServer(flags, io, admin);
  return createManagementApi({ url, source, admin, adminFile, fetch: fetchImpl });
}

export async function createManagementApi(options: { url: string; source?: UrlSource; admin: AdminCredentials; adminFile?: string; fetch?: typeof fetch }): Promise<ManagementApi> {
  const { url, admin } = options;
  // Loaded on use, so that --help and usage errors answer at once.
  const { clientSecretBasic, createTokenClient } = await import('@tessera/client');
  const fetchImpl = options.fetch ?? fetch;
  const base = `${url}/manage/v1`;
  // The admin tenant of the server we talk to, not necessarily the one admin.json was written
  // by: replicas behind different URLs share the store, so the same credentials work on each.
  const tokens: TokenClient = createTokenClient({
    issuer: `${url}/t/admin`,
    tokenEndpoint: `${url}/t/admin/token`,
    clientId: admin.clientId,
    auth: clientSecretBasic(admin.clientSecret),
    retry: { maxAttempts: 2, totalTimeoutMs: 15_000 },
  });

  async function request<T>(method: string, path: string, body?: unknown, query?: Record<string, string | number | undefined>): Promise<T> {
    const accessToken = await tokens
      .getAccessToken({ audience: admin.audience ?? MANAGEMENT_AUDIENCE, scope: MANAGEMENT_SCOPE })
      .catch((error: unknown) => Promise.reject(explainConnectionError(error, options)));
    const target = new URL(`${base}${path}`);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) target.searchParams.set(key, String(value));
    let response: Response;
    try {
      response = await fetchImpl(target, {
        method,
        headers: {
          authorization: `Bearer ${accessToken}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw explainConnectionError(error, options);
    }
    const text = await response.text();
    if (!response.ok) {
      // A server that issued our token but has no management API is not Tessera either.
      if (response.status === 404 && !text.trimStart().startsWith('{')) throw explainConnectionError(Object.assign(new Error('not found'), { code: 'ERR_HTTP_STATUS', status: 404 }), options);
      throw apiError(response.status, text);
    }
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${method} ${target.pathname} answered ${response.status} with a body that is not JSON`);
    }
  }

  return {
    url,
    get: (path, query) => request('GET', path, undefined, query),
    post: (path, body) => request('POST', path, body ?? {}),
    patch: (path, body) => request('PATCH', path, body),
    delete: async (path) => {
      await request('DELETE', path);
    },
    async listAll<T>(path: string, query: Record<string, string | number | undefined> = {}) {
      const items: T[] = [];
      let cursor: string | null = null;
      do {
        const page: { items: T[]; nextCursor: string | null } = await request('GET', path, undefined, {
          ...query,
          limit: 200,
          ...(cursor !== null ? { cursor } : {}),
        });
        items.push(...page.items);
        cursor = page.nextCursor ?? null;
      } while (cursor !== null);
      return { items, nextCursor: null };
    },
    close: () => tokens.close(),
  };
}

function apiError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown; error_description?: unknown };
    if (typeof body.error === 'string') {
      const message = typeof body.message === 'string' ? body.message : typeof body.error_description === 'string' ? body.error_description : '';
      return new ApiError(status, body.error, message);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(status, `http_${status}`, text.slice(0, 200) || `the server answered ${status}`);
}

export function describeCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  if (cause?.code !== undefined) return cause.code;
  return error instanceof Error ? error.message : String(error);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
