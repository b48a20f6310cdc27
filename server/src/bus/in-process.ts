import type { EventBus, GrantEvent, GrantEventListener } from './types.ts';

/** The default bus: one process, listeners called synchronously in publish order. */
export function createInProcessBus(onListenerError: (error: unknown) => void = () => {}): EventBus {
  const listeners = new Set<GrantEventListener>();
  return {
    async publish(event: GrantEvent) {
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
    async close() {
      listeners.clear();
    },
  };
}
