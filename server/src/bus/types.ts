import type { GrantOutcome } from '@devicegate/protocol';

/**
 * Grant events travel on the bus after the store has committed them. Push channels (WebSocket,
 * MQTT) listen here; with several instances the bus is shared (MQTT broker or PostgreSQL), so an
 * approval on one instance reaches a device connected to another.
 */
export type GrantEvent = (DeviceGrantEvent | GrantRevokedEvent) & {
  /** The publisher's W3C traceparent when traced, so deliveries on every instance join its trace (../observability/tracing.ts). */
  trace?: string;
};

/** A grant (a signed-in device's token family) was revoked: its watching devices are told. */
export interface GrantRevokedEvent {
  type: 'revoked';
  grantId: string;
  at: number;
}

/** What happens to a device code: its outcome, then its close. */
export type DeviceGrantEvent =
  | { type: 'outcome'; pushKey: string; deviceGrantId: string; outcome: GrantOutcome; at: number }
  /** The code was redeemed or swept: retained push messages for it can be cleared. */
  | { type: 'closed'; pushKey: string; deviceGrantId: string; at: number };

export type GrantEventListener = (event: GrantEvent) => void;

export interface EventBus {
  publish(event: GrantEvent): Promise<void>;
  /** Returns the unsubscribe function. */
  subscribe(listener: GrantEventListener): () => void;
  close(): Promise<void>;
}
