import type { PushMessage } from '@devicegate/protocol';
import type { PushChannel } from '../events.ts';

/**
 * One push channel: connect, subscribe to this grant, hand over messages until the connection
 * ends. The runner (runner.ts) owns reconnecting, so a transport connects exactly once per call.
 */
export interface PushTransport {
  channel: PushChannel;
  /**
   * Resolves when the connection ends normally (or `signal` aborts); rejects when it fails.
   * `onSubscribed` is called once the appliance has the subscription.
   */
  listen(
    handlers: { onSubscribed(): void; onMessage(message: PushMessage): void },
    signal: AbortSignal,
  ): Promise<void>;
}

/** The appliance refused the subscription (unknown code, not allowed): reconnecting cannot help. */
export class PushRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PushRefusedError';
  }
}
