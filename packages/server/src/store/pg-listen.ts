import pg from 'pg';
import { CHANGES_CHANNEL } from './kysely-store.js';
import type { ChangeListener } from './types.js';

/** Shown in pg_stat_activity, so operators (and tests) can tell the listener apart. */
export const LISTENER_APPLICATION_NAME = 'tessera-changes-listener';

/**
 * One dedicated connection (outside the pool) that LISTENs for committed changes.
 * `onError` is called once when the connection fails or ends; the caller reconnects.
 */
export async function listenForChanges(databaseUrl: string, onNotify: () => void, onError: (error: unknown) => void): Promise<ChangeListener> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000, application_name: LISTENER_APPLICATION_NAME });
  let done = false;
  const fail = (error: unknown) => {
    if (done) return;
    done = true;
    client.end().catch(() => {});
    onError(error);
  };
  client.on('error', fail);
  client.on('end', () => fail(new Error('the LISTEN connection ended')));
  client.on('notification', () => onNotify());
  try {
    await client.connect();
    await client.query(`LISTEN ${CHANGES_CHANNEL}`);
  } catch (error) {
    done = true;
    await client.end().catch(() => {});
    throw error;
  }
  return {
    async close() {
      done = true;
      await client.end().catch(() => {});
    },
  };
}
