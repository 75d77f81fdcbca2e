/**
 * The configuration file's schema, made of the management API's own request schemas:
 * a tenant is the body of `POST /tenants` plus the objects in it, a client the body of
 * `POST /clients` with its `clientId` required and its secret left out, and so on. A
 * field the API gains (a new client setting, say) is in the file at once.
 */
import { type Static, type TProperties, type TSchema, Type } from '@sinclair/typebox';
import {
  ClientIdPattern,
  CreateApiBody,
  CreateClientBody,
  CreateFederationBody,
  CreateGrantBody,
  CreateTenantBody,
  PublicJwk,
  UpdateApiBody,
  UpdateClientBody,
  UpdateFederationBody,
  UpdateGrantBody,
  UpdateTenantBody,
} from '@tessera/server';

export const CONFIG_VERSION = 1;
export const SCHEMA_FILE = 'docs/tessera-config.schema.json';

function omit<P extends TProperties, K extends keyof P & string>(properties: P, keys: readonly K[]): Omit<P, K> {
  const copy: Record<string, TSchema> = { ...properties };
  for (const key of keys) delete copy[key];
  return copy as Omit<P, K>;
}

/** `orders:read`, or `{ value: orders:write, description: Create orders }`. */
const ScopeEntry = Type.Union([CreateApiBody.properties.scopes.items.properties.value, CreateApiBody.properties.scopes.items], {
  description: 'a scope value, or {value, description}',
});

export const ApiEntry = Type.Object(
  { ...CreateApiBody.properties, scopes: Type.Array(ScopeEntry, { maxItems: CreateApiBody.properties.scopes.maxItems ?? 500 }) },
  { additionalProperties: false, description: 'an API (audience), matched by its identifier' },
);

/** Fields of POST /clients that never belong in a file: the secret comes from elsewhere. */
const CLIENT_SECRET_FIELDS = ['clientSecret'] as const;
export const ClientEntry = Type.Object(
  {
    clientId: Type.String({ pattern: ClientIdPattern, description: 'chosen, so that the same file gives the same ids in every environment' }),
    ...omit(CreateClientBody.properties, ['clientId', ...CLIENT_SECRET_FIELDS]),
  },
  { additionalProperties: false, description: 'a client, matched by its clientId; its secret is never in the file' },
);

export const GrantEntry = Type.Object({ ...CreateGrantBody.properties }, {
  additionalProperties: false,
  description: 'a grant, matched by clientId and audience; changed in place',
});

export const FederationEntry = Type.Object({ ...CreateFederationBody.properties }, {
  additionalProperties: false,
  description: 'a trusted external issuer, matched by its name (unique in the tenant)',
});

export const TenantEntry = Type.Object(
  {
    ...CreateTenantBody.properties,
    apis: Type.Optional(Type.Array(ApiEntry)),
    clients: Type.Optional(Type.Array(ClientEntry)),
    grants: Type.Optional(Type.Array(GrantEntry)),
    federations: Type.Optional(Type.Array(FederationEntry)),
  },
  { additionalProperties: false, description: 'a tenant (issuer) and everything in it; omitted settings are the server\'s defaults' },
);

export const ConfigFileSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: 'where editors find this schema' })),
    version: Type.Literal(CONFIG_VERSION),
    tenants: Type.Array(TenantEntry),
  },
  { additionalProperties: false },
);

export type ConfigFile = Static<typeof ConfigFileSchema>;
export type TenantEntry = Static<typeof TenantEntry>;
export type ApiEntry = Static<typeof ApiEntry>;
export type ClientEntry = Static<typeof ClientEntry>;
export type GrantEntry = Static<typeof GrantEntry>;
export type FederationEntry = Static<typeof FederationEntry>;

/** The nested collections of a tenant entry: not settings of the tenant itself. */
export const TENANT_COLLECTIONS = ['apis', 'clients', 'grants', 'federations'] as const;

/** Field names per kind, from the schemas: what the file may set, and what PATCH may change. */
export const FIELDS = {
  tenant: { settable: Object.keys(omit(CreateTenantBody.properties, ['id'])), patchable: new Set(Object.keys(UpdateTenantBody.properties)) },
  api: { settable: Object.keys(omit(CreateApiBody.properties, ['identifier'])), patchable: new Set(Object.keys(UpdateApiBody.properties)) },
  client: { settable: Object.keys(omit(ClientEntry.properties, ['clientId'])), patchable: new Set(Object.keys(UpdateClientBody.properties)) },
  grant: { settable: Object.keys(omit(CreateGrantBody.properties, ['clientId', 'audience'])), patchable: new Set(Object.keys(UpdateGrantBody.properties)) },
  federation: { settable: Object.keys(omit(CreateFederationBody.properties, ['name'])), patchable: new Set(Object.keys(UpdateFederationBody.properties)) },
} as const;

/** The members of a public JWK that the server keeps: a file's key is compared on these. */
export const PUBLIC_JWK_MEMBERS: readonly string[] = Object.keys(PublicJwk.properties);

/** The file's JSON Schema (draft 2020-12), as committed in docs/ and printed by `tessera plan --schema`. */
export function configJsonSchema(): Record<string, unknown> {
  // TypeBox schemas are JSON Schema; its bookkeeping lives under symbols, which JSON drops.
  const plain = JSON.parse(JSON.stringify(ConfigFileSchema)) as Record<string, unknown>;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'tessera-config.schema.json',
    title: 'Tessera configuration',
    description: 'Tenants, APIs, clients, grants and federations, as `tessera plan` and `tessera apply` read them (docs/config-as-code.md). Field names are those of the management API.',
    ...plain,
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
