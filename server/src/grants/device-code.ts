import { accessDenied, authorizationPending, expiredToken, invalidGrant, slowDown } from '../errors.ts';
import { required } from '../http/form.ts';
import { deviceCodeHashOf } from '../device-grants/keys.ts';
import { deviceGrantState } from '../device-grants/state.ts';
import { randomId } from '../secrets.ts';
import { audienceFromGrant } from '../tokens/resource-indicators.ts';
import { inGrantTrace } from '../observability/tracing.ts';
import type { DeviceGrantRecord } from '../store/types.ts';
import type { GrantDescriptor, GrantHandler } from './types.ts';

/**
 * The device_code grant (RFC 8628 §3.4-3.5). Each poll is recorded atomically (slow_down
 * accounting), the state decides the answer, and an approved code is redeemed into one token
 * family by one store operation that writes the code's redemption, the family and its tokens in
 * one commit (docs/security.md REDEEM-ATOMIC). However many polls arrive at once, one family is
 * created; a later poll of the same client with the same key, within the retry window, gets a
 * fresh token set of that family and the earlier set is revoked (REDEEM-RETRY), so at most one
 * set of the family is live.
 */
const redeemDeviceCode: GrantHandler = async ({ context, parameters, client, dpopJkt, resources }) => {
  const { store, clock, config, metrics } = context;
  const deviceCode = required(parameters, 'device_code');
  const deviceCodeHash = deviceCodeHashOf(deviceCode);
  const now = clock.now();
  // Another client's code is answered like an unknown one: nothing about it is revealed, and
  // its poll accounting is not touched (the store counts only the grant's own client's polls).
  const verdict = await store.deviceGrants.recordPoll(deviceCodeHash, client.clientId, now);
  if (verdict.kind === 'unknown') throw invalidGrant('the device code is invalid');
  const deviceGrant = verdict.grant;
  // The answer for each state (device-grants/state.ts, RFC 8628 §3.5): an expired code answers
  // expired_token, never authorization_pending (docs/security.md POLL-EXPIRED).
  switch (deviceGrantState(deviceGrant, now)) {
    case 'redeemed':
      // Maybe a retry after a lost answer (docs/security.md REDEEM-RETRY); the store decides the
      // window and the family's state. Another key is refused here, before any token is minted.
      if (config.redemptionRetryWindow === 0 || deviceGrant.dpopJkt !== dpopJkt) throw invalidGrant('the device code was already used');
      break;
    case 'denied':
      throw accessDenied();
    case 'expired':
      throw expiredToken();
    case 'pending':
      if (verdict.kind === 'slow_down') {
        metrics.slowDown(client.clientId);
        throw slowDown(deviceGrant.interval);
      }
      throw authorizationPending();
    case 'approved':
      break;
  }
  return inGrantTrace('device grant redeem', deviceGrant.traceParent, { 'oauth.client_id': client.clientId }, () =>
    redeemApproved({ context, client, dpopJkt, resources }, deviceGrant, now),
  );
};

/** The approved code's redemption (RFC 8628 §3.5): tokens for the approving account. */
async function redeemApproved(
  { context, client, dpopJkt, resources }: Pick<Parameters<GrantHandler>[0], 'context' | 'client' | 'dpopJkt' | 'resources'>,
  deviceGrant: DeviceGrantRecord,
  now: number,
): Promise<Awaited<ReturnType<GrantHandler>>> {
  const { store, tokens, bus, config, audit, metrics } = context;
  const user = deviceGrant.userId ? await store.users.get(deviceGrant.userId) : null;
  if (!user || user.disabled) throw invalidGrant('the approving account is no longer active');
  const scopes = deviceGrant.grantedScopes ?? [];
  // RFC 8707 §2.2: checked before the code is spent, so a wrong resource can be asked again.
  const audience = await audienceFromGrant(store, resources, deviceGrant.resources);
  // RFC 9449 §5, docs/security.md DPOP-AT-REDEMPTION: the token family is bound to the key of the
  // redeeming proof.
  const grant = {
    id: randomId(),
    clientId: client.clientId,
    userId: user.id,
    scopes,
    deviceName: deviceGrant.deviceName,
    deviceModel: deviceGrant.deviceModel,
    authTime: deviceGrant.authTime,
    amr: deviceGrant.amr,
    acr: deviceGrant.acr,
    createdAt: now,
    expiresAt: now + config.grantLifetime * 1000,
    dpopJkt,
    resources: deviceGrant.resources,
  };
  // Tokens are minted first and written in the same commit as the redemption (docs/security.md
  // REDEEM-ATOMIC): a crash leaves the code approved (redeemable) or redeemed with its tokens.
  const minted = await tokens.mintForGrant({ client, grant, user, scopes, resources: audience });
  const result = await store.tokenExchanges.redeemDeviceCode({
    deviceGrantId: deviceGrant.id,
    clientId: client.clientId,
    dpopJkt,
    now,
    retryWindowMs: config.redemptionRetryWindow * 1000,
    grant,
    accessToken: minted.accessToken,
    refreshToken: minted.refreshToken,
  });
  if (result.kind === 'refused') throw invalidGrant('the device code was already used');
  if (result.kind === 'redeemed') {
    metrics.deviceOutcome(client.clientId, 'redeemed', (now - deviceGrant.createdAt) / 1000);
    await bus.publish({ type: 'closed', pushKey: deviceGrant.pushKey, deviceGrantId: deviceGrant.id, at: now });
  } else {
    audit.record('device_code_redemption_retried', { clientId: client.clientId, grantId: result.grantId, userId: user.id });
  }
  audit.record('tokens_issued', { grant: 'device_code', clientId: client.clientId, deviceGrantId: deviceGrant.id, grantId: result.grantId, userId: user.id, refresh: Boolean(minted.response.refresh_token), ...(audience.length > 0 ? { resources: audience.join(' ') } : {}) });
  return minted.response;
}

export const deviceCodeGrant: GrantDescriptor = { type: 'urn:ietf:params:oauth:grant-type:device_code', name: 'device_code', parameters: ['device_code'], handler: redeemDeviceCode };
