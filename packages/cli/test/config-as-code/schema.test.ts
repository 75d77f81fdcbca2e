/** The committed JSON Schema of the configuration file is the one the CLI builds from the management API's schemas. */
import { readFile } from 'node:fs/promises';
import Ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configJsonSchema, configJsonSchemaText, SCHEMA_FILE } from '../../src/config-as-code/schema.js';
import { REPO_ROOT } from '../helpers/tessera-process.js';

describe(SCHEMA_FILE, () => {
  it('is up to date (regenerate: npm run generate:config-schema)', async () => {
    expect(await readFile(`${REPO_ROOT}${SCHEMA_FILE}`, 'utf8')).toBe(configJsonSchemaText());
  });

  it('is a draft 2020-12 schema that accepts the documented example and refuses an unknown field', async () => {
    const ajv = new Ajv2020.default({ strict: false });
    const validate = ajv.compile(configJsonSchema());
    const example = parse(`version: 1
tenants:
  - id: payments
    name: Payments
    signingAlg: ES256
    apis:
      - identifier: https://orders.example.com
        scopes: [orders:read, { value: orders:write, description: Create orders }]
    clients:
      - clientId: billing-service
        name: Billing
        tokenEndpointAuthMethod: client_secret_basic
    grants:
      - clientId: billing-service
        audience: https://orders.example.com
        scopes: [orders:read]
    federations: []
`);
    expect(validate(example), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...example, tenants: [{ id: 'x', colour: 'blue' }] })).toBe(false);
    expect(validate({ version: 1, tenants: [{ id: 'x', clients: [{ clientId: 'a', name: 'A', clientSecret: 'x'.repeat(40) }] }] })).toBe(false);
  });

  it('names every field of the management API\'s client body but the secret', () => {
    const client = (configJsonSchema() as { properties: { tenants: { items: { properties: { clients: { items: { properties: Record<string, unknown> } } } } } } })
      .properties.tenants.items.properties.clients.items.properties;
    expect(Object.keys(client)).toContain('tokenEndpointAuthMethod');
    expect(Object.keys(client)).toContain('customClaims');
    expect(Object.keys(client)).not.toContain('clientSecret');
  });
});
