/**
 * The difference between a configuration file and the server: the changes that make
 * the server hold what the file says, field by field, each with the one request that
 * makes it. Only what the file states is compared (an omitted field is the server's
 * business, never a difference), and values are compared as the server keeps them, so
 * a second plan of an applied file is empty.
 */
import type { ApiResource, ClientResource, FederationResource, GrantResource } from '@tessera/server';
import { seg } from '../command.js';
import type { TenantState } from './registry.js';
import { type ApiEntry, type ClientEntry, type ConfigFile, FIELDS, type FederationEntry, type GrantEntry, PUBLIC_JWK_MEMBERS, type TenantEntry } from './schema.js';

export type ObjectKind = 'tenant' | 'api' | 'client' | 'secret' | 'grant' | 'federation';
export type Action = 'create' | 'update' | 'delete';

export interface FieldChange {
  field: string;
  before?: unknown;
  after?: unknown;
}

export interface Change {
  action: Action;
  kind: ObjectKind;
  tenant: string;
  /** The object as people name it: a tenant id, an API identifier, a client id, `client → audience`, a federation name. */
  name: string;
  fields: FieldChange[];
  request: { method: 'POST' | 'PATCH' | 'DELETE'; path: string; body?: Record<string, unknown> };
  /** Objects (see objectKey) that must exist before this change can be made. */
  needs: string[];
  /** Set when the change gives a client a secret: printed once or written out of band, never planned. */
  secretFor?: string;
  /** Why this change cannot be made by the management API (it is reported, not attempted). */
  blocked?: string;
  /** The identifier of an API created earlier in the same apply, whose id completes the path. */
  createdApi?: string;
  /** Order of application: creates and updates by dependency, deletes in reverse. */
  phase: number;
}

export interface Plan {
  changes: Change[];
  /** Objects on the server that the file does not name (deleted by --prune, else left alone). */
  unmanaged: { tenant: string; kind: ObjectKind; name: string }[];
}

export const SECRET_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post'];

export function objectKey(tenant: string, kind: ObjectKind, name: string): string {
  return `${tenant}\u0000${kind}\u0000${name}`;
}

const PHASE = {
  tenant: 0, api: 1, client: 2, secret: 3, apiAfterClients: 4, grant: 5, federation: 6,
  deleteFederation: 7, deleteGrant: 8, deleteClient: 9, deleteApi: 10,
} as const;

export function computePlan(config: ConfigFile, states: ReadonlyMap<string, TenantState | null>, options: { prune: boolean }): Plan {
  const changes: Change[] = [];
  const unmanaged: Plan['unmanaged'] = [];
  for (const entry of config.tenants) {
    const state = states.get(entry.id) ?? null;
    const planned = planTenant(entry, state);
    changes.push(...planned.changes);
    for (const object of planned.unmanaged) {
      if (options.prune) changes.push(object.deletion);
      else unmanaged.push({ tenant: entry.id, kind: object.deletion.kind, name: object.deletion.name });
    }
  }
  // Stable: within a phase, the file's order.
  changes.sort((a, b) => a.phase - b.phase);
  return { changes, unmanaged };
}

function planTenant(entry: TenantEntry, state: TenantState | null): { changes: Change[]; unmanaged: { deletion: Change }[] } {
  const t = entry.id;
  const base = `/tenants/${seg(t)}`;
  const tenantKey = objectKey(t, 'tenant', t);
  const changes: Change[] = [];
  const settings = present(entry, FIELDS.tenant.settable);

  if (state === null) {
    changes.push({
      action: 'create', kind: 'tenant', tenant: t, name: t, phase: PHASE.tenant, needs: [],
      fields: Object.entries(settings).map(([field, after]) => ({ field, after })),
      request: { method: 'POST', path: '/tenants', body: { id: t, ...settings } },
    });
  } else {
    const fields = differences('tenant', settings, state.tenant as unknown as Record<string, unknown>);
    if (fields.length > 0) changes.push(update('tenant', t, t, base, fields, [], PHASE.tenant));
  }

  const existingClients = new Set((state?.clients ?? []).map((c) => c.clientId));
  for (const api of entry.apis ?? []) changes.push(...planApi(t, base, api, state?.apis.find((a) => a.identifier === api.identifier), existingClients, tenantKey));
  for (const client of entry.clients ?? []) changes.push(...planClient(t, base, client, state?.clients.find((c) => c.clientId === client.clientId), tenantKey));
  for (const grant of entry.grants ?? []) changes.push(...planGrant(t, base, grant, state?.grants.find((g) => g.clientId === grant.clientId && g.audience === grant.audience), tenantKey));
  for (const federation of entry.federations ?? []) changes.push(...planFederation(t, base, federation, state?.federations.filter((f) => f.name === federation.name) ?? [], tenantKey));

  // Only the collections the file states are the file's to prune: `clients: []` means
  // "no clients", a tenant without `clients:` leaves them to the server. A grant goes
  // with its client or API, so it is listed when they are.
  const unmanaged: { deletion: Change }[] = [];
  if (state !== null) {
    const remove = (kind: ObjectKind, name: string, path: string, phase: number) =>
      unmanaged.push({ deletion: { action: 'delete', kind, tenant: t, name, fields: [], request: { method: 'DELETE', path }, needs: [], phase } });
    const stated = <T>(items: readonly T[] | undefined, key: (item: T) => string) => (items === undefined ? undefined : new Set(items.map(key)));
    const keep = {
      federations: stated(entry.federations, (f) => f.name),
      grants: stated(entry.grants, (g) => grantName(g.clientId, g.audience)),
      clients: stated(entry.clients, (c) => c.clientId),
      apis: stated(entry.apis, (a) => a.identifier),
    };
    const goes = (names: Set<string> | undefined, name: string) => names !== undefined && !names.has(name);
    const clientsGoing = new Set(state.clients.filter((c) => goes(keep.clients, c.clientId)).map((c) => c.clientId));
    const apisGoing = new Set(state.apis.filter((a) => goes(keep.apis, a.identifier)).map((a) => a.identifier));
    for (const f of state.federations) if (goes(keep.federations, f.name)) remove('federation', f.name, `${base}/federations/${seg(f.id)}`, PHASE.deleteFederation);
    for (const g of state.grants) {
      const name = grantName(g.clientId, g.audience);
      if (goes(keep.grants, name) || clientsGoing.has(g.clientId) || apisGoing.has(g.audience)) remove('grant', name, `${base}/grants/${seg(g.id)}`, PHASE.deleteGrant);
    }
    for (const c of state.clients) if (clientsGoing.has(c.clientId)) remove('client', c.clientId, `${base}/clients/${seg(c.clientId)}`, PHASE.deleteClient);
    for (const a of state.apis) if (apisGoing.has(a.identifier)) remove('api', a.identifier, `${base}/apis/${seg(a.id)}`, PHASE.deleteApi);
  }
  return { changes, unmanaged };
}

function planApi(t: string, base: string, entry: ApiEntry, current: ApiResource | undefined, existingClients: ReadonlySet<string>, tenantKey: string): Change[] {
  const desired = present(entry, FIELDS.api.settable);
  desired['scopes'] = scopeObjects(entry.scopes, current);
  const newIntrospectors = (entry.introspectors ?? []).filter((id) => !existingClients.has(id));
  const afterClients = newIntrospectors.map((id) => objectKey(t, 'client', id));
  if (current === undefined) {
    const create: Change = {
      action: 'create', kind: 'api', tenant: t, name: entry.identifier, phase: PHASE.api, needs: [tenantKey],
      fields: Object.entries(desired).map(([field, after]) => ({ field, after })),
      request: { method: 'POST', path: `${base}/apis`, body: { identifier: entry.identifier, ...desired } },
    };
    if (newIntrospectors.length === 0) return [create];
    // Introspectors must be clients already: the API is created without the new ones,
    // which are added once the clients exist (grants need the API before that).
    const { introspectors, ...withoutNew } = desired;
    create.request.body = { identifier: entry.identifier, ...withoutNew, introspectors: (introspectors as string[]).filter((id) => existingClients.has(id)) };
    const apiKey = objectKey(t, 'api', entry.identifier);
    return [create, {
      action: 'update', kind: 'api', tenant: t, name: entry.identifier, phase: PHASE.apiAfterClients, needs: [apiKey, ...afterClients],
      fields: [{ field: 'introspectors', after: introspectors }],
      // The path needs the API's id, which only its creation tells: apply fills it in.
      request: { method: 'PATCH', path: `${base}/apis/`, body: { introspectors } },
      createdApi: entry.identifier,
    }];
  }
  const fields = differences('api', desired, current as unknown as Record<string, unknown>);
  if (fields.length === 0) return [];
  const touchesNewClients = fields.some((f) => f.field === 'introspectors') && afterClients.length > 0;
  return [update('api', t, entry.identifier, `${base}/apis/${seg(current.id)}`, fields, [tenantKey, ...afterClients], touchesNewClients ? PHASE.apiAfterClients : PHASE.api)];
}

function planClient(t: string, base: string, entry: ClientEntry, current: ClientResource | undefined, tenantKey: string): Change[] {
  const desired = present(entry, FIELDS.client.settable);
  const clientKey = objectKey(t, 'client', entry.clientId);
  const path = `${base}/clients/${seg(entry.clientId)}`;
  if (current === undefined) {
    const method = (desired['tokenEndpointAuthMethod'] as string | undefined) ?? 'client_secret_basic';
    return [{
      action: 'create', kind: 'client', tenant: t, name: entry.clientId, phase: PHASE.client, needs: [tenantKey],
      fields: Object.entries(desired).map(([field, after]) => ({ field, after })),
      request: { method: 'POST', path: `${base}/clients`, body: { clientId: entry.clientId, ...desired } },
      ...(SECRET_METHODS.includes(method) ? { secretFor: entry.clientId } : {}),
    }];
  }
  const changes: Change[] = [];
  const fields = differences('client', desired, current as unknown as Record<string, unknown>);
  // Keys come from one place: jwks given replaces a jwksUri, and the other way round.
  for (const [given, other] of [['jwks', 'jwksUri'], ['jwksUri', 'jwks']] as const) {
    if (fields.some((f) => f.field === given) && desired[given] != null && !(other in desired) && current[other] !== null) {
      fields.push({ field: other, before: current[other], after: null });
    }
  }
  if (fields.length > 0) changes.push(update('client', t, entry.clientId, path, fields, [tenantKey], PHASE.client));
  // A client that authenticates with a secret and has none cannot authenticate: it gets one.
  const method = (desired['tokenEndpointAuthMethod'] as string | undefined) ?? current.tokenEndpointAuthMethod;
  if (SECRET_METHODS.includes(method) && current.secrets.length === 0) {
    changes.push({
      action: 'create', kind: 'secret', tenant: t, name: entry.clientId, phase: PHASE.secret, needs: [clientKey], secretFor: entry.clientId,
      fields: [], request: { method: 'POST', path: `${path}/secrets`, body: {} },
    });
  }
  return changes;
}

function planGrant(t: string, base: string, entry: GrantEntry, current: GrantResource | undefined, tenantKey: string): Change[] {
  const name = grantName(entry.clientId, entry.audience);
  const desired = present(entry, FIELDS.grant.settable);
  const needs = [tenantKey, objectKey(t, 'client', entry.clientId), objectKey(t, 'api', entry.audience)];
  if (current === undefined) {
    return [{
      action: 'create', kind: 'grant', tenant: t, name, phase: PHASE.grant, needs,
      fields: Object.entries(desired).map(([field, after]) => ({ field, after })),
      request: { method: 'POST', path: `${base}/grants`, body: { clientId: entry.clientId, audience: entry.audience, ...desired } },
    }];
  }
  const fields = differences('grant', desired, current as unknown as Record<string, unknown>);
  return fields.length === 0 ? [] : [update('grant', t, name, `${base}/grants/${seg(current.id)}`, fields, needs, PHASE.grant)];
}

function planFederation(t: string, base: string, entry: FederationEntry, current: FederationResource[], tenantKey: string): Change[] {
  const desired = present(entry, FIELDS.federation.settable);
  const clients = [...new Set([...(entry.rules ?? []).map((r) => r.clientId), ...(entry.exchangeRules ?? []).flatMap((r) => r.clients)])];
  const needs = [tenantKey, ...clients.map((id) => objectKey(t, 'client', id))];
  const [only, ...more] = current;
  if (only === undefined) {
    return [{
      action: 'create', kind: 'federation', tenant: t, name: entry.name, phase: PHASE.federation, needs,
      fields: Object.entries(desired).map(([field, after]) => ({ field, after })),
      request: { method: 'POST', path: `${base}/federations`, body: { name: entry.name, ...desired } },
    }];
  }
  const fields = differences('federation', desired, only as unknown as Record<string, unknown>);
  const change = fields.length === 0 ? undefined : update('federation', t, entry.name, `${base}/federations/${seg(only.id)}`, fields, needs, PHASE.federation);
  if (more.length > 0) {
    // A file names a federation by its name: with two of that name, which one is meant is a guess.
    return [{
      ...(change ?? update('federation', t, entry.name, `${base}/federations`, [], needs, PHASE.federation)),
      blocked: `the server has ${current.length} federations named ${JSON.stringify(entry.name)} (${current.map((f) => f.id).join(', ')}); rename or delete all but one (tessera federations update|delete <id>)`,
    }];
  }
  return change === undefined ? [] : [change];
}

function update(kind: ObjectKind, tenant: string, name: string, path: string, fields: FieldChange[], needs: string[], phase: number): Change {
  const patchable: ReadonlySet<string> = kind === 'secret' ? new Set() : FIELDS[kind].patchable;
  const fixed = fields.filter((f) => !patchable.has(f.field)).map((f) => f.field);
  return {
    action: 'update', kind, tenant, name, phase, needs, fields,
    request: { method: 'PATCH', path, body: Object.fromEntries(fields.map((f) => [f.field, f.after])) },
    ...(fixed.length > 0 ? { blocked: `${fixed.join(', ')} cannot be changed in place by the management API` } : {}),
  };
}

export function grantName(clientId: string, audience: string): string {
  return `${clientId} → ${audience}`;
}

/** The fields of `entry` among `names` that the file states (undefined is not stated). */
function present(entry: object, names: readonly string[]): Record<string, unknown> {
  const record = entry as Record<string, unknown>;
  return Object.fromEntries(names.filter((name) => record[name] !== undefined).map((name) => [name, record[name]]));
}

function differences(kind: Exclude<ObjectKind, 'secret'>, desired: Record<string, unknown>, current: Record<string, unknown>): FieldChange[] {
  return Object.entries(desired)
    // A boolean setting the server leaves out of its answer is off: `false` in the file is no difference.
    .filter(([field, value]) => !(value === false && current[field] == null))
    .filter(([field, value]) => canonical(normalize(kind, field, value)) !== canonical(normalize(kind, field, current[field])))
    .map(([field, after]) => ({ field, before: current[field] ?? null, after }));
}

/** A file's scopes as the API keeps them; a description the file leaves out stays the server's. */
function scopeObjects(scopes: ApiEntry['scopes'], current: ApiResource | undefined): { value: string; description?: string }[] {
  const known = new Map((current?.scopes ?? []).map((s) => [s.value, s.description]));
  return scopes.map((scope) => {
    const value = typeof scope === 'string' ? scope : scope.value;
    const description = typeof scope === 'string' || scope.description === undefined ? known.get(value) : scope.description;
    return description === undefined ? { value } : { value, description };
  });
}

/**
 * A value as the server would keep it, for comparison only: absent and null are one,
 * so are no claims and `{}`; lists of names compare as sets; keys on their public members.
 */
function normalize(kind: string, field: string, value: unknown): unknown {
  if (value === undefined) value = null;
  switch (field) {
    case 'customClaims':
    case 'claimMappings':
      return value ?? {};
    case 'jwks':
      return value === null ? null : { keys: ((value as { keys: Record<string, unknown>[] }).keys ?? []).map(publicMembers) };
    case 'introspectors':
      return [...new Set((value as string[] | null) ?? [])].sort();
    case 'scopes':
      if (kind === 'grant') return [...new Set((value as string[] | null) ?? [])].sort();
      return [...((value as { value: string; description?: string }[] | null) ?? [])].sort((a, b) => a.value.localeCompare(b.value));
    case 'rules':
    case 'exchangeRules':
      return ((value as Record<string, unknown>[] | null) ?? []).map((rule) => {
        const { claims, ...rest } = rule;
        return claims === undefined || Object.keys(claims as object).length === 0 ? rest : { ...rest, claims };
      });
    case 'replayProtection':
      return value ?? { mode: 'off' };
    case 'kind':
      return kind === 'federation' ? (value ?? 'workload') : value;
    default:
      return value;
  }
}

function publicMembers(key: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(PUBLIC_JWK_MEMBERS.filter((m) => key[m] !== undefined).map((m) => [m, key[m]]));
}

/** JSON with sorted keys: equal values, equal text. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
