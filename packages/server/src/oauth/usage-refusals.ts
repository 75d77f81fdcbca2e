/**
 * Counting token-endpoint refusals for usage analytics (docs/usage.md), from each
 * request's outcome. A refusal counts only in a tenant that exists, under a client and
 * an API only when they exist in it: whatever a caller sends, the counters never grow
 * beyond the registry (an unknown client_id counts as ''). Issued tokens are counted
 * where they are issued (domain/tokens.ts), whatever issues them.
 */
import type { UsageRecording } from '../domain/usage.js';
import type { OutcomeListener, ProtocolOutcome } from './outcome.js';

export function usageRefusals(usage: UsageRecording): OutcomeListener {
  return {
    outcome({ endpoint, error, tenant, params, credentials }: ProtocolOutcome): void {
      if (endpoint !== 'token' || error === null || tenant === null) return;
      const named = params?.getAll('audience')[0] ?? params?.getAll('resource')[0];
      const audience = named !== undefined && tenant.apisByIdentifier.has(named) ? named : '';
      // The client it claimed: not authenticated, so only ever looked up, never trusted.
      const claimed = credentials?.claimedClientId ?? null;
      if (claimed === null) {
        usage.refused(tenant.tenant.id, '', audience, error.error);
        return;
      }
      // The registry's cache answers (a known client is warm from the failed request, an
      // unknown one is in its bounded negative cache); a store outage counts it as ''.
      tenant.client(claimed).then(
        (entry) => usage.refused(tenant.tenant.id, entry !== null ? claimed : '', audience, error.error),
        () => usage.refused(tenant.tenant.id, '', audience, error.error),
      );
    },
  };
}
