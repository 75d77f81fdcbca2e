/**
 * Times every store operation at the store boundary (metrics, and a span when tracing
 * is configured) without touching the store itself: the wrapper's methods call the
 * real store's, so a store added later is wrapped the same way. The Store handed to a
 * transaction callback is the real one: operations inside a transaction are timed as
 * the transaction.
 */
import type { Store } from '../store/types.js';
import type { StoreEvents } from './metrics.js';
import type { Tracing } from './tracing.js';

export function instrumentStore(store: Store, events: StoreEvents, tracing: Tracing | null = null): Store {
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
      const method = descriptor.value as (...args: unknown[]) => Promise<unknown>;
      wrapper[name] = tracing === null
        ? async function timed(...args: unknown[]): Promise<unknown> {
            const started = performance.now();
            try {
              return await method.apply(store, args);
            } catch (error) {
              events.error(name);
              throw error;
            } finally {
              events.query(name, (performance.now() - started) / 1000);
            }
          }
        : async function timedAndTraced(...args: unknown[]): Promise<unknown> {
            const started = performance.now();
            const span = tracing.startSpan(`store.${name}`, { 'db.system': store.kind === 'postgres' ? 'postgresql' : 'sqlite', 'db.operation': name });
            try {
              return await method.apply(store, args);
            } catch (error) {
              events.error(name);
              span.fail(error);
              throw error;
            } finally {
              span.end();
              events.query(name, (performance.now() - started) / 1000);
            }
          };
    }
  }
  return wrapper as unknown as Store;
}
