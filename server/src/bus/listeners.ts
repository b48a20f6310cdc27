import type { GrantEvent, GrantEventListener } from './types.ts';

/** The local listeners of a bus; every bus delivers to them the same way. */
export interface Listeners {
  /**
   * Calls every listener with `event`, synchronously, in subscription order. A listener that
   * throws is reported to `onListenerError` and does not keep the event from the others; one
   * that subscribes or unsubscribes meanwhile changes the next delivery, not this one.
   */
  deliver(event: GrantEvent): void;
  /** Returns the unsubscribe function (EventBus.subscribe). */
  subscribe(listener: GrantEventListener): () => void;
  clear(): void;
}

export function createListeners(onListenerError: (error: unknown) => void): Listeners {
  const listeners = new Set<GrantEventListener>();
  return {
    deliver(event) {
      for (const listener of [...listeners]) {
        try {
          listener(event);
        } catch (error) {
          onListenerError(error);
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    clear() {
      listeners.clear();
    },
  };
}
