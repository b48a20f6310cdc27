import type { GrantOutcome, PushMessage } from '@devicegate/protocol';

/**
 * The JSON of one push message, the same on the WebSocket and as an MQTT payload. What a
 * subscriber is told is decided by the device grant's state (../device-grants/state.ts), so push
 * and polling never disagree.
 */
export function encodePushMessage(message: PushMessage): string {
  return JSON.stringify(message);
}

export function outcomeMessage(outcome: GrantOutcome): string {
  return encodePushMessage({ type: outcome });
}
