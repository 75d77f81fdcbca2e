/**
 * Workload-identity federation: a trusted external issuer (Kubernetes, GitHub
 * Actions, a cloud, another Tessera) whose JWTs, matched by subject rules, stand in
 * for a client's credentials (RFC 7523 §2.1). No shared secret.
 */
import { randomBytes } from 'node:crypto';
import type { ExchangeRule, Federation, FederationKind, FederationRule, ReplayProtection, Store } from '../store/types.js';
import { assertClaimConditions, assertClaimMappings, claimsMatch } from './claims.js';
import type { DomainContext } from './context.js';
import { NotFoundError, ValidationError } from './errors.js';
import { OutboundPolicy } from '../outbound/policy.js';
import { assertIssuerIdentifier, assertKeySetUrl, assertName } from './rules.js';

export interface FederationInput {
  name: string;
  kind?: FederationKind;
  issuer: string;
  jwksUri?: string | null;
  jwks?: { keys: Record<string, unknown>[] } | null;
  audience?: string | null;
  /** Claim conditions arrive as any JSON; create() checks them (422 naming the rule). */
  rules?: (Omit<FederationRule, 'claims'> & { claims?: Record<string, unknown> })[];
  exchangeRules?: (Omit<ExchangeRule, 'claims'> & { claims?: Record<string, unknown> })[];
  claimMappings?: Record<string, string>;
  replayProtection?: { mode: ReplayProtection['mode']; maxAgeSeconds?: number };
}

export const MAX_REPLAY_AGE_SECONDS = 86_400;

export class FederationService {
  readonly #outbound: OutboundPolicy;

  constructor(private readonly ctx: DomainContext) {
    this.#outbound = new OutboundPolicy(ctx.config.outboundAllow);
  }

  async create(tenantId: string, input: FederationInput, actor: string): Promise<Federation> {
    const federation = this.#build({ id: `fed_${randomBytes(12).toString('hex')}`, tenantId, createdAt: this.ctx.now() }, input);
    await this.ctx.store.transaction(async (tx) => {
      if ((await tx.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
      await assertRuleClientsExist(tx, federation);
      await tx.createFederation(federation, {
        tenantId, actor, action: 'federation.create', targetType: 'federation', targetId: federation.id, details: describe(federation),
      });
    });
    return federation;
  }

  /**
   * Changes a federation in place (same id): the fields given replace the current ones
   * (rules and exchangeRules as a whole), and the result is checked as a new one would be.
   */
  async update(tenantId: string, id: string, patch: Partial<FederationInput>, actor: string): Promise<Federation> {
    const current = await this.get(tenantId, id);
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<FederationInput>;
    if (Object.keys(defined).length === 0) throw new ValidationError('nothing to change: give at least one field');
    const { id: _id, tenantId: _t, createdAt, ...settings } = current;
    const merged: FederationInput = { ...settings, ...defined };
    // A switch to explicit keys (or to discovery) replaces the other way of finding them.
    if (defined.jwks != null && defined.jwksUri === undefined) merged.jwksUri = null;
    if (defined.jwksUri != null && defined.jwks === undefined) merged.jwks = null;
    const federation = this.#build({ id, tenantId, createdAt }, merged);
    const updated = await this.ctx.store.transaction(async (tx) => {
      await assertRuleClientsExist(tx, federation);
      return tx.updateFederation(federation, {
        tenantId, actor, action: 'federation.update', targetType: 'federation', targetId: id,
        details: { ...describe(federation), changed: Object.keys(defined) },
      });
    });
    if (updated === null) throw new NotFoundError('federation', id);
    return updated;
  }

  /** The federation that `input` describes, checked; what does not hold is a 422 naming the rule. */
  #build(identity: Pick<Federation, 'id' | 'tenantId' | 'createdAt'>, input: FederationInput): Federation {
    assertName(input.name, 'name');
    const kind = input.kind ?? 'workload';
    const jwksUri = input.jwksUri ?? null;
    const jwks = input.jwks ?? null;
    if (jwksUri !== null && jwks !== null) throw new ValidationError('give at most one of jwksUri or jwks (neither: the keys are found by discovery of the issuer)');
    if (jwksUri !== null) assertKeySetUrl(jwksUri, 'jwksUri', this.#outbound);
    // Without explicit keys, <issuer>/.well-known/openid-configuration names them.
    if (jwksUri === null && jwks === null) assertKeySetUrl(input.issuer, 'issuer (used for discovery when neither jwksUri nor jwks is given)', this.#outbound);
    assertIssuerIdentifier(input.issuer, this.#outbound);
    if (jwks !== null && jwks.keys.some((k) => 'd' in k || 'k' in k)) throw new ValidationError('jwks must hold public keys only');
    const rules = (input.rules ?? []) as FederationRule[];
    const exchangeRules = (input.exchangeRules ?? []) as ExchangeRule[];
    if (kind === 'workload') {
      if (rules.length === 0) throw new ValidationError('a workload federation needs at least one rule (which JWTs act as which client)');
      if (exchangeRules.length > 0) throw new ValidationError('exchangeRules belong to a federation of kind "subject"');
      rules.forEach(assertWorkloadRule);
    } else {
      if (exchangeRules.length === 0) throw new ValidationError('a subject federation needs at least one exchange rule (which clients may exchange tokens for which audience)');
      if (rules.length > 0) throw new ValidationError('rules belong to a federation of kind "workload"; a subject federation has exchangeRules');
      if (input.audience != null) throw new ValidationError('audience belongs to a workload federation; a subject federation names audiences in its exchangeRules');
      exchangeRules.forEach(assertExchangeRule);
    }
    if (input.audience != null && /[\u0000-\u001f\u007f]/.test(input.audience)) throw new ValidationError('audience must not contain control characters');
    const claimMappings = input.claimMappings ?? {};
    assertClaimMappings(claimMappings);
    return {
      ...identity,
      name: input.name,
      kind,
      issuer: input.issuer,
      jwksUri,
      jwks,
      audience: input.audience ?? null,
      rules,
      exchangeRules,
      claimMappings,
      replayProtection: replayProtectionOf(input.replayProtection),
    };
  }

  async list(tenantId: string): Promise<Federation[]> {
    if ((await this.ctx.store.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
    return this.ctx.store.listFederations(tenantId);
  }

  async get(tenantId: string, id: string): Promise<Federation> {
    const federation = await this.ctx.store.getFederation(tenantId, id);
    if (federation === null) throw new NotFoundError('federation', id);
    return federation;
  }

  async delete(tenantId: string, id: string, actor: string): Promise<void> {
    const deleted = await this.ctx.store.deleteFederation(tenantId, id, {
      tenantId, actor, action: 'federation.delete', targetType: 'federation', targetId: id, details: {},
    });
    if (!deleted) throw new NotFoundError('federation', id);
  }
}

async function assertRuleClientsExist(tx: Store, federation: Federation): Promise<void> {
  const clientIds = new Set([...federation.rules.map((r) => r.clientId), ...federation.exchangeRules.flatMap((r) => r.clients)]);
  for (const clientId of clientIds) {
    if ((await tx.getClient(federation.tenantId, clientId)) === null) {
      throw new ValidationError(`rule names client ${JSON.stringify(clientId)}, which does not exist in this tenant`);
    }
  }
}

/** Audit details: the shape of the federation, not its keys or claim values. */
function describe(federation: Federation): Record<string, unknown> {
  return {
    name: federation.name,
    kind: federation.kind,
    issuer: federation.issuer,
    rules: federation.rules.length + federation.exchangeRules.length,
    replayProtection: federation.replayProtection.mode,
  };
}

function assertWorkloadRule(rule: FederationRule, index: number): void {
  const where = `rules[${index}]`;
  if (rule.subject !== undefined && rule.subject.includes('*') && !rule.subject.endsWith('*')) {
    throw new ValidationError(`${where}: a subject pattern may only end in *`);
  }
  const conditions = rule.claims ?? {};
  if (rule.subject === undefined && Object.keys(conditions).length === 0) {
    throw new ValidationError(`${where}: give a subject or at least one claim condition (a rule that matches every token of the issuer is refused)`);
  }
  assertClaimConditions(conditions, where);
}

function assertExchangeRule(rule: ExchangeRule, index: number): void {
  const where = `exchangeRules[${index}]`;
  if (rule.audience.length === 0) throw new ValidationError(`${where}: audience must name the audience of the subject tokens`);
  if (rule.clients.length === 0) throw new ValidationError(`${where}: clients must list at least one client that may exchange such tokens`);
  assertClaimConditions(rule.claims ?? {}, where);
}

function replayProtectionOf(input: FederationInput['replayProtection']): ReplayProtection {
  if (input === undefined || input.mode === 'off' || input.mode === 'single-use') {
    if (input?.maxAgeSeconds !== undefined) throw new ValidationError('replayProtection.maxAgeSeconds belongs to mode "max-age"');
    return input?.mode === 'single-use' ? { mode: 'single-use' } : { mode: 'off' };
  }
  const age = input.maxAgeSeconds;
  if (age === undefined || !Number.isInteger(age) || age < 1 || age > MAX_REPLAY_AGE_SECONDS) {
    throw new ValidationError(`replayProtection.maxAgeSeconds must be an integer from 1 to ${MAX_REPLAY_AGE_SECONDS} for mode "max-age"`);
  }
  return { mode: 'max-age', maxAgeSeconds: age };
}

/**
 * The client a federated subject maps to: the first rule whose subject and claims all
 * match. Only string claims match (domain/claims.ts): an object, an array
 * (`["org/app"]` is not `"org/app"`), a number or a missing claim never does.
 */
export function matchFederationRule(federation: Federation, claims: Record<string, unknown>): string | null {
  const subject = claims['sub'];
  if (typeof subject !== 'string') return null;
  const rule = federation.rules.find((r) => subjectMatches(r.subject, subject) && claimsMatch(r.claims, claims));
  return rule?.clientId ?? null;
}

/** The exchange rules under which `clientId` may exchange a subject token with these claims. */
export function exchangeAllowed(federation: Federation, clientId: string, claims: Record<string, unknown>): 'allowed' | 'wrong-audience' | 'client-not-allowed' | 'claims-mismatch' {
  const aud = claims['aud'];
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
  const forAudience = federation.exchangeRules.filter((r) => audiences.includes(r.audience));
  if (forAudience.length === 0) return 'wrong-audience';
  const forClient = forAudience.filter((r) => r.clients.includes(clientId));
  if (forClient.length === 0) return 'client-not-allowed';
  return forClient.some((r) => claimsMatch(r.claims, claims)) ? 'allowed' : 'claims-mismatch';
}

/**
 * A rule's `subject`: exact, or a pattern `ns:*` that matches `ns:` followed by at
 * least one character (not `ns:` itself); absent matches any subject.
 */
function subjectMatches(pattern: string | undefined, subject: string): boolean {
  if (pattern === undefined) return true;
  if (!pattern.endsWith('*')) return subject === pattern;
  const prefix = pattern.slice(0, -1);
  return subject.length > prefix.length && subject.startsWith(prefix);
}
