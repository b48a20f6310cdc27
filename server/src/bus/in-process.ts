import { createListeners } from './listeners.ts';
import type { EventBus } from './types.ts';

/** The default bus: one process, listeners called synchronously in publish order. */
export function createInProcessBus(onListenerError: (error: unknown) => void = () => {}): EventBus {
  const listeners = createListeners(onListenerError);
  return {
    async publish(event) {
      listeners.deliver(event);
    },
    subscribe: listeners.subscribe,
    async close() {
      listeners.clear();
    },
  };
}
