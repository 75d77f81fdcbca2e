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

export async function loadAdminCredentials(path: string): Promise<AdminCredentials> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new CliError(`cannot read the admin credentials ${path} (${reason}); pass --admin <file> or set TESSERA_ADMIN`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not JSON`);
  }
  const record = parsed as Partial<AdminCredentials> | null;
  if (typeof record?.clientId !== 'string' || typeof record.clientSecret !== 'string') {
    throw new CliError(`${path} has no clientId and clientSecret`);
  }
  return record as AdminCredentials;
}

/**
 * The server's base URL: `--url`, else TESSERA_URL, else the `url` of the admin
 * credentials when they can be read, else http://127.0.0.1:8080.
 */
export async function resolveServerUrl(flags: Flags, io: Io, admin?: AdminCredentials): Promise<string> {
  let url = flags.string('url') ?? nonEmpty(io.env['TESSERA_URL']);
  if (url === undefined) {
    const credentials = admin ?? (await loadAdminCredentials(adminFilePath(flags, io)).catch(() => undefined));
    url = credentials?.url ?? DEFAULT_URL;
  }
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw new UsageError(`--url must be an http(s) URL, got ${JSON.stringify(url)}`, flags.usage);
  }
  return url.replace(/\/+$/, '');
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
  const admin = await loadAdminCredentials(adminFilePath(flags, io));
  const url = await resolveServerUrl(flags, io, admin);
  return createManagementApi({ url, admin, fetch: fetchImpl });
}

export async function createManagementApi(options: { url: string; admin: AdminCredentials; fetch?: typeof fetch }): Promise<ManagementApi> {
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
    const accessToken = await tokens.getAccessToken({ audience: admin.audience ?? MANAGEMENT_AUDIENCE, scope: MANAGEMENT_SCOPE });
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
      throw new CliError(`cannot reach ${base}: ${describeCause(error)}`, { cause: error });
    }
    const text = await response.text();
    if (!response.ok) throw apiError(response.status, text);
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
