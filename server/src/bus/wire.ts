import { isTraceParent } from '../observability/tracing.ts';
import type { GrantEvent } from './types.ts';

/**
 * What shared buses (the MQTT broker, PostgreSQL NOTIFY) carry between appliance instances: one
 * grant event and the instance that published it, as JSON. Kept apart from any one transport so
 * every shared bus reads and writes the same thing and marks remote events the same way.
 */
export interface WireEvent {
  /** The publishing instance, so an instance skips its own echo. */
  origin: string;
  event: GrantEvent;
}

export function encodeWireEvent(wire: WireEvent): string {
  return JSON.stringify(wire);
}

const OUTCOMES = new Set(['approved', 'denied', 'expired']);

/** Strict reading of a wire event: anything else on the channel is dropped, never half-trusted. */
export function parseWireEvent(payload: Buffer | string): WireEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return null;
  }
  const wire = value as Partial<WireEvent> | null;
  const event = wire?.event as Partial<GrantEvent> | undefined;
  if (!wire || typeof wire.origin !== 'string' || !event || typeof event !== 'object') return null;
  if (event.type === 'revoked') {
    const { grantId, at } = event as Partial<{ grantId: unknown; at: unknown }>;
    if (typeof grantId !== 'string' || typeof at !== 'number') return null;
    return { origin: wire.origin, event: { type: 'revoked', grantId, at } };
  }
  const { pushKey, deviceGrantId, at } = event as Partial<{ pushKey: unknown; deviceGrantId: unknown; at: unknown }>;
  if (typeof pushKey !== 'string' || typeof deviceGrantId !== 'string' || typeof at !== 'number') return null;
  // A traceparent is kept only in its exact W3C form; anything else is dropped, not passed on.
  const trace = isTraceParent(event.trace) ? { trace: event.trace } : {};
  if (event.type === 'closed') return { origin: wire.origin, event: { type: 'closed', pushKey, deviceGrantId, at, ...trace } };
  const outcome = (event as { outcome?: unknown }).outcome;
  if (event.type === 'outcome' && typeof outcome === 'string' && OUTCOMES.has(outcome)) {
    return { origin: wire.origin, event: { type: 'outcome', pushKey, deviceGrantId, outcome: outcome as 'approved', at, ...trace } };
  }
  return null;
}

/** Events that arrived from another instance (for modules that act on local events only). */
const remoteEvents = new WeakSet<GrantEvent>();

/** Called by a shared bus for each event it delivers on behalf of another instance. */
export function markRemoteEvent(event: GrantEvent): GrantEvent {
  remoteEvents.add(event);
  return event;
}

/**
 * True for an event another instance published. The external-broker push publisher uses it so
 * only the instance where an approval was committed publishes the device's retained message.
 */
export function isRemoteEvent(event: GrantEvent): boolean {
  return remoteEvents.has(event);
}
