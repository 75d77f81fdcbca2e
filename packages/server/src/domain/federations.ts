/**
 * Workload-identity federation: a trusted external issuer (Kubernetes, GitHub
 * Actions, a cloud, another Tessera) whose JWTs, matched by subject rules, stand in
 * for a client's credentials (RFC 7523 §2.1). No shared secret.
 */
import { randomBytes } from 'node:crypto';
import type { Federation } from '../store/types.js';
import type { DomainContext } from './context.js';
import { NotFoundError, ValidationError } from './errors.js';
import { OutboundPolicy } from '../outbound/policy.js';
import { assertKeySetUrl } from './rules.js';

export interface FederationInput {
  name: string;
  issuer: string;
  jwksUri?: string | null;
  jwks?: { keys: Record<string, unknown>[] } | null;
  audience?: string | null;
  rules: Federation['rules'];
}

export class FederationService {
  readonly #outbound: OutboundPolicy;

  constructor(private readonly ctx: DomainContext) {
    this.#outbound = new OutboundPolicy(ctx.config.outboundAllow);
  }

  async create(tenantId: string, input: FederationInput, actor: string): Promise<Federation> {
    const jwksUri = input.jwksUri ?? null;
    const jwks = input.jwks ?? null;
    if ((jwksUri === null) === (jwks === null)) throw new ValidationError('give exactly one of jwksUri or jwks');
    if (jwksUri !== null) assertKeySetUrl(jwksUri, 'jwksUri', this.#outbound);
    if (jwks !== null && jwks.keys.some((k) => 'd' in k || 'k' in k)) throw new ValidationError('jwks must hold public keys only');
    for (const rule of input.rules) {
      if (rule.subject.includes('*') && !rule.subject.endsWith('*')) throw new ValidationError('a subject pattern may only end in *');
    }
    const federation: Federation = {
      id: `fed_${randomBytes(12).toString('hex')}`,
      tenantId,
      name: input.name,
      issuer: input.issuer,
      jwksUri,
      jwks,
      audience: input.audience ?? null,
      rules: input.rules,
      createdAt: this.ctx.now(),
    };
    await this.ctx.store.transaction(async (tx) => {
      if ((await tx.getTenant(tenantId)) === null) throw new NotFoundError('tenant', tenantId);
      for (const rule of input.rules) {
        if ((await tx.getClient(tenantId, rule.clientId)) === null) {
          throw new ValidationError(`rule maps to client ${JSON.stringify(rule.clientId)}, which does not exist in this tenant`);
        }
      }
      await tx.createFederation(federation, {
        tenantId, actor, action: 'federation.create', targetType: 'federation', targetId: federation.id,
        details: { name: federation.name, issuer: federation.issuer, rules: federation.rules.length },
      });
    });
    return federation;
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

/**
 * The client a federated subject maps to: the first rule whose subject and claims all
 * match. Only string claims match: an object, an array (`["org/app"]` is not
 * `"org/app"`), a number or a missing claim never does. A pattern `ns:*` matches
 * `ns:` followed by at least one character, not `ns:` itself.
 */
export function matchFederationRule(federation: Federation, claims: Record<string, unknown>): string | null {
  const subject = claims['sub'];
  if (typeof subject !== 'string') return null;
  for (const rule of federation.rules) {
    if (!subjectMatches(rule.subject, subject)) continue;
    const claimsMatch = Object.entries(rule.claims ?? {}).every(([name, value]) => {
      const claim = Object.hasOwn(claims, name) ? claims[name] : undefined;
      return typeof claim === 'string' && claim === value;
    });
    if (claimsMatch) return rule.clientId;
  }
  return null;
}

function subjectMatches(pattern: string, subject: string): boolean {
  if (!pattern.endsWith('*')) return subject === pattern;
  const prefix = pattern.slice(0, -1);
  return subject.length > prefix.length && subject.startsWith(prefix);
}
