// @vitest-environment happy-dom
/**
 * The federation editor: every setting of the management API, the server's checks made
 * before sending (and agreeing with the server's own limits), the server's refusal shown
 * at the rule it names, and an edit that takes access away confirmed by name first.
 */
import { Value } from '@sinclair/typebox/value';
import { render } from 'preact';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLAIM_LIMITS, RESERVED_CLAIMS } from '../../server/src/domain/claims.js';
import { MAX_REPLAY_AGE_SECONDS } from '../../server/src/domain/federations.js';
import { CreateFederationBody } from '../../server/src/manage/schemas.js';
import type { Client, Federation } from '../src/api.js';
import { forgetNames } from '../src/names.js';
import { ApiContext, ConfirmHost, MessageRegion, PermissionsContext } from '../src/ui.js';
import { buildFederation, emptyCondition, emptyForm, type FederationForm, formOf, LIMITS, lossesOf, RESERVED_CLAIMS as CONSOLE_RESERVED } from '../src/views/federation-model.js';
import { FederationsView } from '../src/views/federations.js';
import { byText, fakeApi, type, waitFor, clientLookup } from './fake-server.js';

let root: HTMLElement;
beforeEach(() => {
  root = document.createElement('div');
  document.body.append(root);
  forgetNames();
});
afterEach(() => {
  render(null, root);
  root.remove();
});

const client = (id: string, name: string): Client => ({
  clientId: id, name, tenantId: 'default', tokenEndpointAuthMethod: 'private_key_jwt', jwks: null, jwksUri: 'https://keys.example/jwks', tlsClientAuthSubjectDn: null,
  accessTokenLifetime: null, disabled: false, issuer: 'http://x/t/default', tokenEndpoint: 'http://x/t/default/token',
  discoveryEndpoint: 'http://x/t/default/.well-known/openid-configuration', createdAt: 1, updatedAt: 1, secrets: [], customClaims: {},
});
const clients = [client('c-billing', 'billing'), client('c-deploy', 'deploy'), client('c-portal', 'portal')];
const base = { tenantId: 'default', jwksUri: null, jwks: null, audience: null, claimMappings: {}, createdAt: 1 };
const ci: Federation = {
  ...base, id: 'fed_ci', name: 'ci', kind: 'workload', issuer: 'https://token.actions.githubusercontent.com',
  rules: [
    { subject: 'repo:acme/billing:*', claims: { ref: 'refs/heads/main' }, clientId: 'c-billing' },
    { subject: 'repo:acme/deploy:*', clientId: 'c-deploy' },
  ],
  exchangeRules: [], claimMappings: { repository: 'repository' }, replayProtection: { mode: 'off' },
};
const sso: Federation = {
  ...base, id: 'fed_sso', name: 'staff', kind: 'subject', issuer: 'https://login.example.com',
  rules: [], exchangeRules: [{ audience: 'portal-app', clients: ['c-portal', 'c-billing'], claims: { groups: { oneOf: ['staff', 'ops'] } } }],
  replayProtection: { mode: 'max-age', maxAgeSeconds: 300 },
};

function mount(api: ReturnType<typeof fakeApi>['api'], canWrite = true) {
  render(<ApiContext.Provider value={api}><PermissionsContext.Provider value={{ canWrite, allTenants: true }}><FederationsView tenant="default" /><MessageRegion /><ConfirmHost /></PermissionsContext.Provider></ApiContext.Provider>, root);
}
const button = (name: string | RegExp, within: ParentNode = root) => waitFor(() => byText(within, 'button', name));
const labelled = <T extends HTMLElement>(text: string, within: ParentNode = root) =>
  waitFor(() => {
    const label = [...within.querySelectorAll('label[for]')].find((l) => l.textContent?.trim() === text);
    const id = label?.getAttribute('for');
    return id ? (within.querySelector(`#${id}`) as T | null) : null;
  });
const named = (label: string) => waitFor(() => root.querySelector<HTMLButtonElement>(`button[aria-label="${label}"]`));
const dialog = () => waitFor(() => root.querySelector<HTMLElement>('[role="alertdialog"]'));
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
/** Picks an option once the list holds it (the client names load after the form). */
const choose = async (select: HTMLSelectElement, value: string) => {
  await waitFor(() => select.querySelector(`option[value="${value}"]`));
  select.value = value;
  select.dispatchEvent(new Event('change', { bubbles: true }));
};

function server(federations: Federation[], answers: { post?: (body: unknown) => { status: number; body?: unknown }; patch?: (body: unknown) => { status: number; body?: unknown } } = {}) {
  return fakeApi({
    'GET /manage/v1/tenants/default/clients': () => ({ status: 200, body: { items: clients, nextCursor: null } }),
    'GET /manage/v1/tenants/default/clients/:id': clientLookup(clients),
    'GET /manage/v1/tenants/default/apis': () => ({ status: 200, body: { items: [], nextCursor: null } }),
    'GET /manage/v1/tenants/default/federations': () => ({ status: 200, body: { items: federations, nextCursor: null } }),
    'POST /manage/v1/tenants/default/federations': ({ body }) => answers.post?.(body) ?? { status: 201, body: { ...ci, ...(body as object), id: 'fed_new' } },
    'PATCH /manage/v1/tenants/default/federations/fed_ci': ({ body }) => answers.patch?.(body) ?? { status: 200, body: { ...ci, ...(body as object) } },
    'PATCH /manage/v1/tenants/default/federations/fed_sso': ({ body }) => answers.patch?.(body) ?? { status: 200, body: { ...sso, ...(body as object) } },
  });
}

describe('the federation model agrees with the server', () => {
  it('has the server\'s reserved claim names and limits', () => {
    expect([...CONSOLE_RESERVED].sort()).toEqual([...RESERVED_CLAIMS].sort());
    expect(LIMITS.maxConditions).toBe(CLAIM_LIMITS.maxCount);
    expect(LIMITS.maxMappings).toBe(CLAIM_LIMITS.maxCount);
    expect(LIMITS.maxMappedNameLength).toBe(CLAIM_LIMITS.maxNameLength);
    expect(LIMITS.maxReplayAge).toBe(MAX_REPLAY_AGE_SECONDS);
  });

  it('builds bodies the server\'s schema accepts, for both kinds, and reads them back unchanged', () => {
    for (const federation of [ci, sso]) {
      const built = buildFederation(formOf(federation));
      if ('errors' in built) throw new Error(JSON.stringify(built.errors));
      expect(Value.Check(CreateFederationBody, built.input)).toBe(true);
      expect(lossesOf(federation, built, (id) => id)).toEqual([]);
    }
  });

  it('names each mistake at its place, in words', () => {
    const form: FederationForm = { ...emptyForm(), name: ' ', issuer: 'https://issuer.example/?tenant=1', keySource: 'jwks', jwks: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}', replay: 'max-age', maxAge: 'ten minutes' };
    const rule = form.rules[0]!;
    rule.subject = 'repo:*:main';
    rule.conditions = [{ ...emptyCondition(), claim: 'ref', operator: 'oneOf', value: ' , ' }];
    form.mappings = [{ key: 7, target: 'sub', source: 'sub' }];
    const result = buildFederation(form);
    if (!('errors' in result)) throw new Error('accepted a broken form');
    expect(result.errors['name']).toMatch(/1 to 100 characters/);
    expect(result.errors['issuer']).toMatch(/query or fragment/);
    expect(result.errors['jwks']).toMatch(/public keys only/);
    expect(result.errors['maxAgeSeconds']).toMatch(/1 to 86400; "ten minutes" is not/);
    expect(result.errors[`rule.${rule.key}.subject`]).toMatch(/only end in \*/);
    expect(result.errors[`rule.${rule.key}.clientId`]).toMatch(/choose the client/);
    expect(result.errors[`condition.${rule.conditions[0]!.key}`]).toMatch(/1 to 100 values/);
    expect(result.errors['mapping.7']).toMatch(/registered claim/);
  });

  it('refuses a rule that would match every token of the issuer', () => {
    const form = { ...emptyForm(), name: 'k8s', issuer: 'https://k8s.example' };
    form.rules[0]!.clientId = 'c-deploy';
    const result = buildFederation(form);
    expect('errors' in result && result.errors[`rule.${form.rules[0]!.key}.subject`]).toMatch(/give a subject or at least one claim condition/);
  });
});

describe('federations in the console', () => {
  it('shows the token-exchange federation with its audience, clients and replay mode, not as a blank row', async () => {
    const { api } = server([ci, sso]);
    mount(api);
    const row = await waitFor(() => byText(root, 'tr', 'staff'));
    expect(row.textContent).toContain('Token exchange (RFC 8693)');
    expect(row.textContent).toContain('portal-app');
    expect(row.textContent).toMatch(/portal, billing/);
    expect(row.textContent).toContain('max age 300 s');
    expect(byText(root, 'tr', 'ci')?.textContent).toContain('repository');
  });

  it('shows a viewer every federation but no form and no control that changes one', async () => {
    const { api } = server([ci, sso]);
    mount(api, false);
    await waitFor(() => byText(root, 'tr', 'staff'));
    expect(root.querySelector('form')).toBeNull();
    expect(byText(root, 'button', /^(Edit|Delete)$|Create federation|Save federation/)).toBeNull();
  });

  it('creates a token-exchange federation with exchange rules, conditions, mappings and replay protection', async () => {
    const { api, calls } = server([]);
    mount(api);
    type(await labelled<HTMLInputElement>('Name'), 'staff');
    type(await labelled<HTMLInputElement>('Issuer'), 'https://login.example.com');
    (byText(root, 'label', 'Token exchange') as HTMLLabelElement).querySelector('input')!.click();
    (byText(root, 'label', 'Discovery') as HTMLLabelElement).querySelector('input')!.click();
    await settle();
    type(await labelled<HTMLInputElement>('Audience 1'), 'portal-app');
    await choose(await waitFor(() => byText(root, 'fieldset', 'Clients of exchange rule 1')?.querySelector('select') ?? null), 'c-portal');
    (await button('Add claim condition')).click();
    type(await labelled<HTMLInputElement>('Claim 1'), 'groups');
    await choose(await labelled<HTMLSelectElement>('Test 1'), 'oneOf');
    type(await labelled<HTMLInputElement>('Value 1'), 'staff, ops');
    (await button('Add claim mapping')).click();
    type(await labelled<HTMLInputElement>('Claim in issued tokens 1'), 'email');
    type(await labelled<HTMLInputElement>('External claim 1'), 'email');
    await choose(await labelled<HTMLSelectElement>('Replay protection'), 'single-use');
    await settle();
    (await button('Create federation')).click();
    await waitFor(() => calls.find((c) => c.method === 'POST'));
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({
      name: 'staff', kind: 'subject', issuer: 'https://login.example.com', jwksUri: null, jwks: null, audience: null, rules: [],
      exchangeRules: [{ audience: 'portal-app', clients: ['c-portal'], claims: { groups: { oneOf: ['staff', 'ops'] } } }],
      claimMappings: { email: 'email' }, replayProtection: { mode: 'single-use' },
    });
    await waitFor(() => byText(root, '.message', 'Federation staff created'));
  });

  it('does not send a form the server would refuse, and says what is wrong at the field', async () => {
    const { api, calls } = server([]);
    mount(api);
    type(await labelled<HTMLInputElement>('Name'), 'ci');
    type(await labelled<HTMLInputElement>('Issuer'), 'token.actions.githubusercontent.com');
    type(await labelled<HTMLInputElement>('Subject 1'), 'repo:acme/*');
    (await button('Create federation')).click();
    await waitFor(() => byText(root, '.field-error', 'absolute https URL'));
    expect(byText(root, '.field-error', 'choose the client')).not.toBeNull();
    expect((await labelled<HTMLInputElement>('Issuer')).getAttribute('aria-invalid')).toBe('true');
    expect(calls.some((c) => c.method === 'POST')).toBe(false);
  });

  it('shows the server\'s refusal at the rule it names', async () => {
    const { api } = server([], { post: () => ({ status: 422, body: { error: 'validation_failed', message: 'rule names client "c-deploy", which does not exist in this tenant' } }) });
    mount(api);
    type(await labelled<HTMLInputElement>('Name'), 'ci');
    type(await labelled<HTMLInputElement>('Issuer'), 'https://token.actions.githubusercontent.com');
    type(await labelled<HTMLInputElement>('JWK Set URL'), 'https://token.actions.githubusercontent.com/.well-known/jwks');
    type(await labelled<HTMLInputElement>('Subject 1'), 'repo:acme/deploy:*');
    await choose(await labelled<HTMLSelectElement>('Client 1'), 'c-deploy');
    await settle();
    (await button('Create federation')).click();
    const error = await waitFor(() => byText(root, '.rules > .field-error', 'does not exist in this tenant'));
    expect(error.textContent).toContain('c-deploy');
  });

  it('places a refusal naming rules[1] under the second rule', async () => {
    const { api } = server([ci], { patch: () => ({ status: 422, body: { error: 'validation_failed', message: 'rules[1], claim "ref": give exactly one of equals, prefix, oneOf (got none)' } }) });
    mount(api);
    (await button('Edit')).click();
    await settle();
    await button('Save federation');
    (await button('Save federation')).click();
    const card = await waitFor(() => byText(root, '[role="group"]', /Subject 2/));
    await waitFor(() => byText(card, '.field-error', 'claim "ref": give exactly one of equals, prefix, oneOf'));
  });

  it('confirms removing a rule, naming the rule and the client that loses it; Cancel sends nothing', async () => {
    const { api, calls } = server([ci]);
    mount(api);
    (await button('Edit')).click();
    await settle();
    (await button('Remove rule')).click();
    (await button('Save federation')).click();
    const confirm = await dialog();
    expect(confirm.textContent).toContain('repo:acme/billing:* with ref → billing');
    expect(confirm.textContent).toContain('can no longer act as billing');
    (await button('Cancel', confirm)).click();
    await settle();
    expect(calls.some((c) => c.method === 'PATCH')).toBe(false);
    (await button('Save federation')).click();
    (await button('Save and lose this access', await dialog())).click();
    await waitFor(() => calls.find((c) => c.method === 'PATCH'));
    const body = calls.find((c) => c.method === 'PATCH')?.body as { rules: unknown[] };
    expect(body.rules).toEqual([{ subject: 'repo:acme/deploy:*', clientId: 'c-deploy' }]);
  });

  it('confirms narrowing an exchange rule and a shorter max age, naming the client and the claim lost', async () => {
    const { api, calls } = server([sso]);
    mount(api);
    (await button('Edit')).click();
    await settle();
    (await named('Remove billing from clients of exchange rule 1')).click();
    type(await labelled<HTMLInputElement>('Maximum age (seconds)'), '60');
    await settle();
    (await button('Save federation')).click();
    const confirm = await dialog();
    expect(confirm.textContent).toContain('billing can no longer exchange tokens for audience portal-app');
    expect(confirm.textContent).toContain('older than 60 seconds');
    (await button('Save and lose this access', confirm)).click();
    await waitFor(() => calls.find((c) => c.method === 'PATCH'));
    expect(calls.find((c) => c.method === 'PATCH')?.body).toMatchObject({ exchangeRules: [{ audience: 'portal-app', clients: ['c-portal'] }], replayProtection: { mode: 'max-age', maxAgeSeconds: 60 } });
  });

  it('saves a change that only adds without asking', async () => {
    const { api, calls } = server([ci]);
    mount(api);
    (await button('Edit')).click();
    await settle();
    (await button('Add rule')).click();
    type(await labelled<HTMLInputElement>('Subject 3'), 'repo:acme/portal:*');
    await choose(await labelled<HTMLSelectElement>('Client 3'), 'c-portal');
    await settle();
    (await button('Save federation')).click();
    await waitFor(() => calls.find((c) => c.method === 'PATCH'));
    expect(root.querySelector('[role="alertdialog"]')).toBeNull();
    expect((calls.find((c) => c.method === 'PATCH')?.body as { rules: unknown[] }).rules).toHaveLength(3);
  });
});
