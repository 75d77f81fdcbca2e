/**
 * Access tokens: issuing (RFC 9068 JWTs or opaque reference tokens) and reading them
 * back for introspection, revocation and token exchange.
 */
import { randomBytes } from 'node:crypto';
import { isSupportedAlgorithm, type ParsedJws, parseCompactJws, prepareKey, verifySignature } from '@tessera/verifier/core';
import { sha256Base64Url } from '../crypto/secrets.js';
import { randomUuid } from '../crypto/uuid.js';
import type { StateStore } from '../store/state/types.js';
import type { Api, Client, CustomClaims } from '../store/types.js';
import { mergeCustomClaims } from './claims.js';
import type { TenantContext } from './tenant-context.js';
import { noUsageRecording, type UsageRecording } from './usage.js';

/** Tessera's own access tokens are well under 2 KB; longer input is not one of them. */
const MAX_JWT_LENGTH = 16 * 1024;

export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope?: string;
  /** RFC 8705 §3.1 certificate binding, or RFC 9449 §6 DPoP key binding. */
  cnf?: { 'x5t#S256'?: string; jkt?: string };
  act?: Record<string, unknown>;
  [claim: string]: unknown;
}

export interface IssueRequest {
  tenant: TenantContext;
  client: Client;
  api: Api;
  scopes: string[];
  /** The subject: the client itself, or the original subject after token exchange. */
  subject?: string;
  /** RFC 8693 §4.1 actor chain. */
  act?: Record<string, unknown>;
  /** RFC 8705 §3.1 certificate binding. */
  certificateThumbprint?: string;
  /**
   * RFC 9449 §6: the thumbprint of the DPoP proof's key. It wins over a certificate:
   * a client that authenticated with mTLS and sent a proof gets a token bound to the proof.
   */
  dpopJkt?: string;
  /** Upper bound for `exp` (epoch seconds): an exchanged token never outlives its subject token. */
  notAfter?: number;
  /**
   * Claims carried over from the subject (a federation's claim mappings, or a
   * subject token's own custom claims along an exchange chain). The client's and
   * the grant's static claims win over them; registered claims are never overridden.
   */
  subjectClaims?: CustomClaims;
  /** The static claims of the grant the token is issued under. */
  grantClaims?: CustomClaims | null;
}

export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
  scope: string;
  claims: AccessTokenClaims;
}

/** What a grant needs of the issuer (the token endpoint may hand it a sender-constraining view). */
export type TokenIssuing = Pick<TokenIssuer, 'issue' | 'lifetimeOf'>;

export class TokenIssuer {
  readonly #templates = new WeakMap<Client, Map<string, ClaimsTemplate>>();

  constructor(
    private readonly state: Pick<StateStore, 'insertOpaqueToken'>,
    private readonly defaultLifetime: number,
    private readonly now: () => number,
    private readonly usage: UsageRecording = noUsageRecording,
  ) {}

  /** Most specific setting wins: client, then API, then tenant, then the server default. */
  lifetimeOf(tenant: Pick<TenantContext, 'tenant'>, client: Client, api: Api): number {
    return client.accessTokenLifetime ?? api.accessTokenLifetime ?? tenant.tenant.accessTokenLifetime ?? this.defaultLifetime;
  }

  async issue(request: IssueRequest): Promise<IssuedToken> {
    const { tenant, client, api } = request;
    const iat = Math.floor(this.now() / 1000);
    const lifetime = Math.min(this.lifetimeOf(tenant, client, api), request.notAfter !== undefined ? request.notAfter - iat : Infinity);
    const scope = request.scopes.join(' ');
    const template = this.#templateOf(request, scope);
    const custom = template?.custom ?? mergeCustomClaims(request.subjectClaims, client.customClaims, request.grantClaims ?? undefined);
    const claims: AccessTokenClaims = {
      ...custom,
      iss: tenant.issuer,
      sub: request.subject ?? client.clientId,
      aud: api.identifier,
      exp: iat + lifetime,
      iat,
      jti: randomUuid(),
      client_id: client.clientId,
    };
    // Assigned rather than spread: no throw-away objects on every token.
    if (scope !== '') claims.scope = scope;
    if (request.dpopJkt !== undefined) claims.cnf = { jkt: request.dpopJkt };
    else if (request.certificateThumbprint !== undefined) claims.cnf = { 'x5t#S256': request.certificateThumbprint };
    if (request.act !== undefined) claims.act = request.act;
    if (api.tokenFormat === 'opaque') {
      const accessToken = randomBytes(32).toString('base64url');
      await this.state.insertOpaqueToken({
        tokenHash: sha256Base64Url(accessToken),
        tenantId: tenant.tenant.id,
        clientId: client.clientId,
        jti: claims.jti,
        claims,
        expiresAt: claims.exp * 1000,
        revoked: false,
      });
      this.usage.issued(tenant.tenant.id, client.clientId, api.identifier, request.scopes);
      return { accessToken, expiresIn: lifetime, scope, claims };
    }
    // Read once: each read asks the signer cache, and a signer it did not keep is unsealed per read.
    const signer = tenant.signer;
    if (signer === null) throw new Error(`tenant ${tenant.tenant.id} has no active signing key`);
    // The claims that stay the same under this grant are serialised once; only exp, iat and jti change.
    // A token with anything the template does not hold (a binding, an actor) is serialised whole.
    const plain = template !== null && claims.cnf === undefined && claims.act === undefined;
    const payloadJson = plain ? `${template.head}"exp":${claims.exp},"iat":${iat},"jti":"${claims.jti}"${template.tail}` : JSON.stringify(claims);
    // ES256 and EdDSA sign here and now; RSA is awaited from the pool.
    const accessToken = signer.signJsonNow(payloadJson) ?? (await signer.signJson(payloadJson));
    this.usage.issued(tenant.tenant.id, client.clientId, api.identifier, request.scopes);
    return { accessToken, expiresIn: lifetime, scope, claims };
  }

  /**
   * The serialised claims of a plain token of `request` (the client's own, no subject,
   * actor, certificate or DPoP binding): the JSON before `exp` and after `jti`, in the order
   * `issue` builds the claims. Kept per client object (a changed client is a new
   * object) and checked against the API, grant claims and issuer it was made for.
   */
  #templateOf(request: IssueRequest, scope: string): ClaimsTemplate | null {
    if (request.subject !== undefined || request.act !== undefined || request.certificateThumbprint !== undefined || request.dpopJkt !== undefined || request.subjectClaims !== undefined) return null;
    const { tenant, client, api } = request;
    const grantClaims = request.grantClaims ?? null;
    let templates = this.#templates.get(client);
    if (templates === undefined) this.#templates.set(client, (templates = new Map()));
    const key = `${api.identifier}\u0000${scope}`;
    const cached = templates.get(key);
    if (cached !== undefined && cached.api === api && cached.grantClaims === grantClaims && cached.issuer === tenant.issuer) return cached;
    const custom = mergeCustomClaims(undefined, client.customClaims, grantClaims ?? undefined);
    const head = JSON.stringify({ ...custom, iss: tenant.issuer, sub: client.clientId, aud: api.identifier });
    const tail = JSON.stringify(scope !== '' ? { client_id: client.clientId, scope } : { client_id: client.clientId });
    const template: ClaimsTemplate = { api, grantClaims, issuer: tenant.issuer, custom, head: `${head.slice(0, -1)},`, tail: `,${tail.slice(1)}` };
    // Bounded: a client asking for ever other scope subsets cannot grow it.
    if (templates.size >= MAX_TEMPLATES_PER_CLIENT) templates.clear();
    templates.set(key, template);
    return template;
  }
}

interface ClaimsTemplate {
  api: Api;
  grantClaims: CustomClaims | null;
  issuer: string;
  custom: CustomClaims;
  /** `{` and the claims before `exp`, ending with a comma. */
  head: string;
  /** A comma and the claims after `jti`, ending with `}`. */
  tail: string;
}

const MAX_TEMPLATES_PER_CLIENT = 16;

/** A compact JWS signed by one of the tenant's published keys, or null (the `typ` is the caller's to check). */
export function verifyTenantJws(tenant: TenantContext, token: string): ParsedJws | null {
  let jws: ParsedJws;
  try {
    jws = parseCompactJws(token, MAX_JWT_LENGTH);
  } catch {
    return null;
  }
  const kid = jws.header.kid;
  const key = kid !== undefined ? tenant.publishedKeys.get(kid) : undefined;
  const alg = jws.header.alg;
  if (key === undefined || alg !== key.alg || !isSupportedAlgorithm(alg)) return null;
  if (!verifySignature(prepareKey(key.key, alg), jws.signingInput, jws.signature)) return null;
  return jws;
}

export interface InspectedToken {
  kind: 'jwt' | 'opaque';
  claims: AccessTokenClaims;
  /** For opaque tokens: the stored hash, the revocation handle. */
  tokenHash?: string;
}

/**
 * Reads a token of this tenant back: null for anything that is not a live token
 * this tenant issued (bad signature, other issuer, expired, revoked, or its client
 * deleted or disabled).
 */
export class TokenInspector {
  constructor(
    private readonly state: Pick<StateStore, 'isJtiRevoked' | 'getOpaqueToken' | 'revokeOpaqueToken' | 'revokeJti'>,
    private readonly now: () => number,
  ) {}

  async inspect(tenant: TenantContext, token: string): Promise<InspectedToken | null> {
    const found = token.includes('.') ? this.#readJwt(tenant, token) : await this.#readOpaque(tenant, token);
    if (found === null) return null;
    const { claims } = found;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= this.now()) return null;
    const client = (await tenant.client(claims.client_id))?.client;
    if (client === undefined || client.disabled) return null;
    // A deleted API takes its tokens with it, as a deleted client does; one created
    // again under the same identifier does not revive them.
    const api = tenant.apisByIdentifier.get(claims.aud);
    if (api === undefined || claims.iat * 1000 < api.createdAt - 1000) return null;
    // A client deleted and created again under the same id does not revive old tokens.
    if (claims.iat * 1000 < client.createdAt - 1000) return null;
    if (found.kind === 'jwt' && (await this.state.isJtiRevoked(tenant.tenant.id, claims.jti))) return null;
    return found;
  }

  #readJwt(tenant: TenantContext, token: string): InspectedToken | null {
    const jws = verifyTenantJws(tenant, token);
    // Only access tokens: a transaction token or a signed introspection answer is never one (RFC 9068 §4).
    if (jws === null || !/^(application\/)?at\+jwt$/i.test(jws.header.typ ?? '')) return null;
    const claims = jws.payload as AccessTokenClaims;
    if (claims.iss !== tenant.issuer || typeof claims.jti !== 'string' || typeof claims.client_id !== 'string') return null;
    return { kind: 'jwt', claims };
  }

  async #readOpaque(tenant: TenantContext, token: string): Promise<InspectedToken | null> {
    if (token.length > 256) return null;
    const tokenHash = sha256Base64Url(token);
    const stored = await this.state.getOpaqueToken(tenant.tenant.id, tokenHash);
    if (stored === null || stored.revoked) return null;
    return { kind: 'opaque', claims: stored.claims as AccessTokenClaims, tokenHash };
  }

  /** RFC 7009: a JWT is revoked by its jti until it expires; an opaque token at once. */
  async revoke(tenant: TenantContext, token: InspectedToken): Promise<void> {
    if (token.tokenHash !== undefined) await this.state.revokeOpaqueToken(tenant.tenant.id, token.tokenHash);
    else await this.state.revokeJti(tenant.tenant.id, token.claims.jti, token.claims.exp * 1000);
  }
}
