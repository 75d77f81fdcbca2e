/**
 * Group commit for single-use keys: every `useOnce` of one event-loop turn goes to
 * the database in one multi-row insert-or-nothing, instead of one autocommitted
 * insert each (with private_key_jwt, one per token). Duplicates inside a batch are
 * settled here first, so exactly one caller of a key wins; across batches, workers
 * and replicas the unique key decides, as it did for one row.
 */

export interface SingleUseRow {
  namespace: string;
  tenantId: string;
  key: string;
  expiresAt: number;
}

/** Inserts distinct rows, skipping those that exist; returns the ids (`singleUseId`) of the rows it inserted. */
export type InsertNewRows = (rows: SingleUseRow[]) => Promise<Set<string>>;

interface Waiter {
  resolve(first: boolean): void;
  reject(error: unknown): void;
}

export function singleUseId(row: Pick<SingleUseRow, 'namespace' | 'tenantId' | 'key'>): string {
  return JSON.stringify([row.namespace, row.tenantId, row.key]);
}

export class GroupCommit {
  #pending = new Map<string, { row: SingleUseRow; waiters: Waiter[] }>();
  #scheduled = false;

  constructor(
    private readonly insertNewRows: InsertNewRows,
    /** Rows per statement: far below SQLite's and PostgreSQL's bound-parameter limits. */
    private readonly maxRows = 500,
  ) {}

  use(row: SingleUseRow): Promise<boolean> {
    const id = singleUseId(row);
    return new Promise<boolean>((resolve, reject) => {
      const entry = this.#pending.get(id);
      if (entry !== undefined) entry.waiters.push({ resolve, reject });
      else this.#pending.set(id, { row, waiters: [{ resolve, reject }] });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // After the I/O callbacks of this turn: every request parsed in it joins the batch.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = [...this.#pending.entries()];
    this.#pending = new Map();
    for (let start = 0; start < batch.length; start += this.maxRows) {
      const chunk = batch.slice(start, start + this.maxRows);
      this.insertNewRows(chunk.map(([, entry]) => entry.row)).then(
        (inserted) => {
          for (const [id, { waiters }] of chunk) {
            const [first, ...others] = waiters;
            first?.resolve(inserted.has(id));
            for (const other of others) other.resolve(false);
          }
        },
        (error: unknown) => {
          // Nothing is accepted that could not be recorded: every caller of the batch fails.
          for (const [, { waiters }] of chunk) for (const waiter of waiters) waiter.reject(error);
        },
      );
    }
  }
}
