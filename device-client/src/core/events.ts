import type { DeviceClientError } from './errors.ts';
import type { TokenSet } from './tokens.ts';

export type PushChannel = 'websocket' | 'mqtt';
export type WaitChannel = PushChannel | 'poll';
export type ChannelState = 'connecting' | 'subscribed' | 'closed' | 'reconnecting' | 'failed';

/** What a login tells the app while it waits, in order of appearance. */
export type LoginEvent =
  | {
      type: 'code';
      userCode: string;
      verificationUri: string;
      verificationUriComplete?: string;
      expiresIn: number;
      interval: number;
      expiresAt: number;
      channel: WaitChannel;
    }
  /** A push channel changed state; `delayMs` is set for `reconnecting`. */
  | { type: 'channel'; channel: PushChannel; state: ChannelState; delayMs?: number; reason?: string }
  /** One token request is about to be sent (RFC 8628 §3.4); `at` is the client's clock. */
  | { type: 'poll'; at: number; reason: 'interval' | 'push' }
  /** RFC 8628 §3.5: the appliance asked for slower polling; `interval` is the new one in seconds. */
  | { type: 'slow_down'; interval: number }
  | { type: 'approved'; via: 'push' | 'poll' }
  | { type: 'denied' }
  | { type: 'expired' }
  | { type: 'token'; tokens: TokenSet }
  /** `fatal: false` errors are retried (network, 5xx, push); a fatal one ends the wait. */
  | { type: 'error'; error: DeviceClientError; fatal: boolean };

export type LoginEventType = LoginEvent['type'];
export type LoginEventOf<T extends LoginEventType> = Extract<LoginEvent, { type: T }>;

/** A typed emitter in a few lines: no 'error' special case that throws, unlike node:events. */
export interface Emitter<E extends { type: string }> {
  on<T extends E['type']>(type: T | '*', listener: (event: Extract<E, { type: T }>) => void): () => void;
  emit(event: E): void;
}

export function createEmitter<E extends { type: string }>(sink?: (event: E) => void): Emitter<E> {
  const listeners = new Set<{ type: string; listener: (event: E) => void }>();
  return {
    on(type, listener) {
      const entry = { type, listener: listener as (event: E) => void };
      listeners.add(entry);
      return () => listeners.delete(entry);
    },
    emit(event) {
      const deliver = (listener: (event: E) => void) => {
        try {
          listener(event);
        } catch {
          // A listener's bug must not break the login it listens to.
        }
      };
      if (sink) deliver(sink);
      for (const entry of [...listeners]) if (entry.type === '*' || entry.type === event.type) deliver(entry.listener);
    },
  };
}
