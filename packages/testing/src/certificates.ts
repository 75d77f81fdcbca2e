/**
 * X.509 certificates for mutual-TLS tests (RFC 8705), made in memory with node:crypto:
 * a CA per test issuer, its TLS server certificate for 127.0.0.1, CA-issued client
 * certificates (tls_client_auth) and self-signed ones (self_signed_tls_client_auth).
 *
 * The DER is written here rather than by a certificate library: the one structure
 * needed (RFC 5280 §4.1, ECDSA P-256 with SHA-256, five extensions) is short, while the
 * libraries that build it either need a global polyfill (@peculiar/x509), cost a
 * quarter to half a second to import (pkijs), or sign with their own JavaScript RSA and
 * have no EC certificates (node-forge). node:crypto signs; `X509Certificate` and the
 * TLS handshakes in the tests check every certificate made here.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIPv4 } from 'node:net';

/** A subject, written most specific first when it is shown as RFC 4514 (`CN=...,OU=...,O=...,C=...`). */
export interface CertificateSubject {
  commonName: string;
  organizationalUnit?: string;
  organization?: string;
  /** Two-letter ISO 3166 code. */
  country?: string;
}

export interface TestCertificate {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PKCS #8 PEM. */
  key: string;
  privateKey: KeyObject;
  x509: X509Certificate;
  /** The subject DN as RFC 4514 writes it, the form `tlsClientAuthSubjectDn` registers. */
  subjectDn: string;
  /** RFC 8705 §3.1: base64url SHA-256 of the DER certificate, what `cnf.x5t#S256` of a bound token holds. */
  thumbprint: string;
}

export interface CertificateOptions {
  subject: CertificateSubject;
  /** What it is for: a CA (signs certificates), a TLS server, or a TLS client. */
  role: 'ca' | 'server' | 'client';
  /** The CA that signs it; absent: self-signed. */
  issuer?: TestCertificate;
  /** For a server: the IP addresses and DNS names it answers for (subjectAltName). */
  hosts?: string[];
  /** Start and end of validity. Default: an hour ago to a day from now. */
  notBefore?: Date;
  notAfter?: Date;
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  country: '2.5.4.6',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** RFC 5280 §4.2.1.3 bits, numbered from the most significant bit of the first octet. */
const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** A new P-256 key and a certificate for it, signed by `issuer` or by itself. */
export function createCertificate(options: CertificateOptions): TestCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keyId = createHash('sha1').update(subjectPublicKeyBits(spki)).digest(); // RFC 5280 §4.2.1.2 method (1)
  const signer = options.issuer;
  const subject = encodeName(options.subject);
  const now = Date.now();
  const notBefore = options.notBefore ?? new Date(now - 3_600_000);
  const notAfter = options.notAfter ?? new Date(now + 86_400_000);
  if (!(notBefore.getTime() < notAfter.getTime())) throw new TypeError('a certificate needs notBefore before notAfter');

  const extensions = [
    extension(OID.basicConstraints, true, sequence(...(options.role === 'ca' ? [boolean(true)] : []))),
    extension(OID.keyUsage, true, keyUsage(options.role === 'ca' ? ['digitalSignature', 'keyCertSign', 'cRLSign'] : ['digitalSignature'])),
    ...(options.role === 'ca' ? [] : [extension(OID.extKeyUsage, false, sequence(oid(options.role === 'server' ? OID.serverAuth : OID.clientAuth)))]),
    ...(options.hosts !== undefined && options.hosts.length > 0 ? [extension(OID.subjectAltName, false, sequence(...options.hosts.map(generalName)))] : []),
    extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
    ...(signer !== undefined ? [extension(OID.authorityKeyIdentifier, false, sequence(tagged(0x80, authorityKeyId(signer))))] : []),
  ];
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256));
  const tbs = sequence(
    tagged(0xa0, integer(Buffer.from([2]))), // v3
    integer(serialNumber()),
    signatureAlgorithm,
    signer !== undefined ? signer.x509.raw.subarray(...subjectRange(signer.x509.raw)) : subject,
    sequence(time(notBefore), time(notAfter)),
    subject,
    spki,
    tagged(0xa3, sequence(...extensions)),
  );
  // node:crypto writes ECDSA signatures as the DER Ecdsa-Sig-Value that X.509 wants (RFC 5758 §3.2).
  const signature = sign('sha256', tbs, signer?.privateKey ?? privateKey);
  const der = sequence(tbs, signatureAlgorithm, bitString(signature));
  const x509 = new X509Certificate(der);
  return {
    cert: x509.toString(),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    privateKey,
    x509,
    subjectDn: subjectDn(options.subject),
    thumbprint: createHash('sha256').update(der).digest('base64url'),
  };
}

/** RFC 4514 string form: most specific RDN first, special characters escaped. */
export function subjectDn(subject: CertificateSubject): string {
  return rdns(subject)
    .reverse()
    .map(([name, , value]) => `${name}=${escapeDnValue(value)}`)
    .join(',');
}

function rdns(subject: CertificateSubject): [string, string, string][] {
  if (typeof subject.commonName !== 'string' || subject.commonName === '') throw new TypeError('a certificate subject needs a commonName');
  if (subject.country !== undefined && !/^[A-Z]{2}$/.test(subject.country)) throw new TypeError('country must be a two-letter ISO 3166 code, such as DE');
  // X.509 order: least specific first.
  const parts: [string, string, string | undefined][] = [
    ['C', OID.country, subject.country],
    ['O', OID.organization, subject.organization],
    ['OU', OID.organizationalUnit, subject.organizationalUnit],
    ['CN', OID.commonName, subject.commonName],
  ];
  return parts.filter((part): part is [string, string, string] => part[2] !== undefined && part[2] !== '');
}

function escapeDnValue(value: string): string {
  // One pass (RFC 4514 §2.4), so a value of one space is escaped once, not twice.
  return value.replace(/[\\,+"<>;=]|^[ #]| $|\u0000/g, (c) => (c === '\u0000' ? '\\00' : `\\${c}`));
}

function encodeName(subject: CertificateSubject): Buffer {
  return sequence(
    ...rdns(subject).map(([name, type, value]) =>
      // countryName is a PrintableString (RFC 5280 Appendix A); the others UTF8String (§4.1.2.6).
      set(sequence(oid(type), name === 'C' ? element(0x13, Buffer.from(value, 'ascii')) : element(0x0c, Buffer.from(value, 'utf8')))),
    ),
  );
}

function generalName(host: string): Buffer {
  // iPAddress [7] holds the address octets; dNSName [2] an IA5String (RFC 5280 §4.2.1.6).
  if (isIPv4(host)) return tagged(0x87, Buffer.from(host.split('.').map(Number)));
  if (!/^[A-Za-z0-9.-]+$/.test(host)) throw new TypeError(`not a DNS name or IPv4 address: ${host}`);
  return tagged(0x82, Buffer.from(host, 'ascii'));
}

function keyUsage(usages: (keyof typeof KEY_USAGE)[]): Buffer {
  let bits = 0;
  for (const usage of usages) bits |= 0x80 >> KEY_USAGE[usage];
  // DER drops trailing zero bits of a named bit list (X.690 §11.2.2).
  let unused = 0;
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++;
  return element(0x03, Buffer.from([unused, bits]));
}

/** The issuer's own subjectKeyIdentifier, so a chain can be built by key id. */
function authorityKeyId(issuer: TestCertificate): Buffer {
  const spki = issuer.x509.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha1').update(subjectPublicKeyBits(spki)).digest();
}

/** The key bits of a SubjectPublicKeyInfo: its BIT STRING without the unused-bits octet. */
function subjectPublicKeyBits(spki: Buffer): Buffer {
  const outer = readElement(spki, 0);
  const algorithm = readElement(spki, outer.contentStart);
  const key = readElement(spki, algorithm.end);
  return spki.subarray(key.contentStart + 1, key.end);
}

/** Where the subject Name sits in a DER certificate: the sixth field of the TBSCertificate. */
function subjectRange(der: Buffer): [number, number] {
  const certificate = readElement(der, 0);
  const tbs = readElement(der, certificate.contentStart);
  let field = readElement(der, tbs.contentStart);
  for (let i = 0; i < 5; i++) field = readElement(der, field.end);
  return [field.start, field.end];
}

function readElement(der: Buffer, start: number): { start: number; contentStart: number; end: number } {
  const first = der[start + 1];
  if (first === undefined) throw new Error('truncated DER');
  let length = first;
  let contentStart = start + 2;
  if (first & 0x80) {
    const octets = first & 0x7f;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (der[start + 2 + i] ?? 0);
    contentStart += octets;
  }
  return { start, contentStart, end: contentStart + length };
}

function serialNumber(): Buffer {
  // RFC 5280 §4.1.2.2: positive, at most 20 octets; random so that no two repeat.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

function time(date: Date): Buffer {
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after; seconds, in Zulu time.
  const iso = date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:T]/g, '');
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new TypeError('certificate dates must lie between 1950 and 9999');
  return year < 2050 ? element(0x17, Buffer.from(iso.slice(2), 'ascii')) : element(0x18, Buffer.from(iso, 'ascii'));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

function element(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest & 0xff);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

const sequence = (...items: Buffer[]) => element(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => element(0x31, Buffer.concat(items));
const tagged = (tag: number, content: Buffer) => element(tag, content);
const boolean = (value: boolean) => element(0x01, Buffer.from([value ? 0xff : 0x00]));
const octetString = (content: Buffer) => element(0x04, content);
const bitString = (content: Buffer) => element(0x03, Buffer.concat([Buffer.from([0]), content]));

function integer(magnitude: Buffer): Buffer {
  // A leading 0x00 keeps a value whose top bit is set positive (X.690 §8.3).
  return element(0x02, magnitude[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const octets: number[] = [40 * first + second];
  for (const arc of rest) {
    const base128: number[] = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) base128.unshift((value & 0x7f) | 0x80);
    octets.push(...base128);
  }
  return element(0x06, Buffer.from(octets));
}
