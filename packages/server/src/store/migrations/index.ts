import type { Migration, MigrationProvider } from 'kysely';
import { initial } from './001_initial.js';
import { rateLimits } from './002_rate_limits.js';
import { changeFeed } from './003_change_feed.js';
import { usage } from './005_usage.js';
import { claimsAndFederationTrust } from './009_claims_and_federation_trust.js';
import { quotas } from './006_quotas.js';
import { stateApart } from './012_state_apart.js';
import { senderConstraintsAndTxnTokens } from './013_sender_constraints_and_txn_tokens.js';

/**
 * Every migration, in order, compiled into the server: no files to find at run
 * time. Never edit one that has shipped; add the next number instead.
 */
const migrations: Record<string, Migration> = {
  '001_initial': initial,
  '002_rate_limits': rateLimits,
  '003_change_feed': changeFeed,
  '005_usage': usage,
  '009_claims_and_federation_trust': claimsAndFederationTrust,
  '006_quotas': quotas,
  '012_state_apart': stateApart,
  '013_sender_constraints_and_txn_tokens': senderConstraintsAndTxnTokens,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};

export const MIGRATION_TABLE = 'tessera_migration';
export const MIGRATION_LOCK_TABLE = 'tessera_migration_lock';
