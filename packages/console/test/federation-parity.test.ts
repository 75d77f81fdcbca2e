/**
 * The console's federation checks and the server's agree: each federation below is
 * refused by both (the console before sending, the management API with 400/422) or
 * accepted by both. The server here is the real app, built without listening.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServer, type TestServer } from '../../server/test/helpers/app.js';
import type { Federation } from '../src/api.js';
import { buildFederation, formOf } from '../src/views/federation-model.js';

let t: TestServer;
let clientId: string;
beforeAll(async () => {
  t = await createTestServer();
  clientId = (await t.manage('POST', '/tenants/default/clients', { name: 'ci' })).body.clientId as string;
});
afterAll(async () => {
  await t?.close();
});

type Body = Partial<Omit<Federation, 'id' | 'tenantId' | 'createdAt'>>;
const workload = (over: Body = {}): Body => ({ name: 'ci', kind: 'workload', issuer: 'https://token.actions.githubusercontent.com', jwksUri: 'https://token.actions.githubusercontent.com/.well-known/jwks', rules: [{ subject: 'repo:acme/*', clientId: 'CLIENT' }], ...over });
const subject = (over: Body = {}): Body => ({ name: 'staff', kind: 'subject', issuer: 'https://login.example.com', exchangeRules: [{ audience: 'portal', clients: ['CLIENT'] }], ...over });

const CASES: [string, Body, 'accepted' | 'refused'][] = [
  ['a workload federation with a prefix subject', workload(), 'accepted'],
  ['claim conditions of every kind', workload({ rules: [{ claims: { repository: 'acme/app', ref: { prefix: 'refs/heads/' }, environment: { oneOf: ['prod', 'staging'] } }, clientId: 'CLIENT' }] }), 'accepted'],
  ['keys by discovery, claim mappings and single use', workload({ jwksUri: null, claimMappings: { repository: 'repository', 'https://example.com/env': 'environment' }, replayProtection: { mode: 'single-use' } }), 'accepted'],
  ['a maximum age of a day', workload({ replayProtection: { mode: 'max-age', maxAgeSeconds: 86_400 } }), 'accepted'],
  ['a token-exchange federation', subject({ exchangeRules: [{ audience: 'portal', clients: ['CLIENT'], claims: { groups: { oneOf: ['staff'] } } }] }), 'accepted'],
  ['a * inside the subject', workload({ rules: [{ subject: 'repo:*:main', clientId: 'CLIENT' }] }), 'refused'],
  ['a rule matching every token', workload({ rules: [{ clientId: 'CLIENT' }] }), 'refused'],
  ['an empty prefix', workload({ rules: [{ subject: 'x', claims: { ref: { prefix: '' } }, clientId: 'CLIENT' }] }), 'refused'],
  ['an empty oneOf', workload({ rules: [{ subject: 'x', claims: { ref: { oneOf: [] } }, clientId: 'CLIENT' }] }), 'refused'],
  ['a mapping onto a registered claim', workload({ claimMappings: { sub: 'sub' } }), 'refused'],
  ['a mapping name starting with a digit', workload({ claimMappings: { '1team': 'team' } }), 'refused'],
  ['a mapping name of 65 characters', workload({ claimMappings: { ['a'.repeat(65)]: 'team' } }), 'refused'],
  ['21 claim mappings', workload({ claimMappings: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`c${i}`, `c${i}`])) }), 'refused'],
  ['a maximum age of 0', workload({ replayProtection: { mode: 'max-age', maxAgeSeconds: 0 } }), 'refused'],
  ['a maximum age over a day', workload({ replayProtection: { mode: 'max-age', maxAgeSeconds: 86_401 } }), 'refused'],
  ['an issuer with a query', workload({ issuer: 'https://token.actions.githubusercontent.com/?x=1' }), 'refused'],
  ['an issuer that is not a URL', workload({ issuer: 'token.actions.githubusercontent.com' }), 'refused'],
  ['an issuer with credentials', workload({ issuer: 'https://user:pw@issuer.example.com' }), 'refused'],
  ['a private key in the JWK Set', workload({ jwksUri: null, jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' }] } as unknown as Federation['jwks'] }), 'refused'],
  ['an empty name', workload({ name: ' ' }), 'refused'],
  ['a workload federation without rules', workload({ rules: [] }), 'refused'],
  ['an exchange rule without clients', subject({ exchangeRules: [{ audience: 'portal', clients: [] }] }), 'refused'],
  ['an exchange rule without audience', subject({ exchangeRules: [{ audience: '', clients: ['CLIENT'] }] }), 'refused'],
];

/** The body as the server would list it (what the console's edit form starts from). */
function asListed(body: Body): Federation {
  return { id: 'fed_x', tenantId: 'default', createdAt: 1, jwksUri: null, jwks: null, audience: null, rules: [], exchangeRules: [], claimMappings: {}, replayProtection: { mode: 'off' }, name: '', kind: 'workload', issuer: '', ...body } as Federation;
}
const withClient = (body: Body): Body => JSON.parse(JSON.stringify(body).replaceAll('"CLIENT"', JSON.stringify(clientId))) as Body;

describe('the console refuses exactly what the management API refuses', () => {
  for (const [name, body, expected] of CASES) {
    it(`${name}: ${expected} by both`, async () => {
      const sent = withClient(body);
      const server = await t.manage('POST', '/tenants/default/federations', sent);
      expect(server.status, JSON.stringify(server.body)).toBe(expected === 'accepted' ? 201 : server.status === 400 ? 400 : 422);
      const built = buildFederation(formOf(asListed(sent)));
      expect('errors' in built ? 'refused' : 'accepted', 'errors' in built ? JSON.stringify(built.errors) : '').toBe(expected);
    });
  }
});
