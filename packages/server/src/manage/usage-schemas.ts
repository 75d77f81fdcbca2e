/**
 * Schemas of the usage reports (docs/usage.md): the contract the console and the CLI
 * build against. Responses are strict, like every other management response.
 */
import { type Static, Type } from '@sinclair/typebox';
import { CLIENT_ID_PATTERN } from '../domain/clients.js';

const Millis = Type.Integer({ description: 'epoch milliseconds' });
const MillisQuery = Type.String({ pattern: '^[0-9]{1,16}$', description: 'epoch ms' });
const Days = Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: 'days, 1 to the day-bucket retention (400 by default)' });
const NullableMillis = Type.Union([Millis, Type.Null()]);
/**
 * A client id as clients are registered with (a 400 for any other, before the store:
 * PostgreSQL text cannot hold a NUL, and its refusal would be a 500).
 */
const ClientIdQuery = (description?: string) => Type.String({ pattern: CLIENT_ID_PATTERN.source, ...(description !== undefined ? { description } : {}) });

export const UsageQuery = Type.Object({
  clientId: Type.Optional(ClientIdQuery()),
  audience: Type.Optional(Type.String({ maxLength: 512 })),
  granularity: Type.Optional(Type.Union([Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day')], { description: 'default hour' })),
  from: Type.Optional(MillisQuery),
  to: Type.Optional(MillisQuery),
});
export const UsageSeriesBody = Type.Object({
  granularity: Type.String(),
  from: Millis,
  to: Millis,
  series: Type.Array(Type.Object({ start: Millis, issued: Type.Integer(), refused: Type.Integer() })),
});

export const TopQuery = Type.Object({
  by: Type.Optional(Type.Union([Type.Literal('client'), Type.Literal('api')], { description: 'default client' })),
  from: Type.Optional(MillisQuery),
  to: Type.Optional(MillisQuery),
  limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: 'rows, 1 to 1000 (default 50)' })),
  clientId: Type.Optional(ClientIdQuery('only this client\'s tokens: with by=api, the APIs it got tokens for and when it last did')),
});
export const TopBody = Type.Object({
  by: Type.Union([Type.Literal('client'), Type.Literal('api')]),
  from: Millis,
  to: Millis,
  rows: Type.Array(
    Type.Object({
      clientId: Type.Optional(Type.String({ description: 'by=client' })),
      audience: Type.Optional(Type.String({ description: 'by=api: the API identifier' })),
      name: Type.Union([Type.String(), Type.Null()], { description: 'null when the client or API has been deleted since' }),
      issued: Type.Integer(),
      refused: Type.Integer(),
      lastUsedAt: NullableMillis,
    }),
  ),
});

export const DaysQuery = Type.Object({ days: Type.Optional(Days) });
export const UnusedQuery = Type.Object({
  days: Type.Optional(Days),
  limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,5}$', description: 'findings per page, 1 to 200 (larger values mean 200); without it, every finding' })),
  cursor: Type.Optional(Type.String({ maxLength: 512, description: 'nextCursor of the previous page (with the same days)' })),
});
export const WasteQuery = Type.Object({
  days: Type.Optional(Days),
  threshold: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}(\\.[0-9]{1,3})?$', description: 'tokens per needed token above which a client is flagged (default 10)' })),
  clientId: Type.Optional(ClientIdQuery('only this client\'s findings')),
});

const Suggestion = Type.Union([
  Type.Object({ action: Type.Literal('narrow'), scopes: Type.Array(Type.String()) }),
  Type.Object({ action: Type.Literal('revoke') }),
]);
export const UnusedBody = Type.Object({
  days: Type.Integer(),
  grants: Type.Array(
    Type.Object({
      grantId: Type.String(),
      clientId: Type.String(),
      audience: Type.String(),
      grantedScopes: Type.Array(Type.String()),
      usedScopes: Type.Array(Type.String()),
      unusedScopes: Type.Array(Type.String()),
      lastUsedAt: NullableMillis,
      suggestion: Suggestion,
    }),
  ),
  nextCursor: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'with limit or cursor: the next page, null at the end' })),
});
export const ApplyBody = Type.Object(
  { days: Type.Optional(Type.Integer({ minimum: 1, maximum: 9999, description: 'the window the suggestion is computed over (default 30)' })) },
  { additionalProperties: false },
);
export const DormantBody = Type.Object({
  days: Type.Integer(),
  clients: Type.Array(Type.Object({ clientId: Type.String(), name: Type.String(), lastUsedAt: NullableMillis })),
  secrets: Type.Array(Type.Object({ clientId: Type.String(), secretId: Type.String(), lastUsedAt: NullableMillis })),
});
export const WasteBody = Type.Object({
  days: Type.Integer(),
  threshold: Type.Number(),
  clients: Type.Array(
    Type.Object({
      clientId: Type.String(),
      audience: Type.String(),
      scope: Type.String(),
      tokens: Type.Integer(),
      tokenLifetime: Type.Integer({ description: 'seconds' }),
      expectedMax: Type.Integer(),
      ratio: Type.Number(),
    }),
  ),
});

export type UsageQueryString = Static<typeof UsageQuery>;
export type TopQueryString = Static<typeof TopQuery>;
export type WasteQueryString = Static<typeof WasteQuery>;
export type UsageTopResource = Static<typeof TopBody>;
export type UnusedQueryString = Static<typeof UnusedQuery>;
export type Apply = Static<typeof ApplyBody>;
export type UsageSeriesResource = Static<typeof UsageSeriesBody>;
export type UnusedGrantsResource = Static<typeof UnusedBody>;
export type DormantResource = Static<typeof DormantBody>;
export type WasteResource = Static<typeof WasteBody>;
