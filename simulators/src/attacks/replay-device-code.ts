import type { AttackOutcome, AttackTools } from './types.ts';
import { errorOf, GRANT_DEVICE_CODE } from './oauth.ts';

/** Concurrent redemptions of one spent code: RFC 8628 §3.5 single use under a race. */
const CONCURRENT_REPLAYS = 10;

/**
 * A device code is approved and redeemed by the device, which then uses its refresh token (its
 * ordinary life); a copy of the code is then redeemed ten times at once and once more later.
 * Holds when the device's redemption was the one request that got tokens and every replay was
 * refused with invalid_grant. (Before the device's first refresh, its own client presenting the
 * code again within the retry window is treated as the retry of a lost answer and revokes the set
 * before it, so a copy wins nothing lasting: docs/security.md REDEEM-RETRY.)
 */
export async function replayDeviceCode({ client, approve }: AttackTools): Promise<AttackOutcome> {
  const authorization = await client.deviceAuthorization('openid offline_access');
  await approve(authorization.userCode, authorization.verificationUri);
  const redeem = () => client.token({ grant_type: GRANT_DEVICE_CODE, device_code: authorization.deviceCode });
  const device = await redeem();
  const refreshToken = device.body.refresh_token;
  if (device.status !== 200 || typeof refreshToken !== 'string') throw new Error(`the device's redemption failed (${errorOf(device)})`);
  const refreshed = await client.token({ grant_type: 'refresh_token', refresh_token: refreshToken });
  if (refreshed.status !== 200) throw new Error(`the device's refresh failed (${errorOf(refreshed)})`);
  const racing = await Promise.all(Array.from({ length: CONCURRENT_REPLAYS }, redeem));
  const later = await redeem();
  const granted = 1 + racing.filter((answer) => answer.status === 200).length + (later.status === 200 ? 1 : 0);
  const refusals = [...racing.filter((answer) => answer.status !== 200), later].map(errorOf);
  const allRefusedAsInvalid = refusals.every((error) => error === 'invalid_grant');
  const held = granted === 1 && later.status !== 200 && allRefusedAsInvalid;
  return {
    held,
    summary: `device redeemed and refreshed; then ${CONCURRENT_REPLAYS} concurrent replays + 1 later: ${granted - 1} got tokens, others ${[...new Set(refusals)].join('/')}`,
    details: { concurrent: CONCURRENT_REPLAYS, granted, laterStatus: later.status, refusals: tally(refusals) },
  };
}

export function tally(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
