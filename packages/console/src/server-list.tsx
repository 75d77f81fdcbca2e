/**
 * A list the server searches, sorts and pages (docs/management-api.md, "Search, sort and
 * paging"): whatever the registry's size, the page holds one page of rows. The search
 * box asks the server after a pause in typing; a column header sorts on the server;
 * Previous and Next walk the cursors the server hands out.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Page, SortOrder } from './api.js';
import { Button, ColumnHeader, Loading, TableRows } from './ui.js';

/** What one page request asks for. */
export interface ListRequest<S extends string> {
  q: string;
  sort: S;
  order: SortOrder;
  cursor: string | null;
  limit: number;
}

export interface ServerColumn<T, S extends string> {
  label: string;
  /** The server's sort key for this column; none: not sortable. */
  sort?: S;
  render: (item: T) => ComponentChildren;
  class?: string;
}

/** How long typing must pause before the search goes to the server. */
export const SEARCH_DELAY_MS = 300;

/** A value that follows `value` once it has stopped changing for `delay` ms. */
export function useDebounced<T>(value: T, delay: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delay);
    return () => clearTimeout(timer);
  }, [value, delay]);
  return settled;
}

export function ServerList<T, S extends string>(props: {
  label: string;
  load: (request: ListRequest<S>) => Promise<Page<T>>;
  columns: ServerColumn<T, S>[];
  rowKey: (item: T) => string;
  /** The sort a fresh list starts with, and the order each column starts in when chosen. */
  initialSort: { sort: S; order: SortOrder };
  firstOrder?: Partial<Record<S, SortOrder>>;
  /** Without a search box when the server has no search for this list. */
  searchPlaceholder?: string | null;
  deps: unknown[];
  empty: ComponentChildren;
  reloadToken?: number;
  pageSize?: number;
  /** Shown beside the search box (filters of this list). */
  filters?: ComponentChildren;
}) {
  const limit = props.pageSize ?? 50;
  const [term, setTerm] = useState('');
  const q = useDebounced(term.trim(), SEARCH_DELAY_MS);
  const [sorting, setSorting] = useState(props.initialSort);
  const restartKey = JSON.stringify([q, sorting, ...props.deps, props.reloadToken ?? 0]);
  // The cursors of the pages visited: cursors[i] loads page i (page 0: null). A new
  // search, sort or filter starts again at the first page (a cursor belongs to its sort).
  const [walk, setWalk] = useState<{ key: string; cursors: (string | null)[] }>({ key: restartKey, cursors: [null] });
  const cursors = walk.key === restartKey ? walk.cursors : [null];
  const setCursors = (change: (c: (string | null)[]) => (string | null)[]) => setWalk({ key: restartKey, cursors: change(cursors) });
  // What is shown belongs to the request it answered: a page (or an error) of another
  // request is stale, and the list says Loading until its own answer arrives. Derived in
  // render, so no frame shows the new page number over the old page's rows.
  const requestKey = `${restartKey}\n${cursors.join('\n')}`;
  const [answer, setAnswer] = useState<{ key: string; page: Page<T> | null; error: unknown } | null>(null);
  const loading = answer?.key !== requestKey;
  const page = answer?.page ?? null;
  const error = loading ? undefined : answer.error;
  const index = cursors.length - 1;

  useEffect(() => {
    let live = true;
    props.load({ q, sort: sorting.sort, order: sorting.order, cursor: cursors[index] ?? null, limit }).then(
      (result) => {
        if (live) setAnswer({ key: requestKey, page: result, error: undefined });
      },
      (e: unknown) => {
        if (live) setAnswer((previous) => ({ key: requestKey, page: previous?.page ?? null, error: e }));
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [requestKey]);

  const sortBy = (key: S) =>
    setSorting((s) => (s.sort === key ? { sort: key, order: s.order === 'asc' ? 'desc' : 'asc' } : { sort: key, order: props.firstOrder?.[key] ?? 'asc' }));
  const lower = props.label.toLowerCase();
  const items = page?.items ?? [];
  const first = index * limit + 1;
  return (
    <div class="datalist">
      <div class="toolbar">
        {props.searchPlaceholder !== null ? (
          <label class="search">
            <span class="visually-hidden">Search {lower}</span>
            <input type="search" placeholder={props.searchPlaceholder ?? `Search ${lower}`} value={term} onInput={(e) => setTerm((e.target as HTMLInputElement).value)} />
          </label>
        ) : null}
        {props.filters}
        <span class="muted" aria-live="polite">
          {loading ? 'Loading…' : items.length === 0 ? 'None shown' : `${first}–${first + items.length - 1} shown${page?.nextCursor !== null ? ', more on the next pages' : ''}`}
        </span>
      </div>
      {error !== undefined ? (
        <Loading error={error} what={lower} />
      ) : page === null ? (
        <Loading error={undefined} what={lower} />
      ) : items.length === 0 ? (
        <p class="empty">{q !== '' ? `No ${lower} match “${q}”.` : props.empty}</p>
      ) : (
        <table aria-busy={loading ? 'true' : undefined}>
          <caption class="visually-hidden">{props.label}</caption>
          <thead>
            <tr>
              {props.columns.map((column) => {
                const sort = column.sort;
                return (
                  <ColumnHeader
                    label={column.label}
                    class={column.class}
                    sorted={sort !== undefined && sort === sorting.sort ? sorting.order : null}
                    onSort={sort !== undefined ? () => sortBy(sort) : undefined}
                  />
                );
              })}
            </tr>
          </thead>
          <TableRows items={items} columns={props.columns} rowKey={props.rowKey} />
        </table>
      )}
      {index > 0 || page?.nextCursor != null ? (
        <nav class="actions pager" aria-label={`Pages of ${lower}`}>
          <Button disabled={index === 0 || loading} onClick={() => setCursors((c) => c.slice(0, -1))}>Previous page</Button>
          <span class="muted">Page {index + 1}</span>
          <Button disabled={page?.nextCursor == null || loading} onClick={() => page?.nextCursor != null && setCursors((c) => [...c, page.nextCursor])}>Next page</Button>
        </nav>
      ) : null}
    </div>
  );
}
