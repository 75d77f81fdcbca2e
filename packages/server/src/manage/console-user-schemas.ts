/**
 * Schemas of the console users (docs/console.md): the contract the console and the
 * CLI build against. The password is in a response only when the server has just
 * generated it (creation, reset); the hash never is.
 */
import { type Static, Type } from '@sinclair/typebox';

const Role = Type.Union([Type.Literal('viewer'), Type.Literal('admin')], { description: 'a viewer reads; an admin also changes' });
const Username = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$', description: 'letters, digits and . _ @ + - (not first), up to 100' });
const TenantIds = Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }), {
  minItems: 1,
  maxItems: 200,
  description: 'the tenants the user may act on; absent or null: every tenant (the admin tenant only then)',
});
const Millis = Type.Integer({ description: 'epoch milliseconds' });

export const ConsoleUserParams = Type.Object({ username: Type.String() });
export const CreateConsoleUserBody = Type.Object(
  { username: Username, role: Role, tenants: Type.Optional(Type.Union([TenantIds, Type.Null()])) },
  { additionalProperties: false },
);
export const UpdateConsoleUserBody = Type.Object(
  {
    role: Type.Optional(Role),
    tenants: Type.Optional(Type.Union([TenantIds, Type.Null()])),
    resetPassword: Type.Optional(Type.Boolean({ description: 'true: generate a new password (answered once) and end the sessions signed in with the old one' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
const userFields = {
  username: Type.String(),
  role: Role,
  tenants: Type.Optional(Type.Array(Type.String(), { description: 'absent: every tenant' })),
  createdAt: Millis,
  updatedAt: Type.Union([Millis, Type.Null()]),
};
export const ConsoleUserBody = Type.Object(userFields);
export const CreatedConsoleUserBody = Type.Object({ ...userFields, password: Type.String({ description: 'shown once' }) });
export const UpdatedConsoleUserBody = Type.Object({ ...userFields, password: Type.Optional(Type.String({ description: 'only after resetPassword; shown once' })) });

/** Who the caller is and what it may do: what the console shows and hides. */
export const WhoamiBody = Type.Object({
  actor: Type.String({ description: 'the client id, or console:<username> for a console session' }),
  clientId: Type.String(),
  scopes: Type.Array(Type.String(), { description: 'the management scopes this caller holds now (a viewer: manage:read only)' }),
  tenants: Type.Optional(Type.Array(Type.String(), { description: 'absent: every tenant' })),
  role: Type.Optional(Role),
});

export type WhoamiResource = Static<typeof WhoamiBody>;
export type CreateConsoleUser = Static<typeof CreateConsoleUserBody>;
export type UpdateConsoleUser = Static<typeof UpdateConsoleUserBody>;
export type ConsoleUserResource = Static<typeof ConsoleUserBody>;
export type CreatedConsoleUserResource = Static<typeof CreatedConsoleUserBody>;
export type UpdatedConsoleUserResource = Static<typeof UpdatedConsoleUserBody>;
