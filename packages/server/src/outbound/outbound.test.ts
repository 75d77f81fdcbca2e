import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchJson } from '@tessera/verifier/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutboundFetch } from './fetch.js';
import { isPublicAddress, normalizeAddress, OutboundPolicy, OutboundUrlRefused } from './policy.js';

describe('OutboundPolicy.checkUrl (no allow-list)', () => {
  const policy = new OutboundPolicy();
  it.each([
    'https://169.254.169.254/latest/meta-data',
    'https://10.0.0.1/jwks',
    'https://172.16.5.4/jwks',
    'https://192.168.1.1/jwks',
    'https://127.0.0.1:5432/',
    'https://2130706433/',
    'https://0x7f.1/',
    'https://0177.0.0.1/',
    'https://[::1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:a9fe:a9fe]/',
    'https://[fe80::1]/',
    'https://[fd00::1]/',
    'https://localhost/jwks',
    'https://api.localhost/jwks',
    'https://0.0.0.0/',
  ])('refuses %s and names the option that would allow it', (url) => {
    expect(() => policy.checkUrl(url)).toThrow(OutboundUrlRefused);
    expect(() => policy.checkUrl(url)).toThrow(/--outbound-allow/);
  });

  it('refuses http, credentials in the URL, and other schemes', () => {
    expect(() => policy.checkUrl('http://keys.example.com/jwks')).toThrow(/only https/);
    expect(() => policy.checkUrl('https://user:pw@keys.example.com/jwks')).toThrow(/credentials/);
    expect(() => policy.checkUrl('https://user:pw@127.0.0.1:5432/')).toThrow(/credentials/);
    expect(() => policy.checkUrl('file:///etc/passwd')).toThrow(OutboundUrlRefused);
    expect(() => policy.checkUrl('not a url')).toThrow(OutboundUrlRefused);
  });

  it('accepts https to public hosts and addresses', () => {
    expect(policy.checkUrl('https://keys.example.com/jwks').hostname).toBe('keys.example.com');
    expect(policy.checkUrl('https://8.8.8.8/jwks').hostname).toBe('8.8.8.8');
  });
});

describe('OutboundPolicy with --outbound-allow', () => {
  it('a listed host or CIDR range is allowed, also over http; nothing else is', () => {
    const policy = OutboundPolicy.fromList('127.0.0.1, 10.0.0.0/8,jwks.internal');
    expect(policy.checkUrl('http://127.0.0.1:8080/jwks').port).toBe('8080');
    expect(policy.checkUrl('http://2130706433/').hostname).toBe('127.0.0.1');
    expect(policy.checkUrl('https://10.1.2.3/jwks').hostname).toBe('10.1.2.3');
    expect(policy.checkUrl('http://jwks.internal/jwks').hostname).toBe('jwks.internal');
    expect(() => policy.checkUrl('https://127.0.0.2/')).toThrow(OutboundUrlRefused);
    expect(() => policy.checkUrl('https://192.168.0.1/')).toThrow(OutboundUrlRefused);
    expect(() => policy.checkUrl('http://keys.example.com/')).toThrow(/only https/);
    expect(() => policy.checkAddress('evil.example', '10.9.9.9')).not.toThrow();
    expect(() => policy.checkAddress('evil.example', '127.0.0.1')).not.toThrow();
    expect(() => policy.checkAddress('evil.example', '169.254.169.254')).toThrow(/evil\.example \(169\.254\.169\.254\)/);
  });

  it('refuses a malformed entry', () => {
    expect(() => OutboundPolicy.fromList('10.0.0.0/33')).toThrow(/prefix/);
    expect(() => OutboundPolicy.fromList('host.example/8')).toThrow(/CIDR/);
  });
});

describe('address classification', () => {
  it('IPv4-mapped and IPv4-compatible IPv6 addresses are checked as IPv4', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toEqual({ address: '127.0.0.1', family: 'ipv4' });
    expect(normalizeAddress('::ffff:7f00:1')).toEqual({ address: '127.0.0.1', family: 'ipv4' });
    expect(normalizeAddress('0:0:0:0:0:ffff:a9fe:a9fe')).toEqual({ address: '169.254.169.254', family: 'ipv4' });
    expect(isPublicAddress('::ffff:8.8.8.8')).toBe(true);
    expect(isPublicAddress('2606:4700::1111')).toBe(true);
    expect(isPublicAddress('64:ff9b::a00:1')).toBe(false);
  });

  it('RFC 6890 ::ffff:0:0/96 and the IPv4-translated ::ffff:0:0:0/96 are refused ranges (they reach private IPv4 addresses)', () => {
    expect(isPublicAddress('::ffff:0:7f00:1')).toBe(false); // 127.0.0.1, translated
    expect(isPublicAddress('::ffff:0:a9fe:a9fe')).toBe(false); // 169.254.169.254, translated
    expect(() => new OutboundPolicy([]).checkUrl('https://[::ffff:0:7f00:1]/jwks')).toThrow(OutboundUrlRefused);
    expect(isPublicAddress('::ffff:8.8.8.8')).toBe(true);
  });
});

describe('createOutboundFetch', () => {
  let server: Server;
  let port: number;
  let hits = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/redirect') return res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
      if (req.url === '/huge') {
        // Streams far more than the limit, without a Content-Length.
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 32);
        let sent = 0;
        const pump = () => {
          while (sent < 300 && res.write(chunk)) sent++;
          if (sent >= 300) res.end();
          else res.once('drain', pump);
        };
        res.on('close', () => (sent = 300));
        return pump();
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('fetches an allowed loopback URL', async () => {
    const fetch = createOutboundFetch(OutboundPolicy.fromList('127.0.0.1'));
    const response = await fetchJson(fetch, `http://127.0.0.1:${port}/jwks`, { timeoutMs: 2000 }, 'ERR_JWKS_UNAVAILABLE');
    expect(response.body).toEqual({ keys: [] });
  });

  it('refuses loopback without the allow-list, before connecting', async () => {
    const before = hits;
    const fetch = createOutboundFetch(new OutboundPolicy());
    await expect(fetch(`http://127.0.0.1:${port}/jwks`, {})).rejects.toThrow(OutboundUrlRefused);
    expect(hits).toBe(before);
  });

  it('checks the address a name resolves to and connects to that address (DNS rebinding)', async () => {
    const before = hits;
    let answers = 0;
    // A name that resolves to loopback: refused after resolution, never connected.
    const fetch = createOutboundFetch(new OutboundPolicy(), {
      lookup: (_host, callback) => {
        answers++;
        callback(null, [{ address: '127.0.0.1', family: 4 }]);
      },
    });
    await expect(fetch(`https://rebind.example:${port}/jwks`, {})).rejects.toThrow(/rebind\.example \(127\.0\.0\.1\).*--outbound-allow/);
    expect(answers).toBe(1);
    expect(hits).toBe(before);
  });

  it('a name in the allow-list may resolve to loopback', async () => {
    const fetch = createOutboundFetch(OutboundPolicy.fromList('keys.test'), {
      lookup: (_host, callback) => callback(null, [{ address: '127.0.0.1', family: 4 }]),
    });
    const response = await fetchJson(fetch, `http://keys.test:${port}/jwks`, { timeoutMs: 2000 }, 'ERR_JWKS_UNAVAILABLE');
    expect(response.body).toEqual({ keys: [] });
  });

  it('never follows a redirect', async () => {
    const fetch = createOutboundFetch(OutboundPolicy.fromList('127.0.0.1'));
    await expect(fetchJson(fetch, `http://127.0.0.1:${port}/redirect`, { timeoutMs: 2000 }, 'ERR_JWKS_UNAVAILABLE')).rejects.toThrow(/redirect/);
  });

  it('abandons a body as soon as it passes the size limit', async () => {
    const fetch = createOutboundFetch(OutboundPolicy.fromList('127.0.0.1'));
    const before = process.memoryUsage().arrayBuffers;
    await expect(fetchJson(fetch, `http://127.0.0.1:${port}/huge`, { timeoutMs: 5000, maxBytes: 256 * 1024 }, 'ERR_JWKS_UNAVAILABLE')).rejects.toThrow(/more than 262144 bytes/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });
});
