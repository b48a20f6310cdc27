import { accessDenied, authorizationPending, expiredToken, invalidGrant, slowDown } from '../errors.ts';
import { required } from '../http/form.ts';
import { deviceCodeHashOf } from '../device-grants/keys.ts';
import { deviceGrantState } from '../device-grants/state.ts';
import { randomId } from '../secrets.ts';
import type { GrantDescriptor, GrantHandler } from './types.ts';

/**
 * The device_code grant (RFC 8628 §3.4-3.5). Each poll is recorded atomically (slow_down
 * accounting), the state decides the answer, and an approved code is redeemed by one
 * conditional update, so of 50 simultaneous polls exactly one gets tokens.
 */
const redeemDeviceCode: GrantHandler = async ({ context, parameters, client, dpopJkt }) => {
  const { store, clock, tokens, bus, config, audit } = context;
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
      throw invalidGrant('the device code was already used');
    case 'denied':
      throw accessDenied();
    case 'expired':
      throw expiredToken();
    case 'pending':
      if (verdict.kind === 'slow_down') throw slowDown(deviceGrant.interval);
      throw authorizationPending();
    case 'approved':
      break;
  }

  const user = deviceGrant.userId ? await store.users.get(deviceGrant.userId) : null;
  const grantId = randomId();
  // RFC 9449 §5, docs/security.md DPOP-AT-REDEMPTION: the token family is bound to the key of the
  // redeeming proof.
  const redeemed = await store.deviceGrants.redeem(deviceGrant.id, grantId, dpopJkt, now);
  if (!redeemed) throw invalidGrant('the device code was already used');
  await bus.publish({ type: 'closed', pushKey: deviceGrant.pushKey, deviceGrantId: deviceGrant.id, at: now });
  if (!user || user.disabled) throw invalidGrant('the approving account is no longer active');

  const scopes = redeemed.grantedScopes ?? [];
  const grant = {
    id: grantId,
    clientId: client.clientId,
    userId: user.id,
    scopes,
    deviceName: redeemed.deviceName,
    deviceModel: redeemed.deviceModel,
    authTime: redeemed.authTime,
    createdAt: now,
    expiresAt: now + config.grantLifetime * 1000,
    dpopJkt,
  };
  await store.grants.create(grant);
  const response = await tokens.tokensForGrant({
    client,
    grant: { ...grant, lastUsedAt: null, revokedAt: null, revokedReason: null },
    user,
    scopes,
  });
  audit.record('tokens_issued', { grant: 'device_code', clientId: client.clientId, grantId, userId: user.id, refresh: Boolean(response.refresh_token) });
  return response;
};

export const deviceCodeGrant: GrantDescriptor = { type: 'urn:ietf:params:oauth:grant-type:device_code', name: 'device_code', parameters: ['device_code'], handler: redeemDeviceCode };
