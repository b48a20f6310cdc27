import type { AttackOutcome, AttackTools } from './types.ts';
import { errorOf, GRANT_DEVICE_CODE } from './oauth.ts';

/** Concurrent redemptions of one approved code: RFC 8628 §3.5 single use under a race. */
const CONCURRENT_REPLAYS = 10;

/**
 * A device code is approved, then redeemed ten times at once and once more later (a copied code
 * replayed, or a race between a device and whoever copied its code). Holds when exactly one
 * request got tokens and every other one was refused with invalid_grant.
 */
export async function replayDeviceCode({ client, approve }: AttackTools): Promise<AttackOutcome> {
  const authorization = await client.deviceAuthorization('openid offline_access');
  await approve(authorization.userCode, authorization.verificationUri);
  const redeem = () => client.token({ grant_type: GRANT_DEVICE_CODE, device_code: authorization.deviceCode });
  const racing = await Promise.all(Array.from({ length: CONCURRENT_REPLAYS }, redeem));
  const later = await redeem();
  const granted = racing.filter((answer) => answer.status === 200).length;
  const refusals = [...racing.filter((answer) => answer.status !== 200), later].map(errorOf);
  const allRefusedAsInvalid = refusals.every((error) => error === 'invalid_grant');
  const held = granted === 1 && later.status !== 200 && allRefusedAsInvalid;
  return {
    held,
    summary: `${CONCURRENT_REPLAYS} concurrent redemptions + 1 later: ${granted} got tokens, others ${[...new Set(refusals)].join('/')}`,
    details: { concurrent: CONCURRENT_REPLAYS, granted, laterStatus: later.status, refusals: tally(refusals) },
  };
}

export function tally(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
