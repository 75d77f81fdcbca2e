/**
 * The server's one way out to the network: a FetchLike (the JOSE core's network
 * interface) over node:http/https that applies the outbound policy (outbound/policy.ts)
 * to the URL, then resolves the name itself, checks every address, and connects to a
 * checked address: a DNS answer that changes between check and connect (rebinding)
 * cannot reach a refused destination. Redirects are never followed. Time and size
 * bounds come from the JOSE core's fetchJson, which reads the body as it streams.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import type { FetchLike } from '@tessera/verifier/core';
import type { OutboundPolicy } from './policy.js';

type Lookup = typeof dnsLookup;

export interface OutboundFetchOptions {
  /** Name resolution; injectable so tests can play a rebinding DNS server. */
  lookup?: (hostname: string, callback: (error: Error | null, addresses: LookupAddress[]) => void) => void;
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

export function createOutboundFetch(policy: OutboundPolicy, options: OutboundFetchOptions = {}): FetchLike {
  const resolveAll = options.lookup ?? ((hostname, callback) => dnsLookup(hostname, { all: true }, callback));

  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      let url: URL;
      try {
        url = policy.checkUrl(input);
      } catch (error) {
        reject(error);
        return;
      }
      const hostname = url.hostname.replace(/^\[|\]$/g, '');
      // Node calls this for names (never for IP literals, which checkUrl has judged).
      const guardedLookup = ((host: string, lookupOptions: LookupOptions, callback: (...args: unknown[]) => void) => {
        resolveAll(host, (error, addresses) => {
          if (error) return callback(error);
          const family = lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : 0;
          const usable = addresses.filter((a) => family === 0 || a.family === family);
          if (usable.length === 0) return callback(Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' }));
          try {
            // Every answer must pass, not just the first: the connection may use any of them.
            for (const { address } of usable) policy.checkAddress(hostname, address);
          } catch (refused) {
            return callback(refused);
          }
          if (lookupOptions.all) return callback(null, usable);
          const first = usable[0] as LookupAddress;
          return callback(null, first.address, first.family);
        });
      }) as unknown as Lookup;

      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, name) => {
        headers[name] = value;
      });
      const transport = url.protocol === 'https:' ? https : http;
      const request = transport.request(
        url,
        { method: init.method ?? 'GET', headers, lookup: guardedLookup, ...(init.signal ? { signal: init.signal } : {}) },
        (response: http.IncomingMessage) => {
          const status = response.statusCode ?? 0;
          if (status >= 300 && status < 400 && init.redirect !== 'manual') {
            response.destroy();
            reject(new Error(`${url.origin} answered with a redirect (${status}), which is not followed`));
            return;
          }
          if (status < 200 || status > 599) {
            response.destroy();
            reject(new Error(`${url.origin} answered with status ${status}`));
            return;
          }
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
          }
          let body: ReadableStream<Uint8Array> | null = null;
          if (NULL_BODY_STATUSES.has(status)) response.resume();
          else body = Readable.toWeb(response) as unknown as ReadableStream<Uint8Array>;
          resolve(new Response(body, { status, headers: responseHeaders }));
        },
      );
      request.on('error', reject);
      if (typeof init.body === 'string') request.end(init.body);
      else request.end();
    });
}
