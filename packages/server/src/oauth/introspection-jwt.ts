/**
 * RFC 9701: an introspection answer as a signed JWT, for resource servers that must be
 * able to prove what the authorization server said. Asked for with
 * `Accept: application/token-introspection+jwt`; signed with the tenant's active key;
 * `iss` the issuer, `aud` the calling client, `iat`, and the RFC 7662 answer in
 * `token_introspection` (RFC 9701 §5).
 */
import type { TenantContext } from '../domain/tenant-context.js';

export const INTROSPECTION_JWT_MEDIA_TYPE = 'application/token-introspection+jwt';
const TYP = 'token-introspection+jwt';

/** Whether the Accept header asks for the JWT form (RFC 9701 §4). */
export function wantsIntrospectionJwt(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return type?.trim() === INTROSPECTION_JWT_MEDIA_TYPE && (q === undefined || Number(q.slice(2)) > 0);
  });
}

export class IntrospectionJwtSigner {
  constructor(private readonly now: () => number) {}

  /** The compact JWT of RFC 9701 §5 for `answer`, addressed to `audience` (the caller's client id). */
  async sign(tenant: TenantContext, audience: string, answer: Record<string, unknown>): Promise<string> {
    const signer = tenant.signer;
    if (signer === null) throw new Error(`tenant ${tenant.tenant.id} has no active signing key`);
    return signer.sign({ iss: tenant.issuer, aud: audience, iat: Math.floor(this.now() / 1000), token_introspection: answer }, TYP);
  }
}
