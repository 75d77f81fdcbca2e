/** Distinguished names of X.509 subjects: parsing and comparison (RFC 4514, RFC 4517). */

/**
 * Whether two distinguished names are the same (RFC 8705 §2.1.2 leaves the comparison
 * to the server; this follows RFC 4517 distinguishedNameMatch with caseIgnoreMatch
 * values). Either side may be an RFC 4514 string (`CN=svc,O=Example,C=DE`), the
 * multi-line form node's `X509Certificate.subject` prints (`C=DE\nO=Example\nCN=svc`),
 * or OpenSSL's slash form (`/C=DE/O=Example/CN=svc`). Attribute types match
 * case-insensitively and by alias or OID (`CN`, `commonName`, `2.5.4.3`); values by
 * case, with escapes decoded and runs of spaces collapsed; the values of a
 * multi-valued RDN in any order. RFC 4514 strings list RDNs last-to-first while the
 * certificate lists them first-to-last, so the RDN sequence may match in either
 * direction. An unparsable DN matches nothing.
 */
export function distinguishedNamesMatch(a: string, b: string): boolean {
  const left = parseDistinguishedName(a);
  const right = parseDistinguishedName(b);
  if (left === null || right === null || left.length === 0 || left.length !== right.length) return false;
  const same = (x: readonly string[], y: readonly string[]) => x.every((rdn, i) => rdn === y[i]);
  return same(left, right) || same(left, [...right].reverse());
}

const ATTRIBUTE_TYPE_ALIASES: Record<string, string> = {
  commonname: 'cn', '2.5.4.3': 'cn',
  countryname: 'c', '2.5.4.6': 'c',
  organizationname: 'o', '2.5.4.10': 'o',
  organizationalunitname: 'ou', '2.5.4.11': 'ou',
  localityname: 'l', '2.5.4.7': 'l',
  s: 'st', stateorprovincename: 'st', '2.5.4.8': 'st',
  streetaddress: 'street', '2.5.4.9': 'street',
  domaincomponent: 'dc', '0.9.2342.19200300.100.1.25': 'dc',
  userid: 'uid', '0.9.2342.19200300.100.1.1': 'uid',
  e: 'emailaddress', email: 'emailaddress', '1.2.840.113549.1.9.1': 'emailaddress',
  '2.5.4.5': 'serialnumber',
  surname: 'sn', '2.5.4.4': 'sn',
  gn: 'givenname', '2.5.4.42': 'givenname',
  '2.5.4.12': 'title',
  '2.5.4.17': 'postalcode',
  '2.5.4.97': 'organizationidentifier',
};

/** Without surrounding whitespace, except a space escaped at the end (`CN=svc\ `, RFC 4514 §2.4). */
function trimDistinguishedName(dn: string): string {
  const end = dn.trimEnd().length;
  let backslashes = 0;
  while (backslashes < end && dn[end - 1 - backslashes] === '\\') backslashes += 1;
  return dn.slice(0, backslashes % 2 === 1 && end < dn.length ? end + 1 : end).trimStart();
}

/**
 * A DN as a list of RDNs in the order written, each RDN canonicalised to its sorted
 * `type=value` members joined by NUL (values may contain `+`); null when the text is not a DN.
 */
export function parseDistinguishedName(dn: string): string[] | null {
  // RFC 4514 §2.4: a NUL is written escaped (\00), never as it is.
  if (dn.includes('\u0000')) return null;
  let text = trimDistinguishedName(dn);
  let separators: string;
  if (text.startsWith('/')) {
    separators = '/';
    text = text.slice(1);
  } else {
    separators = text.includes('\n') ? '\n' : ',;';
  }
  const rdns: string[] = [];
  let members: string[] = [];
  let i = 0;
  while (i <= text.length) {
    // attribute type, up to '='
    const equals = text.indexOf('=', i);
    if (equals < 0) return null;
    let type = text.slice(i, equals).trim().toLowerCase();
    if (type.startsWith('oid.')) type = type.slice(4);
    if (!/^(?:[a-z][a-z0-9-]*|\d+(?:\.\d+)+)$/.test(type)) return null;
    type = ATTRIBUTE_TYPE_ALIASES[type] ?? type;
    // attribute value, up to an unescaped separator or '+'
    i = equals + 1;
    while (text[i] === ' ') i += 1;
    const bytes: number[] = [];
    const pushText = (s: string) => bytes.push(...Buffer.from(s, 'utf8'));
    if (text[i] === '#') {
      const match = /^#([0-9a-fA-F]+)/.exec(text.slice(i));
      if (match === null) return null;
      pushText(`#${(match[1] ?? '').toLowerCase()}`);
      i += match[0].length;
    } else if (text[i] === '"') {
      // RFC 1779 quoted value
      i += 1;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < text.length) i += 1;
        pushText(text[i] ?? '');
        i += 1;
      }
      if (text[i] !== '"') return null;
      i += 1;
    } else {
      while (i < text.length && !separators.includes(text[i] ?? '') && text[i] !== '+') {
        const ch = text[i] ?? '';
        if (ch === '\\') {
          const hex = /^[0-9a-fA-F]{2}/.exec(text.slice(i + 1, i + 3));
          if (hex !== null) {
            bytes.push(parseInt(hex[0], 16));
            i += 3;
            continue;
          }
          if (i + 1 >= text.length) return null;
          pushText(text[i + 1] ?? '');
          i += 2;
          continue;
        }
        pushText(ch);
        i += 1;
      }
    }
    const value = Buffer.from(bytes).toString('utf8').normalize('NFKC').replace(/\s+/g, ' ').trim().toLowerCase();
    members.push(`${type}=${value}`);
    while (text[i] === ' ') i += 1;
    const next = text[i];
    if (next === '+') {
      i += 1;
      continue;
    }
    rdns.push(members.sort().join('\u0000'));
    members = [];
    if (next === undefined) break;
    if (!separators.includes(next)) return null;
    i += 1;
  }
  return rdns;
}
