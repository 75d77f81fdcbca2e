/**
 * A fake management API for component tests: a fetch that answers from a route table
 * and records every call, handed to the real typed client.
 */
import { ManagementClient } from '../src/api.js';

export type Handler = (request: { method: string; url: URL; body: unknown }) => { status: number; body?: unknown } | Promise<{ status: number; body?: unknown }>;

export function fakeApi(routes: Record<string, Handler>) {
  const calls: { method: string; path: string; body: unknown }[] = [];
  const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), 'http://console.test');
    const method = init?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    calls.push({ method, path: url.pathname + url.search, body });
    const handler = routes[`${method} ${url.pathname}`] ?? patternRoute(routes, method, url.pathname);
    const answer = handler === undefined ? { status: 404, body: { error: 'not_found', message: 'no such management endpoint' } } : await handler({ method, url, body });
    return new Response(answer.status === 204 ? null : JSON.stringify(answer.body ?? {}), { status: answer.status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  return { api: new ManagementClient(() => 'test-token', () => {}, '', fetcher), calls };
}

/** A route with `:name` segments (`GET /manage/v1/tenants/default/clients/:id`) answers any value there. */
function patternRoute(routes: Record<string, Handler>, method: string, pathname: string): Handler | undefined {
  const parts = pathname.split('/');
  for (const [key, handler] of Object.entries(routes)) {
    const [m, pattern] = key.split(' ');
    const want = (pattern ?? '').split('/');
    if (m === method && want.length === parts.length && want.every((w, i) => w.startsWith(':') || w === parts[i])) return handler;
  }
  return undefined;
}

/** GET /clients/{id} over a fixed set of clients: 404 for any other id, as the server answers. */
export function clientLookup(clients: readonly { clientId: string }[]): Handler {
  return ({ url }) => {
    const id = decodeURIComponent(url.pathname.split('/').at(-1) ?? '');
    const found = clients.find((c) => c.clientId === id);
    return found === undefined ? { status: 404, body: { error: 'not_found', message: `client ${id} not found` } } : { status: 200, body: found };
  };
}

export async function waitFor<T>(probe: () => T | null | undefined | false, timeout = 2000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() - start > timeout) throw new Error('waitFor: timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function byText(root: ParentNode, selector: string, text: string | RegExp): HTMLElement | null {
  for (const el of root.querySelectorAll<HTMLElement>(selector)) {
    const content = el.textContent ?? '';
    if (typeof text === 'string' ? content.includes(text) : text.test(content)) return el;
  }
  return null;
}

export function type(input: HTMLInputElement | HTMLTextAreaElement, value: string): void {
  input.value = value;
  input.dispatchEvent(new Event('input', { bubbles: true }));
}
