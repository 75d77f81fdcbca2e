/**
 * DPoP at the token endpoint (RFC 9449 §5, §8): the proof a token request carries is
 * checked (RFC 9449 §4.3, through the JOSE core the verifier shares), its `jti` used up
 * across replicas, the tenant's nonce demanded when it asks for one, and the request
 * answered with the key's thumbprint that the issued token gets bound to (`cnf.jkt`).
 *
 * Errors are 400 `invalid_dpop_proof` and `use_dpop_nonce` with `DPoP-Nonce`
 * (RFC 9449 §5, §8): the token endpoint answers in JSON, not with a challenge.
 */
import { checkDpopProof, DpopProofError, type NonceIssuer, SUPPORTED_ALGORITHMS } from '@tessera/verifier/core';
import type { TenantContext } from '../../domain/tenant-context.js';
import { InvalidDpopProof, UseDpopNonce } from '../errors.js';
import { type DpopReplayStore, useDpopProofJti } from './replay.js';

/** RFC 9449 §5.1 `dpop_signing_alg_values_supported`: every asymmetric algorithm the core verifies. */
export const DPOP_SIGNING_ALGS: readonly string[] = SUPPORTED_ALGORITHMS;

export interface DpopOptions {
  store: DpopReplayStore;
  nonces: NonceIssuer;
  now: () => number;
  /** How old a proof's `iat` may be (seconds). */
  proofMaxAge: number;
  /** How far ahead of our clock a proof's `iat` may be (seconds). */
  clockTolerance: number;
}

export interface DpopRequest {
  tenant: TenantContext;
  /** The request's `DPoP` header as Node parsed it (repeated headers joined by ", "). */
  header: string | string[] | undefined;
  method: string;
  /** Every URL the endpoint is known by (the issuer's, the mTLS alias's). */
  urls: readonly string[];
}

export interface DpopBinding {
  /** RFC 7638 thumbprint of the proof's key: the token's `cnf.jkt`. */
  jkt: string;
}

/** What the token endpoint learns from a request's DPoP header. */
export interface DpopTokenRequest {
  binding: DpopBinding | null;
  /** The `DPoP-Nonce` every answer carries, when the tenant requires nonces. */
  nonce: string | null;
}

const NO_PROOF: DpopTokenRequest = Object.freeze({ binding: null, nonce: null });

export class DpopTokenEndpoint {
  readonly #algorithms = new Set<string>(DPOP_SIGNING_ALGS);

  constructor(private readonly options: DpopOptions) {}

  /**
   * The token-request step: the binding of this request's proof (null without one),
   * and the nonce header every answer carries when the tenant requires nonces.
   */
  tokenRequest(tenant: TenantContext, headers: Record<string, string | string[] | undefined>, mtlsBaseUrl: string | null): DpopTokenRequest | Promise<DpopTokenRequest> {
    // Without a proof nothing is awaited and nothing is built (the common case).
    if (headers['dpop'] === undefined) {
      const nonce = this.nonceFor(tenant);
      return nonce === null ? NO_PROOF : { binding: null, nonce };
    }
    return this.#withProof(tenant, headers, mtlsBaseUrl);
  }

  async #withProof(tenant: TenantContext, headers: Record<string, string | string[] | undefined>, mtlsBaseUrl: string | null): Promise<DpopTokenRequest> {
    const urls = [`${tenant.issuer}/token`, ...(mtlsBaseUrl !== null ? [`${mtlsBaseUrl}/t/${tenant.tenant.id}/token`] : [])];
    const binding = await this.bind({ tenant, header: headers['dpop'], method: 'POST', urls });
    return { binding, nonce: this.nonceFor(tenant) };
  }

  /** The nonce to send in `DPoP-Nonce` with every answer, when the tenant requires nonces. */
  nonceFor(tenant: TenantContext): string | null {
    return tenant.tenant.dpopNonceRequired === true ? this.options.nonces.issue(tenant.tenant.id) : null;
  }

  /** Null when the request carries no proof; the binding otherwise; throws for a proof that fails. */
  async bind(request: DpopRequest): Promise<DpopBinding | null> {
    const { header, tenant } = request;
    if (header === undefined) return null;
    // RFC 9449 §4.3 check 1: exactly one DPoP header (a JWS never contains a comma).
    if (Array.isArray(header) || header.includes(',')) throw new InvalidDpopProof('the request has more than one DPoP header (RFC 9449 §4.3)');
    const { now, proofMaxAge, clockTolerance, nonces, store } = this.options;
    let proof;
    try {
      proof = checkDpopProof(header.trim(), { method: request.method, urls: request.urls, now: now(), maxAge: proofMaxAge, clockTolerance, algorithms: this.#algorithms });
    } catch (error) {
      if (error instanceof DpopProofError) throw new InvalidDpopProof(error.message);
      throw error;
    }
    const tenantId = tenant.tenant.id;
    if (tenant.tenant.dpopNonceRequired === true && (proof.nonce === undefined || !nonces.accepts(proof.nonce, tenantId))) {
      throw new UseDpopNonce(nonces.issue(tenantId), proof.nonce === undefined ? undefined : 'the DPoP proof\'s nonce is not current: resend the proof with the nonce in DPoP-Nonce (RFC 9449 §8)');
    }
    // Kept as long as the proof could pass the iat check.
    const expiresAt = (proof.iat + proofMaxAge + 2 * clockTolerance) * 1000;
    if (!(await useDpopProofJti(store, tenantId, proof.jkt, proof.jti, expiresAt))) {
      throw new InvalidDpopProof('the DPoP proof was already used ("jti", RFC 9449 §11.1)');
    }
    return { jkt: proof.jkt };
  }
}
