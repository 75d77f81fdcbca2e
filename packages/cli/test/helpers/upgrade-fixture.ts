/**
 * The databases a released build left behind (test/fixtures/upgrade-<commit>/, made by
 * test/fixtures/make-upgrade-fixture.mjs), and the checks that HEAD serves them: every
 * client gets tokens with its old secrets, the old tokens verify against the JWKS,
 * audit and usage rows remain.
 */
import { cp } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { expect } from 'vitest';
import { REPO_ROOT } from './tessera-process.js';

export const FIXTURE_DIR = join(REPO_ROOT, 'test/fixtures/upgrade-372020f');

export interface UpgradeFacts {
  madeWith: string;
  publicUrl: string;
  tenant: string;
  audience: string;
  clients: { clientId: string; secrets: string[]; scope: string }[];
  tokens: { clientId: string; token: string; kid: string }[];
  keys: { kid: string; status: string }[];
  auditIds: string[];
  usage: { clientId: string; query: string; issued: number }[];
}

export interface PostgresFacts extends UpgradeFacts {
  masterKey: string;
  admin: { clientId: string; clientSecret: string };
}

export function sqliteFacts(): UpgradeFacts {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, 'sqlite.json'), 'utf8')) as UpgradeFacts;
}

export function postgresFacts(): PostgresFacts {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, 'postgres.json'), 'utf8')) as PostgresFacts;
}

/** A copy of the released SQLite data directory (the fixture itself stays untouched). */
export async function copySqliteDataDir(to: string): Promise<void> {
  await cp(join(FIXTURE_DIR, 'sqlite'), to, { recursive: true });
}

/** Flags the upgraded server runs with: the fixture's issuer, and usage kept however old the fixture is. */
export function upgradeArgs(facts: UpgradeFacts): string[] {
  return ['--public-url', facts.publicUrl, '--usage-retention', '36500,36500,36500'];
}

async function token(url: string, tenant: string, form: Record<string, string>): Promise<Response> {
  return fetch(`${url}/t/${tenant}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...form }),
    signal: AbortSignal.timeout(10_000),
  });
}

/** Everything the release acknowledged is served by the upgraded server at `url`. */
export async function expectUpgraded(url: string, facts: UpgradeFacts, admin: { clientId: string; clientSecret: string }): Promise<void> {
  for (const client of facts.clients) {
    for (const secret of client.secrets) {
      const response = await token(url, facts.tenant, { client_id: client.clientId, client_secret: secret, audience: facts.audience, scope: client.scope });
      expect(response.status, `${client.clientId} with an old secret`).toBe(200);
    }
  }

  const jwks = (await (await fetch(`${url}/t/${facts.tenant}/jwks.json`)).json()) as Parameters<typeof createLocalJWKSet>[0];
  const keySet = createLocalJWKSet(jwks);
  for (const old of facts.tokens) {
    const { iat } = decodeJwt(old.token);
    const { payload, protectedHeader } = await jwtVerify(old.token, keySet, {
      issuer: `${facts.publicUrl}/t/${facts.tenant}`,
      audience: facts.audience,
      currentDate: new Date((iat ?? 0) * 1000),
    });
    expect(protectedHeader.kid).toBe(old.kid);
    expect(payload.client_id ?? payload.sub).toBe(old.clientId);
  }

  const adminResponse = await token(url, 'admin', { client_id: admin.clientId, client_secret: admin.clientSecret, audience: 'urn:tessera:management', scope: 'manage:read' });
  expect(adminResponse.status).toBe(200);
  const adminToken = ((await adminResponse.json()) as { access_token: string }).access_token;
  const get = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}/manage/v1${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(response.status, path).toBe(200);
    return (await response.json()) as T;
  };
  const audit = await get<{ items: { id: string }[] }>(`/tenants/${facts.tenant}/audit?limit=100`);
  const ids = new Set(audit.items.map((entry) => entry.id));
  for (const id of facts.auditIds) expect(ids.has(id), `audit entry ${id}`).toBe(true);
  for (const usage of facts.usage) {
    const report = await get<{ series: { issued: number }[] }>(`/tenants/${facts.tenant}/usage?${usage.query}`);
    // At least: the window reaches an hour past the fixture, so a test run within it adds its own tokens.
    expect(report.series.reduce((sum, bucket) => sum + bucket.issued, 0), `tokens issued to ${usage.clientId}`).toBeGreaterThanOrEqual(usage.issued);
  }
}
