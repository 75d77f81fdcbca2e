import type { Migration } from 'kysely';
import { initial } from './001_initial.js';
import { rateLimits } from './002_rate_limits.js';
import { changeFeed } from './003_change_feed.js';
import { usage } from './005_usage.js';
import { quotas } from './006_quotas.js';
import { claimsAndFederationTrust } from './009_claims_and_federation_trust.js';
import { stateApart } from './012_state_apart.js';
import { senderConstraintsAndTxnTokens } from './013_sender_constraints_and_txn_tokens.js';
import { consoleUserRoles } from './014_console_user_roles.js';
import { listIndexes } from './015_list_indexes.js';

export interface NamedMigration {
  /** Recorded in `tessera_migration` once applied: never rename one that has shipped. */
  readonly name: string;
  readonly migration: Migration;
}

/**
 * Every migration, compiled into the server (no files to find at run time), in the
 * one order they run on every database, forever: by number. Databases record the
 * names, so a shipped migration is never edited, renamed or reordered; a new one takes
 * a number above every existing one (numbers missing here were never shipped).
 * docs/storage.md says how an upgrade runs them.
 */
export const MIGRATIONS: readonly NamedMigration[] = [
  { name: '001_initial', migration: initial },
  { name: '002_rate_limits', migration: rateLimits },
  { name: '003_change_feed', migration: changeFeed },
  { name: '005_usage', migration: usage },
  { name: '006_quotas', migration: quotas },
  { name: '009_claims_and_federation_trust', migration: claimsAndFederationTrust },
  { name: '012_state_apart', migration: stateApart },
  { name: '013_sender_constraints_and_txn_tokens', migration: senderConstraintsAndTxnTokens },
  { name: '014_console_user_roles', migration: consoleUserRoles },
  { name: '015_list_indexes', migration: listIndexes },
];

/** The bookkeeping table: one row per applied migration (`name`, `timestamp`), as Kysely's Migrator kept it. */
export const MIGRATION_TABLE = 'tessera_migration';
