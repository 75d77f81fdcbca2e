/** Small building blocks every view uses: fields, buttons, dialogs, lists, copy. */
import type { ComponentChildren, JSX } from 'preact';
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, type ManagementClient, type Page } from './api.js';
import { dismiss, notify, useMessage } from './messages.js';
import { href, onLinkClick } from './router.js';
import { fieldMessage } from './validation.js';

export const ApiContext = createContext<ManagementClient | null>(null);
/**
 * What the signed-in user may do (GET /manage/v1/whoami): a viewer sees no control that
 * changes anything, and only an admin for every tenant sees the console users. The
 * server refuses what the console hides anyway; hiding keeps a viewer from trying.
 */
export interface Permissions {
  canWrite: boolean;
  /** An admin (or viewer) for every tenant, rather than some. */
  allTenants: boolean;
}
export const PermissionsContext = createContext<Permissions>({ canWrite: true, allTenants: true });
export function usePermissions(): Permissions {
  return useContext(PermissionsContext);
}

/** Its children only for a user who may change things. */
export function Writes({ children }: { children: ComponentChildren }) {
  return usePermissions().canWrite ? <>{children}</> : null;
}

export function useApi(): ManagementClient {
  const api = useContext(ApiContext);
  if (api === null) throw new Error('no ManagementClient in context');
  return api;
}

export function Link(props: { to: string; children: ComponentChildren; class?: string; 'aria-current'?: 'page' | undefined }) {
  return (
    <a href={href(props.to)} class={props.class} aria-current={props['aria-current']} onClick={(e) => onLinkClick(e as unknown as MouseEvent, props.to)}>
      {props.children}
    </a>
  );
}

/** A time in the viewer's own zone, named: `2026-12-03 15:04 CET`. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return 'never';
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  const zone = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(d).find((part) => part.type === 'timeZoneName')?.value ?? '';
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}${zone ? ` ${zone}` : ''}`;
}

/** The same time in UTC, for the hover text. */
export function formatUtc(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

/** A time in the viewer's zone; UTC on hover. */
export function Time({ at, empty = 'never' }: { at: number | null | undefined; empty?: string }) {
  if (at === null || at === undefined) return <span class="muted">{empty}</span>;
  return <time dateTime={new Date(at).toISOString()} title={formatUtc(at)}>{formatTime(at)}</time>;
}

/** A message for a failed call; the status says what kind of failure it was. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return error instanceof Error ? `network error: ${error.message}` : 'unexpected error';
}

/**
 * Runs one action at a time: a second click while the first is running does nothing
 * (no double submit). Errors go to the message region unless the caller handles them.
 */
export function useAction(): [boolean, (fn: () => Promise<void>) => Promise<void>] {
  const [busy, setBusy] = useState(false);
  const running = useRef(false);
  const mounted = useRef(true);
  useEffect(() => () => {
    mounted.current = false;
  }, []);
  const run = useCallback(async (fn: () => Promise<void>) => {
    if (running.current) return;
    running.current = true;
    setBusy(true);
    try {
      await fn();
    } catch (error) {
      notify('error', describeError(error));
    } finally {
      running.current = false;
      if (mounted.current) setBusy(false);
    }
  }, []);
  return [busy, run];
}

/** Loads data for a view; `reload` fetches again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: undefined, loading: false }),
      (error: unknown) => live && setState({ data: undefined, error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { ...state, reload: useCallback(() => setTick((n) => n + 1), []) };
}

export function Loading({ error, what }: { error: unknown; what: string }) {
  if (error !== undefined) return <p class="error-text" role="alert">Could not load {what}: {describeError(error)}</p>;
  return <p class="muted" aria-busy="true">Loading {what}…</p>;
}

/** `write`: the button changes something, so a viewer does not see it. */
export function Button(props: JSX.ButtonHTMLAttributes<HTMLButtonElement> & { busy?: boolean; kind?: 'primary' | 'danger' | 'plain'; write?: boolean }) {
  const { busy, kind = 'plain', children, write, ...rest } = props;
  const { canWrite } = usePermissions();
  if (write === true && !canWrite) return null;
  return (
    <button type="button" {...rest} class={`btn btn-${kind} ${String(rest.class ?? '')}`} disabled={busy === true || rest.disabled === true} aria-busy={busy === true ? 'true' : undefined}>
      {children}
    </button>
  );
}

let fieldCounter = 0;
/** A labelled input whose error sits next to it and is announced with it. */
export function Field(props: { label: string; error?: string | null; hint?: string; children: (attrs: { id: string; 'aria-invalid'?: 'true'; 'aria-describedby'?: string }) => ComponentChildren }) {
  const id = useMemo(() => `f${++fieldCounter}`, []);
  const described = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.children({ id, ...(props.error ? { 'aria-invalid': 'true' as const } : {}), ...(described ? { 'aria-describedby': described } : {}) })}
      {props.hint ? <p class="hint" id={`${id}-hint`}>{props.hint}</p> : null}
      {props.error ? <p class="field-error" id={`${id}-error`}>{props.error}</p> : null}
    </div>
  );
}

/** Routes a server error to the field it names, or to the message region. */
export function fieldErrorOf(error: unknown, fields: string[]): { field: string; message: string } | null {
  if (error instanceof ApiError && (error.status === 400 || error.status === 422 || error.status === 409)) {
    const field = error.field;
    if (field !== null && fields.includes(field)) return { field, message: fieldMessage(field, error.message) };
  }
  return null;
}

export function CopyButton({ value, label }: { value: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="btn btn-plain btn-small"
      aria-label={`Copy ${label}`}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(value);
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        } catch {
          notify('error', `Could not copy ${label}: select it and copy by hand`);
        }
      }}
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}

/** A value people copy: monospace, breaks anywhere, with its copy button. */
export function Copyable({ value, label }: { value: string; label: string }) {
  return (
    <span class="copyable">
      <code>{value}</code>
      <CopyButton value={value} label={label} />
    </span>
  );
}

export function MessageRegion() {
  const message = useMessage();
  return (
    <div class="message-region" role="status" aria-live="polite" aria-atomic="true">
      {message === null ? null : (
        <div class={`message message-${message.kind}`}>
          <span>{message.text}</span>
          <button type="button" class="btn btn-plain btn-small" onClick={dismiss} aria-label="Dismiss message">×</button>
        </div>
      )}
    </div>
  );
}

// Confirmations: one host, a promise per question.
export interface ConfirmRequest {
  title: string;
  /** What will be lost, in words. */
  body: ComponentChildren;
  confirmLabel: string;
  /** When set, the person must type this to confirm. */
  typed?: string;
}
let ask: ((request: ConfirmRequest) => Promise<boolean>) | null = null;
export function confirmAction(request: ConfirmRequest): Promise<boolean> {
  if (ask === null) return Promise.resolve(false);
  return ask(request);
}

export function ConfirmHost() {
  const [pending, setPending] = useState<{ request: ConfirmRequest; resolve: (ok: boolean) => void } | null>(null);
  const [typed, setTyped] = useState('');
  const opener = useRef<Element | null>(null);
  const first = useRef<HTMLInputElement & HTMLButtonElement>(null);
  useEffect(() => {
    ask = (request) =>
      new Promise<boolean>((resolve) => {
        opener.current = document.activeElement;
        setTyped('');
        setPending({ request, resolve });
      });
    return () => {
      ask = null;
    };
  }, []);
  useEffect(() => {
    if (pending !== null) first.current?.focus();
  }, [pending]);
  if (pending === null) return null;
  const close = (ok: boolean) => {
    pending.resolve(ok);
    setPending(null);
    // After the action that asked has finished and re-enabled its button.
    const back = opener.current as HTMLElement | null;
    setTimeout(() => back?.focus?.(), 0);
  };
  const { request } = pending;
  const ready = request.typed === undefined || typed === request.typed;
  return (
    <div
      class="backdrop"
      onKeyDown={(e) => {
        if (e.key === 'Escape') close(false);
        // Tab stays inside the dialog while it is open.
        if (e.key !== 'Tab') return;
        const focusable = [...(e.currentTarget as HTMLElement).querySelectorAll<HTMLElement>('input, button:not([disabled])')];
        const [firstEl, lastEl] = [focusable[0], focusable[focusable.length - 1]];
        if (e.shiftKey && document.activeElement === firstEl) {
          e.preventDefault();
          lastEl?.focus();
        } else if (!e.shiftKey && document.activeElement === lastEl) {
          e.preventDefault();
          firstEl?.focus();
        }
      }}
    >
      <form
        class="dialog"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby="confirm-title"
        aria-describedby="confirm-body"
        onSubmit={(e) => {
          e.preventDefault();
          if (ready) close(true);
        }}
      >
        <h2 id="confirm-title">{request.title}</h2>
        <div id="confirm-body">{request.body}</div>
        {request.typed !== undefined ? (
          <div class="field">
            <label for="confirm-typed">Type <strong>{request.typed}</strong> to confirm</label>
            <input id="confirm-typed" ref={first} autoComplete="off" value={typed} onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />
          </div>
        ) : null}
        <div class="actions">
          <button type="button" class="btn btn-plain" ref={request.typed === undefined ? first : undefined} onClick={() => close(false)}>Cancel</button>
          <button type="submit" class="btn btn-danger" disabled={!ready}>{request.confirmLabel}</button>
        </div>
      </form>
    </div>
  );
}

/**
 * A list with search, sort and cursor paging: pages come from the server as they are
 * asked for (nextCursor is followed, never ignored); search and sort work on what is
 * loaded, and "Load all" fetches the rest so a search can cover everything.
 */
export interface Column<T> { label: string; sort?: (item: T) => string | number; render: (item: T) => ComponentChildren; class?: string }
export function DataList<T>(props: {
  label: string;
  load: (cursor: string | null) => Promise<Page<T>>;
  columns: Column<T>[];
  search: (item: T) => string;
  rowKey: (item: T) => string;
  deps: unknown[];
  empty: ComponentChildren;
  reloadToken?: number;
}) {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [state, setState] = useState<'loading' | 'ready' | 'error'>('loading');
  const [error, setError] = useState<unknown>(undefined);
  const [term, setTerm] = useState('');
  const [sortBy, setSortBy] = useState<{ column: number; dir: 1 | -1 }>({ column: 0, dir: 1 });
  const [busy, run] = useAction();

  useEffect(() => {
    let live = true;
    setState('loading');
    props.load(null).then(
      (page) => {
        if (!live) return;
        setItems(page.items);
        setCursor(page.nextCursor);
        setState('ready');
      },
      (e: unknown) => {
        if (!live) return;
        setError(e);
        setState('error');
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...props.deps, props.reloadToken]);

  const more = (all: boolean) =>
    run(async () => {
      let next = cursor;
      const loaded = [...items];
      do {
        const page = await props.load(next);
        loaded.push(...page.items);
        next = page.nextCursor;
      } while (all && next !== null);
      setItems(loaded);
      setCursor(next);
    });

  // A search covers every item, not just the loaded pages: the rest is fetched once.
  const searching = term.trim() !== '';
  useEffect(() => {
    if (searching && cursor !== null && state === 'ready') void more(true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [searching, state]);

  const shown = useMemo(() => {
    const needle = term.trim().toLowerCase();
    const filtered = needle === '' ? items : items.filter((item) => props.search(item).toLowerCase().includes(needle));
    const column = props.columns[sortBy.column];
    if (column?.sort === undefined) return filtered;
    const key = column.sort;
    return [...filtered].sort((a, b) => {
      const x = key(a);
      const y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * sortBy.dir;
    });
  }, [items, term, sortBy]);

  if (state === 'loading') return <Loading error={undefined} what={props.label.toLowerCase()} />;
  if (state === 'error') return <Loading error={error} what={props.label.toLowerCase()} />;
  return (
    <div class="datalist">
      <div class="toolbar">
        <label class="search">
          <span class="visually-hidden">Search {props.label.toLowerCase()}</span>
          <input type="search" placeholder={`Search ${props.label.toLowerCase()}`} value={term} onInput={(e) => setTerm((e.target as HTMLInputElement).value)} />
        </label>
        <span class="muted" aria-live="polite">
          {shown.length} of {items.length}{cursor !== null ? '+' : ''} shown
        </span>
      </div>
      {items.length === 0 ? (
        <p class="empty">{props.empty}</p>
      ) : (
        <table>
          <caption class="visually-hidden">{props.label}</caption>
          <thead>
            <tr>
              {props.columns.map((column, index) => (
                <ColumnHeader
                  label={column.label}
                  class={column.class}
                  sorted={sortBy.column === index && column.sort ? (sortBy.dir === 1 ? 'asc' : 'desc') : null}
                  onSort={column.sort ? () => setSortBy((s) => ({ column: index, dir: s.column === index ? (s.dir === 1 ? -1 : 1) : 1 })) : undefined}
                />
              ))}
            </tr>
          </thead>
          <TableRows items={shown} columns={props.columns} rowKey={props.rowKey} />
        </table>
      )}
      {cursor !== null ? (
        <div class="actions">
          <Button busy={busy} onClick={() => more(false)}>Load more</Button>
          <Button busy={busy} onClick={() => more(true)}>Load all</Button>
        </div>
      ) : null}
    </div>
  );
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={props.id}>
      <div class="card-head">
        <h2 id={props.id}>{props.title}</h2>
        {props.actions}
      </div>
      {props.children}
    </section>
  );
}

/** A column header; with `onSort`, a button that sorts by it, and `aria-sort` while it is the sorted column. */
export function ColumnHeader(props: { label: string; class?: string | undefined; sorted: 'asc' | 'desc' | null; onSort?: (() => void) | undefined }) {
  return (
    <th scope="col" class={props.class} aria-sort={props.sorted === null ? undefined : props.sorted === 'asc' ? 'ascending' : 'descending'}>
      {props.onSort !== undefined ? (
        <button type="button" class="sort" onClick={props.onSort}>
          {props.label}
          <span aria-hidden="true">{props.sorted === null ? '' : props.sorted === 'asc' ? ' ▲' : ' ▼'}</span>
        </button>
      ) : (
        props.label
      )}
    </th>
  );
}

/** A table's rows: one cell per column, labelled for the narrow layout. */
export function TableRows<T>(props: { items: readonly T[]; columns: readonly { label: string; class?: string | undefined; render: (item: T) => ComponentChildren }[]; rowKey: (item: T) => string }) {
  return (
    <tbody>
      {props.items.map((item) => (
        <tr key={props.rowKey(item)}>
          {props.columns.map((column) => (
            <td class={column.class} data-label={column.label}>{column.render(item)}</td>
          ))}
        </tr>
      ))}
    </tbody>
  );
}
