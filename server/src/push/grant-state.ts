import type { GrantOutcome, PushMessage } from '@devicegate/protocol';
import type { DeviceGrantRecord } from '../store/types.ts';

/**
 * What a push channel tells a device that subscribes now, in the token endpoint's order
 * (grants/device-code.ts), so push and polling never disagree:
 * - `redeemed`: the code was used: the token endpoint answers invalid_grant, push refuses too;
 * - `denied`: access_denied;
 * - `expired`: expired_token, also for an approved code not redeemed in time (RFC 8628 §3.5);
 * - `approved`: the device should make its one token request now;
 * - `pending`: keep waiting.
 */
export type GrantState = GrantOutcome | 'pending' | 'redeemed';

export function grantState(grant: DeviceGrantRecord, now: number): GrantState {
  if (grant.status === 'redeemed') return 'redeemed';
  if (grant.status === 'denied') return 'denied';
  if (grant.expiresAt <= now) return 'expired';
  return grant.status;
}

/** RFC 8628 §3.2 expires_in: whole seconds left, never 0 while still pending. */
export function secondsLeft(grant: DeviceGrantRecord, now: number): number {
  return Math.max(1, Math.ceil((grant.expiresAt - now) / 1000));
}

/** The JSON of one push message, the same on the WebSocket and as an MQTT payload. */
export function encodePushMessage(message: PushMessage): string {
  return JSON.stringify(message);
}

export function outcomeMessage(outcome: GrantOutcome): string {
  return encodePushMessage({ type: outcome });
}

/** Device codes are 43 characters (256 bits, base64url); anything much longer is not one. */
export const MAX_DEVICE_CODE_LENGTH = 256;
