import type { AttackOutcome, AttackTools } from './types.ts';
import { errorOf, GRANT_DEVICE_CODE } from './oauth.ts';

/**
 * A refresh token is used, rotated, the device refreshes again, and then the old one is replayed
 * (a copy taken from the device before the rotation). RFC 9700 §4.14.2: the reuse must fail and
 * revoke the whole family, so the device's newest token fails too and the thief's copy buys
 * nothing. Holds when both fail. (While the successor is unused, within the retry window, the old
 * token is the device's own retry of a lost answer: docs/security.md REFRESH-RETRY.)
 */
export async function reuseRefreshToken({ client, approve }: AttackTools): Promise<AttackOutcome> {
  const authorization = await client.deviceAuthorization('openid offline_access');
  await approve(authorization.userCode, authorization.verificationUri);
  const issued = await client.token({ grant_type: GRANT_DEVICE_CODE, device_code: authorization.deviceCode });
  const first = issued.body.refresh_token;
  if (issued.status !== 200 || typeof first !== 'string') throw new Error(`no refresh token from the device code grant (${errorOf(issued)})`);
  const rotated = await client.token({ grant_type: 'refresh_token', refresh_token: first });
  const second = rotated.body.refresh_token;
  if (rotated.status !== 200 || typeof second !== 'string') throw new Error(`the first refresh failed (${errorOf(rotated)})`);
  const again = await client.token({ grant_type: 'refresh_token', refresh_token: second });
  const third = again.body.refresh_token;
  if (again.status !== 200 || typeof third !== 'string') throw new Error(`the second refresh failed (${errorOf(again)})`);
  const reuse = await client.token({ grant_type: 'refresh_token', refresh_token: first });
  const afterReuse = await client.token({ grant_type: 'refresh_token', refresh_token: third });
  const held = reuse.status === 400 && errorOf(reuse) === 'invalid_grant' && afterReuse.status === 400 && errorOf(afterReuse) === 'invalid_grant';
  return {
    held,
    summary: `old token reused: ${errorOf(reuse)}; newest token afterwards: ${afterReuse.status === 200 ? 'still worked' : errorOf(afterReuse)} (family revoked)`,
    details: { reuseStatus: reuse.status, reuseError: errorOf(reuse), rotatedAfterReuseStatus: afterReuse.status, rotatedAfterReuseError: errorOf(afterReuse) },
  };
}
