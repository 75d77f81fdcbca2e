/**
 * RFC 7662 token introspection for opaque tokens, authenticated with client_secret_basic.
 *
 * `active: false` (or anything other than `true`) is ERR_TOKEN_INACTIVE. The caller
 * (verify.ts) then applies the same claim checks as for a JWT to the answer.
 */
import { InvalidTokenError, IssuerUnavailableError } from './errors.js';
import { fetchJson, isPlainObject } from './fetch.js';
import type { FetchLike } from './fetch.js';

export interface IntrospectorOptions {
  clientId: string;
  clientSecret: string;
  resolveEndpoint: () => Promise<string>;
  fetch: FetchLike;
  timeoutMs: number;
}

/** RFC 6749 §2.3.1: client id and secret are form-urlencoded before they are base64-encoded. */
function basicCredentials(clientId: string, clientSecret: string): string {
  const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
  return Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64');
}

export class Introspector {
  private readonly authorization: string;
  /** Concurrent introspections of one token share one request. */
  private readonly inflight = new Map<string, Promise<Record<string, unknown>>>();

  constructor(private readonly options: IntrospectorOptions) {
    this.authorization = `Basic ${basicCredentials(options.clientId, options.clientSecret)}`;
  }

  introspect(token: string): Promise<Record<string, unknown>> {
    const running = this.inflight.get(token);
    if (running) return running;
    const request = this.request(token).finally(() => this.inflight.delete(token));
    this.inflight.set(token, request);
    return request;
  }

  private async request(token: string): Promise<Record<string, unknown>> {
    const endpoint = await this.options.resolveEndpoint();
    const response = await fetchJson(
      this.options.fetch,
      endpoint,
      {
        method: 'POST',
        headers: {
          authorization: this.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        timeoutMs: this.options.timeoutMs,
      },
      'ERR_INTROSPECTION_FAILED',
    );
    if (response.status !== 200 || !isPlainObject(response.body)) {
      throw new IssuerUnavailableError(
        'ERR_INTROSPECTION_FAILED',
        `the introspection endpoint answered ${response.status}${response.status === 401 ? ' (check clientId and clientSecret)' : ''}`,
      );
    }
    if (response.body.active !== true) {
      throw new InvalidTokenError('ERR_TOKEN_INACTIVE', 'the introspection endpoint says the token is not active', { claim: 'active' });
    }
    return response.body;
  }
}
