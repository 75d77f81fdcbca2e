/**
 * The registry as a configuration file, ready to commit: objects in a stable order,
 * only the fields the file format has, and a value left out where it is the server's
 * default (so that the file says what was chosen). Applying it to an empty server
 * reproduces the registry, secrets aside; signing keys are the server's own.
 */
import { stringify } from 'yaml';
import type { TenantState } from './registry.js';
import { type ConfigFile, CONFIG_VERSION, FIELDS, PUBLIC_JWK_MEMBERS, type TenantEntry } from './schema.js';

/** Values that mean "the default" for a field: omitted from an export (every boolean setting defaults to false). */
const DEFAULTS: Record<string, readonly unknown[]> = {
  tokenFormat: ['jwt'],
  kind: ['workload'],
  dpopBoundAccessTokens: [false],
  txnTokenService: [false],
  dpopNonceRequired: [false],
};

const byText = <T>(key: (item: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

export function exportConfig(states: readonly TenantState[]): ConfigFile {
  const tenants = [...states].sort(byText((s) => s.tenant.id)).map((state): TenantEntry => {
    const t = state.tenant;
    const entry: Record<string, unknown> = { id: t.id, ...pick(t, FIELDS.tenant.settable) };
    // The trust domain shows the issuer while unset: that is the default, not a choice (and it differs per environment).
    if (entry['trustDomain'] === t.issuer) delete entry['trustDomain'];
    const apis = [...state.apis].sort(byText((a) => a.identifier)).map((api) => ({
      identifier: api.identifier,
      ...pick(api, FIELDS.api.settable.filter((f) => f !== 'scopes' && f !== 'introspectors')),
      scopes: api.scopes.map((s) => (s.description === undefined ? s.value : { value: s.value, description: s.description })),
      ...(api.introspectors.length > 0 ? { introspectors: [...api.introspectors].sort() } : {}),
    }));
    const clients = [...state.clients].sort(byText((c) => c.clientId)).map((client) => {
      const fields = pick(client, FIELDS.client.settable);
      if (client.jwks !== null) fields['jwks'] = { keys: client.jwks.keys.map(publicOnly) };
      return { clientId: client.clientId, ...fields };
    });
    const grants = [...state.grants].sort(byText((g) => `${g.clientId}\u0000${g.audience}`)).map((grant) => ({
      clientId: grant.clientId,
      audience: grant.audience,
      scopes: [...grant.scopes],
      ...pick(grant, FIELDS.grant.settable.filter((f) => f !== 'scopes')),
    }));
    const federations = [...state.federations].sort(byText((f) => `${f.name}\u0000${f.id}`)).map((federation) => {
      const fields = pick(federation, FIELDS.federation.settable);
      if (federation.replayProtection.mode === 'off') delete fields['replayProtection'];
      if (federation.jwks !== null) fields['jwks'] = { keys: federation.jwks.keys.map(publicOnly) };
      return { name: federation.name, ...fields };
    });
    return {
      ...entry,
      ...(apis.length > 0 ? { apis } : {}),
      ...(clients.length > 0 ? { clients } : {}),
      ...(grants.length > 0 ? { grants } : {}),
      ...(federations.length > 0 ? { federations } : {}),
    } as TenantEntry;
  });
  return { version: CONFIG_VERSION, tenants } as ConfigFile;
}

export function configText(config: ConfigFile, format: 'yaml' | 'json'): string {
  return format === 'json' ? `${JSON.stringify(config, null, 2)}\n` : stringify(config, { lineWidth: 0 });
}

/** The fields among `names` that hold something other than nothing or the default. */
function pick(resource: object, names: readonly string[]): Record<string, unknown> {
  const record = resource as Record<string, unknown>;
  const picked: Record<string, unknown> = {};
  for (const name of names) {
    const value = record[name];
    if (value === undefined || value === null) continue;
    if (value === false || DEFAULTS[name]?.includes(value)) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) continue;
    picked[name] = value;
  }
  return picked;
}

function publicOnly(key: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(PUBLIC_JWK_MEMBERS.filter((m) => key[m] !== undefined).map((m) => [m, key[m]]));
}
