import type { DeviceGrantRecord } from '../store/types.ts';

/**
 * Where a device grant stands at an instant. This is the one function that decides it: the token
 * endpoint's poll answer (grants/device-code.ts), the verification pages (only a `pending` grant
 * can be decided) and every push channel (what a subscriber is told) all read it, so polling,
 * pages and push never disagree.
 *
 * The order matters and follows RFC 8628 §3.5:
 * - `redeemed`: the code was used; the token endpoint answers invalid_grant, push refuses too;
 * - `denied`: access_denied, even after the code's lifetime (the person's answer stays the answer
 *   until the row is swept);
 * - `expired`: expired_token, for a pending code and for an approved one nobody redeemed in time,
 *   never authorization_pending (docs/security.md, requirement "expired codes");
 * - `approved`: the device may redeem now;
 * - `pending`: waiting for the person.
 */
export type DeviceGrantState = 'pending' | 'approved' | 'denied' | 'expired' | 'redeemed';

export function deviceGrantState(grant: Pick<DeviceGrantRecord, 'status' | 'expiresAt'>, now: number): DeviceGrantState {
  if (grant.status === 'redeemed') return 'redeemed';
  if (grant.status === 'denied') return 'denied';
  if (grant.expiresAt <= now) return 'expired';
  return grant.status;
}

/** RFC 8628 §3.2 expires_in: whole seconds left, never 0 while the grant still waits. */
export function secondsLeft(grant: Pick<DeviceGrantRecord, 'expiresAt'>, now: number): number {
  return Math.max(1, Math.ceil((grant.expiresAt - now) / 1000));
}
