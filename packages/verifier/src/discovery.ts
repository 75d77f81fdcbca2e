/**
 * Authorization server metadata: OpenID Connect Discovery first, then RFC 8414.
 *
 * `<issuer>/.well-known/openid-configuration` is tried first; if it answers 404 the
 * RFC 8414 §3 location is used, where the well-known segment goes between the host and
 * the issuer's path (`https://as.example/.well-known/oauth-authorization-server/t/x`).
 * The document's `issuer` must equal the configured issuer exactly (RFC 8414 §3.3).
 */
import { IssuerUnavailableError } from './errors.js';
import { fetchJson, isPlainObject } from './fetch.js';
import type { FetchLike } from './fetch.js';

export interface IssuerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  [member: string]: unknown;
}

export function discoveryUrls(issuer: string): [openid: string, rfc8414: string] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  return [
    `${url.origin}${path}/.well-known/openid-configuration`,
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

export interface DiscoveryOptions {
  issuer: string;
  fetch: FetchLike;
  timeoutMs: number;
  /** After a failure, callers get the same error without a new request for this long. */
  failureBackoffMs: number;
  now: () => number;
}

/** Fetches the metadata once (one request in flight) and keeps it for the verifier's lifetime. */
export class Discovery {
  private metadata: IssuerMetadata | undefined;
  private inflight: Promise<IssuerMetadata> | undefined;
  private failure: { error: IssuerUnavailableError; until: number } | undefined;

  constructor(private readonly options: DiscoveryOptions) {}

  get(): Promise<IssuerMetadata> {
    if (this.metadata) return Promise.resolve(this.metadata);
    if (this.inflight) return this.inflight;
    if (this.failure && this.options.now() < this.failure.until) return Promise.reject(this.failure.error);
    this.inflight = this.load().then(
      (metadata) => {
        this.metadata = metadata;
        this.failure = undefined;
        this.inflight = undefined;
        return metadata;
      },
      (error: unknown) => {
        const wrapped = error instanceof IssuerUnavailableError
          ? error
          : new IssuerUnavailableError('ERR_DISCOVERY_FAILED', 'discovery failed', { cause: error });
        this.failure = { error: wrapped, until: this.options.now() + this.options.failureBackoffMs };
        this.inflight = undefined;
        throw wrapped;
      },
    );
    return this.inflight;
  }

  private async load(): Promise<IssuerMetadata> {
    const { issuer, fetch, timeoutMs } = this.options;
    const init = { headers: { accept: 'application/json' }, timeoutMs };
    const [openid, rfc8414] = discoveryUrls(issuer);
    let url = openid;
    let response = await fetchJson(fetch, url, init, 'ERR_DISCOVERY_FAILED');
    if (response.status === 404) {
      url = rfc8414;
      response = await fetchJson(fetch, url, init, 'ERR_DISCOVERY_FAILED');
    }
    if (response.status !== 200 || !isPlainObject(response.body)) {
      throw new IssuerUnavailableError('ERR_DISCOVERY_FAILED', `${url} answered ${response.status} without a metadata document`);
    }
    const metadata = response.body;
    if (metadata.issuer !== issuer) {
      throw new IssuerUnavailableError(
        'ERR_DISCOVERY_FAILED',
        `${url} describes issuer ${JSON.stringify(metadata.issuer)}, not ${JSON.stringify(issuer)} (RFC 8414 §3.3)`,
      );
    }
    for (const member of ['jwks_uri', 'introspection_endpoint'] as const) {
      if (metadata[member] !== undefined && typeof metadata[member] !== 'string') {
        throw new IssuerUnavailableError('ERR_DISCOVERY_FAILED', `${url}: "${member}" is not a string`);
      }
    }
    return metadata as IssuerMetadata;
  }
}
