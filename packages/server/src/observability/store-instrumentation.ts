/**
 * Times every store operation at the store boundary (metrics, and a span when tracing
 * is configured) without touching the store itself: the wrapper's methods call the
 * real store's, so a store added later is wrapped the same way. The Store handed to a
 * transaction callback is the real one: operations inside a transaction are timed as
 * the transaction.
 */
import type { StoreEvents } from './metrics.js';
import type { Tracing } from './tracing.js';

export function instrumentStore<S extends { readonly kind: string }>(store: S, events: StoreEvents, tracing: Tracing | null = null): S {
  const wrapper = Object.create(store) as Record<string, unknown>;
  const seen = new Set<string>();
  for (let proto = Object.getPrototypeOf(store) as object | null; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || seen.has(name)) continue;
      seen.add(name);
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (descriptor === undefined) continue;
      if (descriptor.get !== undefined) {
        Object.defineProperty(wrapper, name, { get: () => (store as unknown as Record<string, unknown>)[name], enumerable: false });
        continue;
      }
      if (typeof descriptor.value !== 'function') continue;
      const target = store as unknown as Record<string, (...args: unknown[]) => unknown>;
      // Only operations that return a promise are timed; synchronous members (usage(),
      // onCommit(), a null from listenForChanges()) pass straight through, unchanged.
      wrapper[name] = function instrumented(...args: unknown[]): unknown {
        const started = performance.now();
        const span = tracing?.startSpan(`store.${name}`, { 'db.system': store.kind === 'postgres' ? 'postgresql' : store.kind, 'db.operation': name }) ?? null;
        let result: unknown;
        try {
          // Looked up at call time: an operation replaced on the store itself (a test's
          // stand-in, say) is the one that runs.
          result = (target[name] as (...args: unknown[]) => unknown).apply(store, args);
        } catch (error) {
          events.error(name);
          span?.fail(error);
          span?.end();
          throw error;
        }
        if (!(result instanceof Promise)) {
          span?.end();
          return result;
        }
        return result.then(
          (value: unknown) => {
            span?.end();
            events.query(name, (performance.now() - started) / 1000);
            return value;
          },
          (error: unknown) => {
            events.error(name);
            span?.fail(error);
            span?.end();
            events.query(name, (performance.now() - started) / 1000);
            throw error;
          },
        );
      };
    }
  }
  return wrapper as unknown as S;
}
