/**
 * The outbound URL policy (SPEC §1 `--outbound-allow`): every URL that an
 * administrator or a token can make the server fetch (client `jwksUri`, federation
 * key sets and discovery documents) is checked here and nowhere else.
 *
 * - `https` only, no credentials in the URL;
 * - no loopback, private, link-local, shared, multicast or reserved destination,
 *   checked on the address the name resolves to (outbound/fetch.ts connects to that
 *   very address, so a DNS answer cannot change between check and connect);
 * - unless the allow-list names the host or a CIDR range holding the address; an
 *   allowed destination may also be reached over `http`.
 *
 * WHATWG URL parsing already turns `http://2130706433/`, `http://0x7f.1/` and
 * `http://0177.0.0.1/` into `127.0.0.1`, so every IPv4 spelling is checked as one.
 */
import { BlockList, isIP } from 'node:net';

export const OUTBOUND_ALLOW_OPTION = '--outbound-allow / TESSERA_OUTBOUND_ALLOW';

/** The URL or its destination is refused; the message says what would allow it. */
export class OutboundUrlRefused extends Error {
  override readonly name = 'OutboundUrlRefused';
  readonly code = 'ERR_OUTBOUND_REFUSED';
}

/** Destinations a server-side fetch never reaches unless allowed (RFC 6890 special-purpose ranges). */
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  // ::ffff:0:0/96 (IPv4-mapped) is not listed: normalizeAddress checks those as IPv4,
  // and node's BlockList would match every IPv4 address against it.
  ['::ffff:0:0:0', 96], // IPv4-translated (RFC 2765 SIIT): reaches IPv4 addresses, private ones included
  ['64:ff9b::', 96], // NAT64: reaches IPv4 addresses, private ones included
  ['64:ff9b:1::', 48],
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID...)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds an IPv4 address
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/**
 * `::ffff:a.b.c.d` (IPv4-mapped, also spelled `::ffff:7f00:1`) and the deprecated
 * `::a.b.c.d` (IPv4-compatible) reach IPv4 addresses; they are checked as IPv4.
 */
export function normalizeAddress(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(bare) === 4) return { address: bare, family: 'ipv4' };
  const groups = expandIpv6(bare);
  if (groups === null) return { address: bare, family: 'ipv6' };
  const zeroPrefix = groups.slice(0, 5).every((group) => group === 0);
  const mapped = zeroPrefix && groups[5] === 0xffff;
  const compatible = zeroPrefix && groups[5] === 0 && (groups[6] ?? 0) !== 0;
  if (mapped || compatible) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return { address: `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, family: 'ipv4' };
  }
  return { address: bare, family: 'ipv6' };
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad included), or null. */
function expandIpv6(address: string): number[] | null {
  if (isIP(address) !== 6) return null;
  let text = address.split('%')[0] ?? address;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad !== null) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  const missing = 8 - front.length - back.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return null;
  return [...front, ...Array.from({ length: missing }, () => 0), ...back];
}

export function isPublicAddress(address: string): boolean {
  const { address: normalized, family } = normalizeAddress(address);
  return !NON_PUBLIC.check(normalized, family);
}

export class OutboundPolicy {
  readonly #hosts = new Set<string>();
  readonly #ranges = new BlockList();
  readonly #entries: readonly string[];

  /** `allow`: hosts or CIDR ranges (`localhost`, `127.0.0.1`, `10.0.0.0/8`, `::1`). */
  constructor(allow: readonly string[] = []) {
    this.#entries = allow;
    for (const raw of allow) {
      const entry = raw.trim().toLowerCase();
      if (entry === '') continue;
      const [network, prefixText] = entry.split('/') as [string, string | undefined];
      const bare = network.replace(/^\[|\]$/g, '');
      const family = isIP(bare);
      if (family === 0) {
        if (prefixText !== undefined) throw new Error(`outbound allow-list: ${raw} is not a CIDR range`);
        this.#hosts.add(bare);
        continue;
      }
      const { address, family: normalizedFamily } = normalizeAddress(bare);
      const max = normalizedFamily === 'ipv4' ? 32 : 128;
      const prefix = prefixText === undefined ? max : Number(prefixText);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
        throw new Error(`outbound allow-list: ${raw} has an invalid prefix length`);
      }
      this.#ranges.addSubnet(address, prefix, normalizedFamily);
    }
  }

  /** Parses `--outbound-allow` / TESSERA_OUTBOUND_ALLOW (comma-separated). */
  static fromList(value: string | undefined | null): OutboundPolicy {
    return new OutboundPolicy((value ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''));
  }

  get allowList(): readonly string[] {
    return this.#entries;
  }

  #hostAllowed(hostname: string): boolean {
    return this.#hosts.has(hostname.replace(/^\[|\]$/g, '').toLowerCase());
  }

  #addressAllowed(address: string): boolean {
    const { address: normalized, family } = normalizeAddress(address);
    return this.#ranges.check(normalized, family);
  }

  /**
   * What can be checked without DNS: scheme, credentials, and the host when it is an
   * IP literal or a name that always means this machine. Throws OutboundUrlRefused.
   * Used at registration (422) and before every fetch.
   */
  checkUrl(input: string | URL): URL {
    let url: URL;
    try {
      url = typeof input === 'string' ? new URL(input) : input;
    } catch {
      throw new OutboundUrlRefused('not an absolute URL');
    }
    if (url.username !== '' || url.password !== '') {
      throw new OutboundUrlRefused('a URL the server fetches must not carry credentials (user:password@)');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutboundUrlRefused(`the ${url.protocol} scheme is not fetched; use https`);
    const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const literal = isIP(hostname) !== 0;
    const allowed = this.#hostAllowed(hostname) || (literal && this.#addressAllowed(hostname));
    if (url.protocol === 'http:' && !allowed) {
      throw new OutboundUrlRefused(`only https URLs are fetched; to allow http for ${hostname}, add it to ${OUTBOUND_ALLOW_OPTION}`);
    }
    if (allowed) return url;
    if (literal && !isPublicAddress(hostname)) throw refusedAddress(hostname, hostname);
    if (hostname === 'localhost' || hostname.endsWith('.localhost')) throw refusedAddress(hostname, '127.0.0.1');
    return url;
  }

  /**
   * After DNS: may `hostname` be reached at `address`? Throws OutboundUrlRefused. A
   * host named in the allow-list may resolve anywhere; otherwise the address must be
   * public or inside an allowed range.
   */
  checkAddress(hostname: string, address: string): void {
    if (this.#hostAllowed(hostname) || this.#addressAllowed(address) || isPublicAddress(address)) return;
    throw refusedAddress(hostname, address);
  }
}

function refusedAddress(hostname: string, address: string): OutboundUrlRefused {
  const what = hostname === address ? address : `${hostname} (${address})`;
  return new OutboundUrlRefused(
    `${what} is a loopback, private, link-local or reserved address; to allow it, add ${hostname} or a CIDR range holding ${address} to ${OUTBOUND_ALLOW_OPTION}`,
  );
}
