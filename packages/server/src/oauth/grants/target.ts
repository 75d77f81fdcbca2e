/**
 * Which API a token is for (`audience`, or RFC 8707 `resource`) and which of the
 * granted scopes it carries: shared by every grant that issues a token.
 */
import type { ClientEntry, ClientGrant, TenantContext } from '../../domain/tenant-context.js';
import type { Api } from '../../store/types.js';
import { InvalidRequest, InvalidScope, InvalidTarget } from '../errors.js';
import { type Params, parseScope } from '../params.js';

export interface Target {
  api: Api;
  grant: ClientGrant;
  /** The scope values the API defines. */
  defined: ReadonlySet<string>;
}

export function resolveTarget(tenant: TenantContext, client: ClientEntry, params: Params): Target {
  const audience = params.get('audience');
  const resources = params.getAll('resource');
  if (resources.length > 1) {
    throw new InvalidTarget('one resource per request: a Tessera access token has exactly one audience (RFC 8707 §2)');
  }
  const [resource] = resources;
  if (resource !== undefined && !isAbsoluteUriWithoutFragment(resource)) {
    throw new InvalidTarget('resource must be an absolute URI without a fragment (RFC 8707 §2)');
  }
  if (audience !== undefined && resource !== undefined && audience !== resource) {
    throw new InvalidRequest('audience and resource name different APIs; send one of them');
  }
  const identifier = audience ?? resource;
  if (identifier !== undefined) {
    const api = tenant.apisByIdentifier.get(identifier);
    const grant = api === undefined ? undefined : tenant.grantFor(client, api.id);
    if (api === undefined || grant === undefined) {
      throw new InvalidTarget(`the API ${JSON.stringify(identifier)} is unknown or not granted to this client`);
    }
    return { api, grant, defined: tenant.apiScopes.get(api.id) ?? new Set() };
  }
  const grants = tenant.grantsOf(client);
  const [only] = grants;
  if (only === undefined) throw new InvalidTarget('no API is granted to this client');
  if (grants.length > 1) {
    throw new InvalidRequest('this client is granted several APIs: name one with the "audience" or "resource" parameter');
  }
  const api = tenant.apisById.get(only.apiId);
  if (api === undefined) throw new InvalidTarget('no API is granted to this client');
  return { api, grant: only, defined: tenant.apiScopes.get(api.id) ?? new Set() };
}

/**
 * The scopes a token carries: the requested ones, each of which must be granted and
 * still defined by the API; without `scope`, everything granted.
 */
export function resolveScopes(target: Target, requestedScope: string | undefined, ceiling?: ReadonlySet<string>): string[] {
  const { defined } = target;
  const isAllowed = (s: string) => target.grant.scopeSet.has(s) && defined.has(s) && (ceiling === undefined || ceiling.has(s));
  const requested = parseScope(requestedScope);
  if (requested === undefined) return target.grant.scopes.filter(isAllowed);
  // The list of refused scopes is made only when there are some.
  if (!requested.every(isAllowed)) {
    throw new InvalidScope(`scope not granted to this client for this API: ${requested.filter((s) => !isAllowed(s)).join(' ')}`);
  }
  return requested;
}

/** Verdicts on `resource` values already seen: the same few arrive on every request. */
const resourceVerdicts = new Map<string, boolean>();
const MAX_RESOURCE_VERDICTS = 1024;

function isAbsoluteUriWithoutFragment(value: string): boolean {
  const known = resourceVerdicts.get(value);
  if (known !== undefined) return known;
  let verdict = false;
  if (!value.includes('#')) {
    try {
      verdict = new URL(value).protocol.length > 1;
    } catch {
      verdict = false;
    }
  }
  if (resourceVerdicts.size >= MAX_RESOURCE_VERDICTS) resourceVerdicts.clear();
  resourceVerdicts.set(value, verdict);
  return verdict;
}
