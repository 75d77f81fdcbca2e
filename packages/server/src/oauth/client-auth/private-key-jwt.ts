/**
 * private_key_jwt (RFC 7523 §2.2 and §3, RFC 7521 §4.2): the client authenticates
 * with a JWT it signed with a key whose public half it registered (jwks or jwksUri).
 *
 * Every failure is `invalid_client` (RFC 7521 §4.2.1). Claim failures say which rule
 * failed; everything that depends on who the client is (unknown, disabled, registered
 * for another method, no matching key, bad signature) reads the same, so the answer
 * never tells whether a client id exists.
 */
import { type Algorithm, InvalidTokenError, isSupportedAlgorithm, type ParsedJws, parseCompactJws, SUPPORTED_ALGORITHMS, verifySignature } from '@tessera/verifier/core';
import type { UsageRecording } from '../../domain/usage.js';
import { useAssertionJti } from '../../store/state/single-use.js';
import type { StateStore } from '../../store/state/types.js';
import { InvalidClient, InvalidRequest } from '../errors.js';
import { type ClientKey, ClientKeySetUnavailable, type ClientKeys } from './client-keys.js';
import type { AuthenticatedClient, ClientAuthMethod, ClientAuthRequest } from './types.js';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** `typ` values of a client assertion (draft-ietf-oauth-rfc7523bis), `application/` optional. */
const CLIENT_ASSERTION_TYP = /^(application\/)?(client-authentication\+jwt|jwt)$/i;

/** What the failures that depend on the client's identity all say. */
export const ASSERTION_NOT_VERIFIED = 'client assertion could not be verified: unknown client, client not registered for private_key_jwt, or no registered key verifies its signature';

export interface PrivateKeyJwtOptions {
  /** Replay protection: the state store's single-use keys, shared by every replica. */
  store: Pick<StateStore, 'useOnce'>;
  keys: ClientKeys;
  /** The server's clock (epoch ms). */
  now: () => number;
  /** `exp` at most this far ahead (seconds); config clientAssertion.maxLifetime. */
  maxLifetime: number;
  /** Clock skew allowed on exp/nbf/iat (seconds); config clientAssertion.clockTolerance. */
  clockTolerance: number;
  /** Base URL of the mTLS endpoint aliases (RFC 8705 §5), whose endpoints are audiences too. */
  mtlsBaseUrl?: string | null;
  /** Records which key each client used (docs/usage.md). */
  usage?: Pick<UsageRecording, 'keyUsed'>;
}

/** Bounds what a client can make the store remember. */
const MAX_JTI_LENGTH = 256;
/** Longer assertions are refused before any parsing. */
const MAX_ASSERTION_LENGTH = 16 * 1024;

export function privateKeyJwt(options: PrivateKeyJwtOptions): ClientAuthMethod {
  const fail = (description: string) => new InvalidClient(description);

  return {
    methods: ['private_key_jwt'],
    presented: (request) => request.credentials.methods.includes('private_key_jwt'),
    async authenticate(request: ClientAuthRequest): Promise<AuthenticatedClient> {
      const assertionType = request.params.get('client_assertion_type');
      const assertion = request.params.get('client_assertion');
      // A request with only half of the pair is malformed (RFC 6749 §5.2 "missing a
      // required parameter"): invalid_request, before any authentication is attempted.
      if (assertionType === undefined) throw new InvalidRequest('client_assertion needs client_assertion_type (RFC 7521 §4.2)');
      if (assertion === undefined) throw new InvalidRequest('client_assertion_type needs client_assertion (RFC 7521 §4.2)');
      // An assertion type we do not support is an unsupported authentication method,
      // which RFC 6749 §5.2 lists under invalid_client, and RFC 7521 §4.2.1 makes
      // invalid_client the answer to any client assertion that cannot be accepted.
      if (assertionType !== JWT_BEARER_ASSERTION_TYPE) {
        throw fail(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE} (RFC 7523 §2.2)`);
      }

      let jws: ParsedJws;
      try {
        jws = parseCompactJws(assertion, MAX_ASSERTION_LENGTH);
      } catch (error) {
        if (error instanceof InvalidTokenError) throw fail(`client assertion is not a compact JWS (RFC 7523 §3): ${error.message}`);
        throw error;
      }
      const alg = jws.header.alg;
      if (!isSupportedAlgorithm(alg)) {
        throw fail(`client assertion alg must be one of ${SUPPORTED_ALGORITHMS.join(', ')} (never none or HMAC)`);
      }
      // draft-ietf-oauth-rfc7523bis: client-authentication+jwt is the explicit type; an
      // untyped or plain JWT stays accepted, another JWT type (at+jwt, dpop+jwt) never.
      if (jws.header.typ !== undefined && !CLIENT_ASSERTION_TYP.test(jws.header.typ)) {
        throw fail('client assertion typ must be client-authentication+jwt (or JWT, or absent)');
      }

      const clientId = checkClaims(jws.payload, request, options);

      const entry = await request.tenant.client(clientId);
      const client = entry?.client;
      if (entry === null || client === undefined || client.disabled || client.tokenEndpointAuthMethod !== 'private_key_jwt') {
        throw fail(ASSERTION_NOT_VERIFIED);
      }
      let verified: ClientKey | undefined;
      try {
        const kid = jws.header.kid;
        const candidates = await options.keys.find(client, (key) => fitsAssertion(key, alg, kid));
        verified = candidates.find((candidate) => {
          const prepared = candidate.prepared.get(alg);
          return prepared !== undefined && verifySignature(prepared, jws.signingInput, jws.signature);
        });
      } catch (error) {
        // The client's jwksUri is down and we never had its keys: as far as the
        // caller can tell, no registered key verifies the signature.
        if (!(error instanceof ClientKeySetUnavailable)) throw error;
      }
      if (!verified) throw fail(ASSERTION_NOT_VERIFIED);

      // Only a verified assertion consumes its jti, so unsigned junk cannot fill the store.
      // It is remembered until the assertion stops being accepted, clock tolerance included.
      const expiresAt = ((jws.payload['exp'] as number) + options.clockTolerance) * 1000;
      const first = await useAssertionJti(options.store, request.tenant.tenant.id, clientId, jws.payload['jti'] as string, expiresAt);
      if (!first) throw fail('client assertion jti was already used (RFC 7523 §3 item 7)');
      const usedKid = verified.jwk['kid'];
      if (typeof usedKid === 'string') options.usage?.keyUsed(request.tenant.tenant.id, clientId, usedKid);
      return { client, entry, method: 'private_key_jwt' };
    },
  };
}

/** RFC 7523 §3 items 1 to 7, in order; returns the client id the assertion names. */
function checkClaims(payload: ParsedJws['payload'], request: ClientAuthRequest, options: PrivateKeyJwtOptions): string {
  const fail = (description: string) => new InvalidClient(description);
  const { iss, sub, aud, exp, nbf, iat, jti } = payload;

  // §3 item 1 and §3 item 2: iss and sub are both the client id (RFC 7523 §2.2).
  if (typeof iss !== 'string' || iss === '') throw fail('client assertion iss is required and must be the client_id (RFC 7523 §3 item 1)');
  if (typeof sub !== 'string' || sub === '') throw fail('client assertion sub is required and must be the client_id (RFC 7523 §3 item 2)');
  if (iss !== sub) throw fail('client assertion iss and sub must both be the client_id (RFC 7523 §2.2)');
  const bodyClientId = request.params.get('client_id');
  if (bodyClientId !== undefined && bodyClientId !== sub) throw fail('client_id does not match the client assertion sub (RFC 7521 §4.2)');

  // §3 item 3: the audience is this authorization server.
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
  if (audiences.length === 0) throw fail('client assertion aud is required (RFC 7523 §3 item 3)');
  if (!audiences.some((a) => isAcceptedAudience(a, request, options))) {
    throw fail(`client assertion aud must contain the issuer ${request.tenant.issuer} or the endpoint URL (RFC 7523 §3 item 3)`);
  }

  // §3 item 4: exp is required, not past, and (our policy, SPEC §3) not too far ahead.
  const now = options.now() / 1000;
  const skew = options.clockTolerance;
  if (exp === undefined) throw fail('client assertion exp is required (RFC 7523 §3 item 4)');
  if (!isNumericDate(exp)) throw fail('client assertion exp must be a NumericDate (RFC 7519 §2)');
  if (exp <= now - skew) throw fail('client assertion has expired (RFC 7523 §3 item 4)');
  // SPEC §3: at most maxLifetime ahead, strictly (the tolerance is for clocks behind, not for longer lives).
  if (exp > now + options.maxLifetime) {
    throw fail(`client assertion exp is too far in the future: at most ${options.maxLifetime} seconds ahead`);
  }
  // §3 item 5 and §3 item 6: optional nbf and iat must not be in the future.
  if (nbf !== undefined && (!isNumericDate(nbf) || nbf > now + skew)) throw fail('client assertion is not valid yet: nbf is in the future (RFC 7523 §3 item 5)');
  if (iat !== undefined && (!isNumericDate(iat) || iat > now + skew)) throw fail('client assertion iat is in the future (RFC 7523 §3 item 6)');

  // §3 item 7: a jti, so the assertion can be used once only.
  if (typeof jti !== 'string' || jti === '') throw fail('client assertion jti is required (RFC 7523 §3 item 7)');
  if (jti.length > MAX_JTI_LENGTH) throw fail(`client assertion jti must be at most ${MAX_JTI_LENGTH} characters`);
  return sub;
}

/**
 * SPEC §3: the issuer or the token endpoint (also at its mTLS alias), and for
 * introspection and revocation the URL called (RFC 7523 §3 item 3).
 */
function isAcceptedAudience(audience: string, request: ClientAuthRequest, options: PrivateKeyJwtOptions): boolean {
  const issuer = request.tenant.issuer;
  if (audience === issuer || audience === request.endpointUrl || audience === `${issuer}/token`) return true;
  if (!options.mtlsBaseUrl) return false;
  const alias = `${options.mtlsBaseUrl}/t/${request.tenant.tenant.id}`;
  return audience === `${alias}/token` || audience === `${alias}/${request.endpointUrl.slice(issuer.length + 1)}`;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Whether a registered key may have made a signature with `alg`: the kid matches
 * when the assertion names one; otherwise every key whose type fits is tried. The
 * key set prepared each key for the algorithms its kty, crv and alg allow (RSA keys
 * of at least 2048 bits, RFC 7518 §3.3).
 */
function fitsAssertion(candidate: ClientKey, alg: Algorithm, kid: string | undefined): boolean {
  if (kid !== undefined && candidate.kid !== kid) return false;
  return candidate.prepared.has(alg);
}
