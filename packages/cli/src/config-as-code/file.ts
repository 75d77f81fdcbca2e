/**
 * Reading a configuration file (YAML or JSON: YAML 1.2 reads both) and refusing it,
 * before anything changes, when it holds a secret value, a field the schema does not
 * know, or a reference to nothing; every problem is named with its line and field.
 */
import { readFile } from 'node:fs/promises';
import { type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, type Document } from 'yaml';
import { type ConfigFile, ConfigFileSchema, type TenantEntry } from './schema.js';

export interface ConfigProblem {
  /** 1-based; 0 when the problem has no place in the file. */
  line: number;
  /** Where in the file, e.g. `tenants[0].clients[2].clientSecret`. */
  field: string;
  message: string;
}

/** The file could not be used: every problem found, each with its line and field. */
export class ConfigFileError extends Error {
  readonly problems: readonly ConfigProblem[];
  readonly file: string;

  constructor(file: string, problems: ConfigProblem[]) {
    super(`${file} is refused; nothing was changed:\n${problems.map((p) => `  ${formatProblem(file, p)}`).join('\n')}`);
    this.name = 'ConfigFileError';
    this.file = file;
    this.problems = problems;
  }
}

export function formatProblem(file: string, problem: ConfigProblem): string {
  return `${file}${problem.line > 0 ? `:${problem.line}` : ''}: ${problem.field === '' ? '' : `${problem.field}: `}${problem.message}`;
}

type Segment = string | number;

/** Names of fields that carry a secret value: never in a file (the secret travels out of band). */
const SECRET_FIELDS = new Set(['clientSecret', 'secret', 'client_secret', 'password']);
/** JWK members of private (or symmetric) keys, RFC 7518 §6. */
export const PRIVATE_JWK_MEMBERS: readonly string[] = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** Reads and checks the file at `path`; `-` is standard input (`tessera import keycloak ... | tessera plan -f -`). */
export async function loadConfigFile(path: string, readStdin: () => Promise<string>): Promise<ConfigFile> {
  if (path === '-') return parseConfig(await readStdin(), '<stdin>');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigFileError(path, [{ line: 0, field: '', message: `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` }]);
  }
  return parseConfig(text, path);
}

/** The checked configuration of `text`; throws ConfigFileError naming every problem. */
export function parseConfig(text: string, file = 'config'): ConfigFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number | undefined) => (offset === undefined ? 0 : lines.linePos(offset).line);
  if (doc.errors.length > 0) {
    throw new ConfigFileError(file, doc.errors.map((e) => ({ line: lineOf(e.pos[0]), field: '', message: `not valid YAML or JSON: ${e.message.split('\n')[0]}` })));
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  const where = (path: Segment[]) => ({ line: lineOf(locate(doc, path)), field: fieldName(path) });

  // Secrets first: a secret value is the worst thing a file can hold, whatever else is wrong.
  const secrets = findSecrets(value, []).map((found) => ({ ...where(found.path), message: found.message }));
  if (secrets.length > 0) throw new ConfigFileError(file, secrets);

  const schemaProblems = schemaErrors(ConfigFileSchema, value).map((e) => ({ ...where(e.path), message: e.message }));
  if (schemaProblems.length > 0) throw new ConfigFileError(file, schemaProblems);

  const config = value as ConfigFile;
  const references = referenceErrors(config).map((e) => ({ ...where(e.path), message: e.message }));
  if (references.length > 0) throw new ConfigFileError(file, references);
  return config;
}

interface Located {
  path: Segment[];
  message: string;
}

function findSecrets(value: unknown, path: Segment[]): Located[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => findSecrets(item, [...path, index]));
  if (typeof value !== 'object' || value === null) return [];
  const record = value as Record<string, unknown>;
  const found: Located[] = [];
  if (typeof record['kty'] === 'string') {
    for (const member of PRIVATE_JWK_MEMBERS) {
      if (member in record) found.push({ path: [...path, member], message: `a private key member ("${member}") has no place in a configuration file: give the public key only` });
    }
  }
  for (const [key, child] of Object.entries(record)) {
    if (SECRET_FIELDS.has(key)) {
      found.push({ path: [...path, key], message: 'a secret value has no place in a configuration file: apply generates secrets (--secrets-out), or takes them from --secrets-from DIR' });
    } else {
      found.push(...findSecrets(child, [...path, key]));
    }
  }
  return found;
}

/** Schema violations, one per place, said for people. */
function schemaErrors(schema: TSchema, value: unknown): Located[] {
  const byPath = new Map<string, Located>();
  for (const error of Value.Errors(schema, value)) {
    const path = pointerToPath(error.path);
    const key = path.join('\u0000');
    if (byPath.has(key)) continue;
    byPath.set(key, { path, message: describeError(error.schema, error.value, error.message) });
  }
  // A union (a nullable field, a scope given as text or object) reports at its own place
  // after its branches did: the first message per place is the most specific.
  return [...byPath.values()];
}

function describeError(schema: TSchema, value: unknown, message: string): string {
  if (Array.isArray(schema['anyOf'])) {
    // "Expected union value" says nothing: report what the first non-null branch expected.
    for (const branch of schema['anyOf'] as TSchema[]) {
      if (branch['type'] === 'null') continue;
      const first = Value.Errors(branch, value).First();
      if (first !== undefined) return first.message;
    }
  }
  if (message.startsWith('Unexpected property')) return 'unknown field (not in the schema: docs/tessera-config.schema.json)';
  return message;
}

function pointerToPath(pointer: string): Segment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
}

/** `tenants[0].clients[2].clientId` */
export function fieldName(path: readonly Segment[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** The offset of the key (for a field) or the item (in a list) at `path`; the closest parent's when it is absent. */
function locate(doc: Document, path: readonly Segment[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0];
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) return offset;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (item === undefined) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}

/**
 * A file is whole: every grant, rule and introspector names a client and an API of its
 * own tenant in the file, each object is named once, and the admin tenant is left to
 * the server (its own clients guard the management API).
 */
function referenceErrors(config: ConfigFile): Located[] {
  const problems: Located[] = [];
  const tenantIds = new Map<string, number>();
  config.tenants.forEach((tenant, t) => {
    const at = (...rest: Segment[]): Segment[] => ['tenants', t, ...rest];
    if (tenant.id === 'admin') problems.push({ path: at('id'), message: 'the admin tenant belongs to the server (its clients guard the management API) and is not configured from a file' });
    if (tenantIds.has(tenant.id)) problems.push({ path: at('id'), message: `tenant ${JSON.stringify(tenant.id)} is named twice (first as tenants[${tenantIds.get(tenant.id)}])` });
    tenantIds.set(tenant.id, t);
    problems.push(...tenantReferenceErrors(tenant, at));
  });
  return problems;
}

function tenantReferenceErrors(tenant: TenantEntry, at: (...rest: Segment[]) => Segment[]): Located[] {
  const problems: Located[] = [];
  const once = <T>(items: readonly T[] | undefined, collection: string, keyOf: (item: T) => string, keyField: Segment[], label: string) => {
    const seen = new Map<string, number>();
    (items ?? []).forEach((item, i) => {
      const key = keyOf(item);
      const first = seen.get(key);
      if (first !== undefined) problems.push({ path: at(collection, i, ...keyField), message: `${label} ${key} is named twice in this tenant (first as ${collection}[${first}])` });
      else seen.set(key, i);
    });
    return seen;
  };
  const apis = once(tenant.apis, 'apis', (a) => JSON.stringify(a.identifier), ['identifier'], 'API');
  const clients = once(tenant.clients, 'clients', (c) => JSON.stringify(c.clientId), ['clientId'], 'client');
  once(tenant.grants, 'grants', (g) => `${JSON.stringify(g.clientId)} on ${JSON.stringify(g.audience)}`, ['audience'], 'the grant of');
  once(tenant.federations, 'federations', (f) => JSON.stringify(f.name), ['name'], 'federation');
  const hasClient = (id: string) => clients.has(JSON.stringify(id));
  const noClient = (id: string) => `names client ${JSON.stringify(id)}, which is not among this tenant's clients in the file`;

  (tenant.apis ?? []).forEach((api, a) => {
    (api.introspectors ?? []).forEach((id, i) => {
      if (!hasClient(id)) problems.push({ path: at('apis', a, 'introspectors', i), message: noClient(id) });
    });
  });
  (tenant.grants ?? []).forEach((grant, g) => {
    if (!hasClient(grant.clientId)) problems.push({ path: at('grants', g, 'clientId'), message: noClient(grant.clientId) });
    const apiIndex = apis.get(JSON.stringify(grant.audience));
    const api = apiIndex === undefined ? undefined : tenant.apis?.[apiIndex];
    if (api === undefined) {
      problems.push({ path: at('grants', g, 'audience'), message: `names API ${JSON.stringify(grant.audience)}, which is not among this tenant's apis in the file` });
      return;
    }
    const defined = new Set(api.scopes.map((s) => (typeof s === 'string' ? s : s.value)));
    grant.scopes.forEach((scope, s) => {
      if (!defined.has(scope)) problems.push({ path: at('grants', g, 'scopes', s), message: `scope ${JSON.stringify(scope)} is not defined by the API ${JSON.stringify(api.identifier)}` });
    });
  });
  (tenant.federations ?? []).forEach((federation, f) => {
    (federation.rules ?? []).forEach((rule, r) => {
      if (!hasClient(rule.clientId)) problems.push({ path: at('federations', f, 'rules', r, 'clientId'), message: noClient(rule.clientId) });
    });
    (federation.exchangeRules ?? []).forEach((rule, r) => {
      rule.clients.forEach((id, c) => {
        if (!hasClient(id)) problems.push({ path: at('federations', f, 'exchangeRules', r, 'clients', c), message: noClient(id) });
      });
    });
  });
  return problems;
}
