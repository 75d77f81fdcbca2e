/**
 * A federation as the console edits it: the form's state, the checks the management API
 * makes (domain/federations.ts and domain/claims.ts on the server), the request body,
 * where a server refusal belongs in the form, and, for an edit, what the change takes
 * away (so the confirmation can name it before anything is sent).
 */
import { ApiError, type Federation, type FederationInput } from '../api.js';

export type ConditionOperator = 'equals' | 'prefix' | 'oneOf';
/** One claim condition: `oneOf` values are written comma-separated. */
export interface ConditionForm { key: number; claim: string; operator: ConditionOperator; value: string }
export interface WorkloadRuleForm { key: number; subject: string; clientId: string; conditions: ConditionForm[] }
export interface ExchangeRuleForm { key: number; audience: string; clients: string[]; conditions: ConditionForm[] }
export interface MappingForm { key: number; target: string; source: string }
export type FederationKind = 'workload' | 'subject';
export type KeySource = 'discovery' | 'jwksUri' | 'jwks';
export type ReplayMode = 'off' | 'single-use' | 'max-age';

export interface FederationForm {
  name: string;
  kind: FederationKind;
  issuer: string;
  keySource: KeySource;
  jwksUri: string;
  jwks: string;
  audience: string;
  rules: WorkloadRuleForm[];
  exchangeRules: ExchangeRuleForm[];
  mappings: MappingForm[];
  replay: ReplayMode;
  maxAge: string;
}

/** Errors by place: `name`, `issuer`, `rules`, `rule.<key>`, `rule.<key>.subject`, `condition.<key>`, `mapping.<key>`, `maxAgeSeconds`, `form`. */
export type FormErrors = Record<string, string>;

/** The server's limits (domain/claims.ts CLAIM_LIMITS and RESERVED_CLAIMS; test/federation-model.test.ts checks they agree). */
export const LIMITS = { maxConditions: 20, maxMappings: 20, maxRules: 100, maxClientsPerRule: 100, maxOneOf: 100, maxClaimNameLength: 256, maxMappedNameLength: 64, maxSourceLength: 256, maxReplayAge: 86_400 };
export const RESERVED_CLAIMS: readonly string[] = [
  'iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti',
  'client_id', 'scope', 'cnf', 'act', 'may_act', 'typ',
  'azp', 'auth_time', 'acr', 'amr', 'nonce', 'at_hash', 'c_hash', 'sid',
  'active', 'token_type', 'username',
];
const CLAIM_NAME = /^[A-Za-z_][A-Za-z0-9_.:\-/]*$/;

let nextKey = 1;
/** A key for a row added in the form (rows loaded from the server get theirs in formOf). */
export const newKey = (): number => 1_000_000 + nextKey++;

export const emptyCondition = (): ConditionForm => ({ key: newKey(), claim: '', operator: 'equals', value: '' });
export const emptyRule = (): WorkloadRuleForm => ({ key: newKey(), subject: '', clientId: '', conditions: [] });
export const emptyExchangeRule = (): ExchangeRuleForm => ({ key: newKey(), audience: '', clients: [], conditions: [] });
export const emptyMapping = (): MappingForm => ({ key: newKey(), target: '', source: '' });

export function emptyForm(): FederationForm {
  return { name: '', kind: 'workload', issuer: '', keySource: 'jwksUri', jwksUri: '', jwks: '', audience: '', rules: [emptyRule()], exchangeRules: [emptyExchangeRule()], mappings: [], replay: 'off', maxAge: '' };
}

type Condition = string | { equals: string } | { prefix: string } | { oneOf: string[] };

function conditionForm(claim: string, condition: unknown): ConditionForm {
  const c = condition as Condition;
  if (typeof c === 'string') return { key: newKey(), claim, operator: 'equals', value: c };
  if ('prefix' in c) return { key: newKey(), claim, operator: 'prefix', value: c.prefix };
  if ('oneOf' in c) return { key: newKey(), claim, operator: 'oneOf', value: c.oneOf.join(', ') };
  return { key: newKey(), claim, operator: 'equals', value: 'equals' in c ? c.equals : '' };
}
const conditionsForm = (claims: Record<string, unknown> | undefined): ConditionForm[] => Object.entries(claims ?? {}).map(([claim, c]) => conditionForm(claim, c));

/** The form for an existing federation: its rules keep their index as key, so an edit can say which ones it drops. */
export function formOf(f: Federation): FederationForm {
  return {
    name: f.name,
    kind: f.kind === 'subject' ? 'subject' : 'workload',
    issuer: f.issuer,
    keySource: f.jwksUri !== null ? 'jwksUri' : f.jwks !== null ? 'jwks' : 'discovery',
    jwksUri: f.jwksUri ?? '',
    jwks: f.jwks !== null ? JSON.stringify(f.jwks, null, 2) : '',
    audience: f.audience ?? '',
    rules: f.rules.length > 0 ? f.rules.map((r, i) => ({ key: i, subject: r.subject ?? '', clientId: r.clientId, conditions: conditionsForm(r.claims) })) : [emptyRule()],
    exchangeRules: f.exchangeRules.length > 0 ? f.exchangeRules.map((r, i) => ({ key: i, audience: r.audience, clients: [...r.clients], conditions: conditionsForm(r.claims) })) : [emptyExchangeRule()],
    mappings: Object.entries(f.claimMappings).map(([target, source]) => ({ key: newKey(), target, source })),
    replay: f.replayProtection.mode === 'single-use' || f.replayProtection.mode === 'max-age' ? f.replayProtection.mode : 'off',
    maxAge: f.replayProtection.maxAgeSeconds?.toString() ?? '',
  };
}

/** What the request sends, and which form row each sent rule came from (to place the server's answer). */
export interface Built { input: FederationInput; ruleKeys: number[]; exchangeRuleKeys: number[] }

const blankConditions = (conditions: ConditionForm[]) => conditions.every((c) => c.claim.trim() === '' && c.value.trim() === '');
const isBlankRule = (r: WorkloadRuleForm) => r.subject.trim() === '' && r.clientId === '' && blankConditions(r.conditions);
const isBlankExchangeRule = (r: ExchangeRuleForm) => r.audience.trim() === '' && r.clients.length === 0 && blankConditions(r.conditions);

function conditionsOf(conditions: ConditionForm[], errors: FormErrors, at: string): Record<string, Condition> {
  const out: Record<string, Condition> = {};
  const used = conditions.filter((c) => c.claim.trim() !== '' || c.value.trim() !== '');
  if (used.length > LIMITS.maxConditions) errors[at] = `at most ${LIMITS.maxConditions} claim conditions`;
  for (const c of used) {
    const claim = c.claim.trim();
    const where = `condition.${c.key}`;
    if (claim === '' || claim.length > LIMITS.maxClaimNameLength) {
      errors[where] = `name the claim (1 to ${LIMITS.maxClaimNameLength} characters)`;
      continue;
    }
    if (Object.hasOwn(out, claim)) {
      errors[where] = `claim "${claim}" has two conditions; a claim has one`;
      continue;
    }
    if (c.operator === 'oneOf') {
      const values = c.value.split(',').map((v) => v.trim()).filter((v) => v !== '');
      if (values.length === 0 || values.length > LIMITS.maxOneOf) errors[where] = `"one of" needs 1 to ${LIMITS.maxOneOf} values, separated by commas`;
      else Object.defineProperty(out, claim, { value: { oneOf: values }, enumerable: true, writable: true, configurable: true });
    } else if (c.operator === 'prefix') {
      if (c.value === '') errors[where] = 'a prefix cannot be empty (it would match any string)';
      else Object.defineProperty(out, claim, { value: { prefix: c.value }, enumerable: true, writable: true, configurable: true });
    } else {
      // An exact value may be empty: it matches a claim that is the empty string.
      Object.defineProperty(out, claim, { value: c.value, enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}

function issuerProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute https URL, such as https://token.actions.githubusercontent.com (RFC 8414 §2)';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `must be an https URL (RFC 8414 §2), not ${url.protocol}`;
  if (value.includes('#') || value.includes('?')) return 'must not have a query or fragment (RFC 8414 §2)';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials (user:password@)';
  if (value.length > 2048) return 'must be at most 2048 characters';
  return null;
}

/** Checks the form as the management API would; either the request body or every mistake, by place. */
export function buildFederation(form: FederationForm): Built | { errors: FormErrors } {
  const errors: FormErrors = {};
  const name = form.name.trim();
  if (name === '' || name.length > 100) errors['name'] = 'must be 1 to 100 characters';
  else if (/[\u0000-\u001f\u007f]/.test(name)) errors['name'] = 'must not contain control characters';
  const issuer = form.issuer.trim();
  const issuerError = issuerProblem(issuer);
  if (issuerError !== null) errors['issuer'] = issuerError;

  let jwksUri: string | null = null;
  let jwks: FederationInput['jwks'] = null;
  if (form.keySource === 'jwksUri') {
    jwksUri = form.jwksUri.trim();
    try {
      const url = new URL(jwksUri);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') errors['jwksUri'] = 'must be an https URL';
    } catch {
      errors['jwksUri'] = 'must be an absolute https URL of the issuer\'s JWK Set';
    }
  } else if (form.keySource === 'jwks') {
    try {
      const parsed = JSON.parse(form.jwks) as { keys?: unknown };
      if (!Array.isArray(parsed.keys) || parsed.keys.length === 0 || parsed.keys.length > 20 || !parsed.keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))) {
        errors['jwks'] = 'must be a JWK Set: {"keys": [ ... ]} with 1 to 20 keys';
      } else if ((parsed.keys as Record<string, unknown>[]).some((k) => 'd' in k || 'k' in k)) {
        errors['jwks'] = 'must hold public keys only: this one has a private or secret member (d or k)';
      } else jwks = { keys: parsed.keys as Record<string, unknown>[] };
    } catch {
      errors['jwks'] = 'paste the issuer\'s JWK Set as JSON: {"keys": [ ... ]}';
    }
  }

  const ruleKeys: number[] = [];
  const exchangeRuleKeys: number[] = [];
  const rules: NonNullable<FederationInput['rules']> = [];
  const exchangeRules: NonNullable<FederationInput['exchangeRules']> = [];
  if (form.kind === 'workload') {
    const used = form.rules.filter((r) => !isBlankRule(r));
    if (used.length === 0) errors['rules'] = 'a workload federation needs at least one rule: which external tokens act as which client';
    if (used.length > LIMITS.maxRules) errors['rules'] = `at most ${LIMITS.maxRules} rules`;
    for (const r of used) {
      const subject = r.subject.trim();
      if (subject.length > 512) errors[`rule.${r.key}.subject`] = 'must be at most 512 characters';
      else if (subject.includes('*') && !subject.endsWith('*')) errors[`rule.${r.key}.subject`] = 'a pattern may only end in * (a prefix), such as repo:acme/*';
      if (r.clientId === '') errors[`rule.${r.key}.clientId`] = 'choose the client these tokens act as';
      const claims = conditionsOf(r.conditions, errors, `rule.${r.key}`);
      if (subject === '' && Object.keys(claims).length === 0 && !r.conditions.some((c) => errors[`condition.${c.key}`])) {
        errors[`rule.${r.key}.subject`] = 'give a subject or at least one claim condition: a rule matching every token of the issuer is refused';
      }
      rules.push({ ...(subject !== '' ? { subject } : {}), ...(Object.keys(claims).length > 0 ? { claims } : {}), clientId: r.clientId });
      ruleKeys.push(r.key);
    }
  } else {
    const used = form.exchangeRules.filter((r) => !isBlankExchangeRule(r));
    if (used.length === 0) errors['rules'] = 'a token-exchange federation needs at least one exchange rule: which clients may exchange tokens issued for which audience';
    if (used.length > LIMITS.maxRules) errors['rules'] = `at most ${LIMITS.maxRules} exchange rules`;
    for (const r of used) {
      const audience = r.audience.trim();
      if (audience === '' || audience.length > 512) errors[`rule.${r.key}.audience`] = 'name the audience (aud) of the subject tokens, 1 to 512 characters';
      if (r.clients.length === 0) errors[`rule.${r.key}.clients`] = 'add at least one client that may exchange such tokens';
      else if (r.clients.length > LIMITS.maxClientsPerRule) errors[`rule.${r.key}.clients`] = `at most ${LIMITS.maxClientsPerRule} clients`;
      const claims = conditionsOf(r.conditions, errors, `rule.${r.key}`);
      exchangeRules.push({ audience, clients: r.clients, ...(Object.keys(claims).length > 0 ? { claims } : {}) });
      exchangeRuleKeys.push(r.key);
    }
  }

  const claimMappings: Record<string, string> = {};
  const mappings = form.mappings.filter((m) => m.target.trim() !== '' || m.source.trim() !== '');
  if (mappings.length > LIMITS.maxMappings) errors['claimMappings'] = `at most ${LIMITS.maxMappings} claim mappings`;
  for (const m of mappings) {
    const target = m.target.trim();
    const source = m.source.trim();
    const where = `mapping.${m.key}`;
    if (target === '' || target.length > LIMITS.maxMappedNameLength || !CLAIM_NAME.test(target)) errors[where] = `the claim in issued tokens must be 1 to ${LIMITS.maxMappedNameLength} characters: letters, digits, _ . : - / (not starting with a digit)`;
    else if (RESERVED_CLAIMS.includes(target)) errors[where] = `"${target}" is a registered claim that Tessera sets itself; choose another name`;
    else if (Object.hasOwn(claimMappings, target)) errors[where] = `"${target}" is mapped twice`;
    else if (source === '' || source.length > LIMITS.maxSourceLength) errors[where] = `name the external claim to copy (1 to ${LIMITS.maxSourceLength} characters)`;
    else Object.defineProperty(claimMappings, target, { value: source, enumerable: true, writable: true, configurable: true });
  }

  let replayProtection: FederationInput['replayProtection'] = { mode: form.replay };
  if (form.replay === 'max-age') {
    const text = form.maxAge.trim();
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > LIMITS.maxReplayAge) errors['maxAgeSeconds'] = `must be a whole number of seconds from 1 to ${LIMITS.maxReplayAge}${text === '' ? '' : `; "${text}" is not`}`;
    else replayProtection = { mode: 'max-age', maxAgeSeconds: Number(text) };
  }

  if (Object.keys(errors).length > 0) return { errors };
  const audience = form.audience.trim();
  return {
    input: {
      name,
      kind: form.kind,
      issuer,
      jwksUri,
      jwks,
      audience: form.kind === 'workload' && audience !== '' ? audience : null,
      rules,
      exchangeRules,
      claimMappings,
      replayProtection,
    },
    ruleKeys,
    exchangeRuleKeys,
  };
}

/**
 * Where a refusal of the management API belongs in the form, in words: the domain
 * names the rule (`rules[2], claim "ref": ...`) or the setting; a schema refusal names
 * the body path (`body/rules/2/subject must ...`).
 */
export function placeServerError(error: unknown, built: Built): FormErrors | null {
  if (!(error instanceof ApiError) || ![400, 409, 422].includes(error.status)) return null;
  const message = error.message;
  const rule = /^(?:body\/)?(rules|exchangeRules)(?:\[(\d+)\]|\/(\d+))(?:,\s*|:\s*|\/\S*\s+|\s+)?(.*)$/.exec(message);
  if (rule !== null) {
    const index = Number(rule[2] ?? rule[3]);
    const key = (rule[1] === 'rules' ? built.ruleKeys : built.exchangeRuleKeys)[index];
    const words = rule[4] ?? message;
    return key === undefined ? { rules: words } : { [`rule.${key}`]: words };
  }
  const plain = message.replace(/^body\//, '');
  const place: [RegExp, string][] = [
    [/^name\b/, 'name'],
    [/^issuer\b/, 'issuer'],
    [/^jwksUri\b/, 'jwksUri'],
    [/^jwks\b/, 'jwks'],
    [/^give at most one of jwksUri or jwks/, 'keys'],
    [/^audience\b/, 'audience'],
    [/^replayProtection/, 'maxAgeSeconds'],
    [/claim mapping|mapped claim|^claimMappings/, 'claimMappings'],
    [/^(a workload federation|a subject federation|rules belong|exchangeRules belong|rule names client)/, 'rules'],
  ];
  for (const [pattern, field] of place) {
    if (pattern.test(plain)) return { [field]: plain.replace(/^(name|issuer|jwksUri|jwks|audience|replayProtection\S*|claimMappings\S*)(\s*:\s*|\s+)/, '') };
  }
  return { form: plain };
}

// ------------------------------------------------------------ what a change loses

const canonical = (c: unknown): string => JSON.stringify(typeof c === 'string' ? { equals: c } : c);
const sameConditions = (a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined) => {
  const x = Object.entries(a ?? {}).map(([k, v]) => `${k}=${canonical(v)}`).sort();
  const y = Object.entries(b ?? {}).map(([k, v]) => `${k}=${canonical(v)}`).sort();
  return x.join('\n') === y.join('\n');
};
/** Conditions that only remove some (a looser rule) match at least what they matched. */
const onlyLoosened = (before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined) =>
  Object.entries(after ?? {}).every(([k, v]) => Object.hasOwn(before ?? {}, k) && canonical((before ?? {})[k]) === canonical(v));

/** How a rule reads in a sentence. */
export function describeRule(rule: { subject?: string; claims?: Record<string, unknown>; clientId: string }, clientName: (id: string) => string): string {
  const conditions = Object.keys(rule.claims ?? {});
  const subject = rule.subject !== undefined ? `subject ${rule.subject}` : 'any subject';
  return `${subject}${conditions.length > 0 ? ` with ${conditions.join(', ')}` : ''} → ${clientName(rule.clientId)}`;
}

/**
 * What an edit takes away, one sentence each: tokens that worked and will not, clients
 * that lose a way in, claims resource servers stop seeing. Empty when the change only
 * adds or loosens.
 */
export function lossesOf(before: Federation, built: Built, clientName: (id: string) => string): string[] {
  const after = built.input;
  const losses: string[] = [];
  if (after.kind !== before.kind) {
    losses.push(before.kind === 'subject'
      ? `it stops being a token-exchange federation: its ${before.exchangeRules.length} exchange rule(s) are deleted, and no client can exchange its users' tokens any more`
      : `it stops being a workload federation: its ${before.rules.length} rule(s) are deleted, and no workload can use its tokens as a client credential any more`);
  }
  if (after.issuer !== before.issuer) losses.push(`tokens from ${before.issuer} are no longer accepted (only from ${after.issuer})`);
  if ((before.audience ?? null) !== (after.audience ?? null) && after.kind === 'workload' && after.audience != null) {
    losses.push(before.audience === null ? `tokens must now be issued for ${after.audience}; others are refused` : `tokens issued for ${before.audience} are refused (only ${after.audience} is accepted)`);
  }
  const keysBefore = before.jwksUri ?? (before.jwks !== null ? 'inline' : 'discovery');
  const keysAfter = after.jwksUri ?? (after.jwks != null ? 'inline' : 'discovery');
  if (keysBefore !== keysAfter || (keysBefore === 'inline' && JSON.stringify(before.jwks) !== JSON.stringify(after.jwks))) {
    losses.push('the issuer\'s keys come from somewhere else: tokens signed with a key that is not there any more are refused');
  }
  if (after.kind === before.kind && before.kind === 'workload') {
    before.rules.forEach((rule, index) => {
      const at = built.ruleKeys.indexOf(index);
      const now = at === -1 ? undefined : after.rules?.[at];
      if (now === undefined) losses.push(`rule "${describeRule(rule, clientName)}" is removed: those workloads can no longer act as ${clientName(rule.clientId)}`);
      else if (now.clientId !== rule.clientId) losses.push(`rule "${describeRule(rule, clientName)}" now maps to ${clientName(now.clientId)}: ${clientName(rule.clientId)} loses those workloads`);
      else if (now.subject !== rule.subject && rule.subject !== undefined && !(rule.subject.endsWith('*') && now.subject === undefined)) {
        losses.push(`rule "${describeRule(rule, clientName)}" now matches subject ${now.subject ?? 'any'}: tokens for ${rule.subject} may no longer act as ${clientName(rule.clientId)}`);
      } else if (now.subject !== undefined && rule.subject === undefined) {
        losses.push(`rule "${describeRule(rule, clientName)}" now needs subject ${now.subject}: other subjects no longer act as ${clientName(rule.clientId)}`);
      } else if (!sameConditions(rule.claims, now.claims) && !onlyLoosened(rule.claims, now.claims)) {
        losses.push(`rule "${describeRule(rule, clientName)}" is narrowed (its claim conditions change): tokens that matched may no longer act as ${clientName(rule.clientId)}`);
      }
    });
  }
  if (after.kind === before.kind && before.kind === 'subject') {
    before.exchangeRules.forEach((rule, index) => {
      const at = built.exchangeRuleKeys.indexOf(index);
      const now = at === -1 ? undefined : after.exchangeRules?.[at];
      const who = rule.clients.map(clientName).join(', ');
      if (now === undefined) {
        losses.push(`the exchange rule for audience ${rule.audience} is removed: ${who} can no longer exchange those tokens`);
        return;
      }
      if (now.audience !== rule.audience) losses.push(`the exchange rule for audience ${rule.audience} now takes ${now.audience}: tokens for ${rule.audience} can no longer be exchanged under it`);
      const dropped = rule.clients.filter((c) => !now.clients.includes(c));
      if (dropped.length > 0) losses.push(`${dropped.map(clientName).join(', ')} can no longer exchange tokens for audience ${rule.audience}`);
      if (!sameConditions(rule.claims, now.claims) && !onlyLoosened(rule.claims, now.claims)) losses.push(`the exchange rule for audience ${rule.audience} is narrowed (its claim conditions change): some tokens can no longer be exchanged`);
    });
  }
  for (const [target, source] of Object.entries(before.claimMappings)) {
    const now = after.claimMappings?.[target];
    if (now === undefined) losses.push(`issued tokens no longer carry the claim ${target} (copied from ${source}); resource servers that read it stop seeing it`);
    else if (now !== source) losses.push(`the claim ${target} of issued tokens is copied from ${now} instead of ${source}`);
  }
  const replayAfter = after.replayProtection ?? { mode: 'off' };
  const r = before.replayProtection;
  if (replayAfter.mode !== r.mode || replayAfter.maxAgeSeconds !== r.maxAgeSeconds) {
    if (replayAfter.mode === 'single-use' && r.mode !== 'single-use') losses.push('each external token is accepted once: a workload that presents the same token again (as platforms do) is refused');
    else if (replayAfter.mode === 'max-age' && (r.mode === 'off' || (r.mode === 'max-age' && (replayAfter.maxAgeSeconds ?? 0) < (r.maxAgeSeconds ?? 0)))) {
      losses.push(`external tokens older than ${replayAfter.maxAgeSeconds} seconds (since their iat) are refused`);
    }
  }
  return losses;
}
