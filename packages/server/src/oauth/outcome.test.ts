import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/config.js';
import type { TenantContext } from '../domain/tenant-context.js';
import type { UsageRecording } from '../domain/usage.js';
import { PresentedCredentials } from './client-auth/presented-credentials.js';
import { InvalidClient, InvalidScope } from './errors.js';
import type { ProtocolOutcome } from './outcome.js';
import { Params, parseForm } from './params.js';
import { Protection } from './protection.js';
import { usageRefusals } from './usage-refusals.js';

const known = new Set(['known-client']);
const tenant = {
  tenant: { id: 't1' },
  apisByIdentifier: new Map([['https://api.example', {}]]),
  client: async (id: string) => (known.has(id) ? {} : null),
} as unknown as TenantContext;

function outcome(body: string, authorization: string | undefined, overrides: Partial<ProtocolOutcome> = {}): ProtocolOutcome {
  const params = new Params(parseForm(body));
  return {
    endpoint: 'token',
    tenant,
    source: '192.0.2.1',
    params,
    credentials: new PresentedCredentials(authorization, params),
    client: null,
    grantType: 'client_credentials',
    error: null,
    authenticationFailure: null,
    seconds: 0.001,
    ...overrides,
  };
}
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

describe('protection consumes outcomes', () => {
  const config = resolveConfig({ rateLimit: { authFailures: { perSource: 100, perClientAndSource: 2, perClient: 1000 } } }).rateLimit;

  it('a failed secret counts for the client it claimed from that address; two and it backs off there only', () => {
    const protection = new Protection(config, () => 0);
    const failed = outcome('grant_type=client_credentials', basic('known-client', 'wrong'), { error: new InvalidClient('x'), authenticationFailure: { method: 'client_secret_basic' } });
    protection.outcome(failed);
    expect(protection.authBackoff('t1', '192.0.2.1', failed.credentials as PresentedCredentials)).toBe(0);
    protection.outcome(failed);
    expect(protection.authBackoff('t1', '192.0.2.1', failed.credentials as PresentedCredentials)).toBeGreaterThan(0);
    expect(protection.authBackoff('t1', '192.0.2.99', failed.credentials as PresentedCredentials)).toBe(0);
  });

  it('a refusal that is not a failed authentication (invalid_scope) counts for nobody', () => {
    const protection = new Protection(config, () => 0);
    const refused = outcome('grant_type=client_credentials&scope=nope', basic('known-client', 's'), { error: new InvalidScope('x') });
    for (let i = 0; i < 5; i++) protection.outcome(refused);
    expect(protection.authBackoff('t1', '192.0.2.1', refused.credentials as PresentedCredentials)).toBe(0);
  });
});

describe('usage consumes outcomes', () => {
  function recorder() {
    const refused: string[][] = [];
    const usage = { refused: (...args: string[]) => refused.push(args), issued() {}, keyUsed() {} } as unknown as UsageRecording;
    return { usage, refused };
  }

  it('a refused token request counts under its tenant, the claimed client when it exists, and the API when it exists', async () => {
    const { usage, refused } = recorder();
    const listener = usageRefusals(usage);
    listener.outcome(outcome('grant_type=client_credentials&resource=https%3A%2F%2Fapi.example', basic('known-client', 'x'), { error: new InvalidScope('x') }));
    listener.outcome(outcome('grant_type=client_credentials&audience=https%3A%2F%2Fother', basic('stranger', 'x'), { error: new InvalidClient('x') }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(refused).toEqual([
      ['t1', 'known-client', 'https://api.example', 'invalid_scope'],
      ['t1', '', '', 'invalid_client'],
    ]);
  });

  it('counts nothing for a success, another endpoint, or an unknown tenant', async () => {
    const { usage, refused } = recorder();
    const listener = usageRefusals(usage);
    listener.outcome(outcome('grant_type=client_credentials', basic('known-client', 'x')));
    listener.outcome(outcome('token=abc', basic('known-client', 'x'), { endpoint: 'introspect', error: new InvalidClient('x') }));
    listener.outcome(outcome('grant_type=client_credentials', basic('known-client', 'x'), { tenant: null, error: new InvalidClient('x') }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(refused).toEqual([]);
  });
});
