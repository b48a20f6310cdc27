import { dpopRequired } from '../dpop/errors.ts';
import { invalidGrant, invalidScope } from '../errors.ts';
import { isConfidentialClient } from '../http/client-auth.ts';
import { parseScope, required } from '../http/form.ts';
import { hashSecret } from '../secrets.ts';
import type { GrantDescriptor, GrantHandler } from './types.ts';

/**
 * The refresh_token grant with rotation (RFC 9700 §4.14.2): every use returns a new refresh
 * token and retires the old one in one atomic step. Presenting a retired token again means a
 * copy is in someone else's hands: the whole grant is revoked and a security event recorded.
 */
const refresh: GrantHandler = async ({ context, parameters, client, dpopJkt }) => {
  const { store, clock, tokens, audit } = context;
  const presented = required(parameters, 'refresh_token');
  const tokenHash = hashSecret(presented);
  const record = await store.refreshTokens.find(tokenHash);
  if (!record || record.clientId !== client.clientId) throw invalidGrant('the refresh token is invalid');
  const now = clock.now();

  const grant = await store.grants.get(record.grantId);
  if (!grant || grant.revokedAt !== null || grant.expiresAt <= now) throw invalidGrant('the grant was revoked or has expired');

  // RFC 9449 §5, docs/security.md DPOP-BOUND-REFRESH: a public client's refresh token is bound to
  // the DPoP key its family was issued to, so a copied token is useless without that key. Checked
  // before rotation: a holder without the key can neither use the token nor burn the device's own
  // by reuse. (A confidential client's refresh token is bound by its client authentication
  // instead.)
  if (grant.dpopJkt !== null && !isConfidentialClient(client) && dpopJkt !== grant.dpopJkt) {
    throw invalidGrant(dpopJkt ? 'the refresh token is bound to another DPoP key' : 'the refresh token is DPoP-bound; send a DPoP proof made with its key');
  }
  // A family that started DPoP-bound stays so (docs/security.md DPOP-STAYS-BOUND): a confidential
  // client may refresh with another key (RFC 9449 §5), never with none, or its tokens would
  // silently turn into Bearer tokens that anyone who copies one can use.
  if (grant.dpopJkt !== null && dpopJkt === null) throw dpopRequired('the grant is DPoP-bound; send a DPoP proof');

  // RFC 6749 §6: the scope may only narrow (docs/security.md REFRESH-NARROW).
  const requested = parseScope(parameters.scope);
  if (requested && requested.some((scope) => !record.scopes.includes(scope))) {
    throw invalidScope('a refresh cannot add scopes the grant does not have');
  }
  const scopes = requested && requested.length > 0 ? requested : record.scopes;

  const successor = await tokens.issueRefreshToken(grant, record.scopes);
  const rotation = await store.refreshTokens.rotate(tokenHash, successor.record, now);
  if (rotation.kind === 'reused') {
    await store.grants.revoke(grant.id, now, 'refresh_token_reuse');
    audit.record('refresh_token_reuse_detected', { clientId: client.clientId, grantId: grant.id, userId: grant.userId });
    throw invalidGrant('the refresh token was already used; the grant has been revoked');
  }
  if (rotation.kind === 'invalid') throw invalidGrant('the refresh token is invalid');

  // Re-check the account on every refresh (docs/security.md REFRESH-RECHECK).
  const user = grant.userId ? await store.users.get(grant.userId) : null;
  if (!user || user.disabled) {
    await store.grants.revoke(grant.id, now, 'user_disabled');
    throw invalidGrant('the account is no longer active');
  }
  await store.grants.touch(grant.id, now);
  audit.record('refresh_token_rotated', { clientId: client.clientId, grantId: grant.id });
  // The new access token is bound to the key of this request's proof, if any (RFC 9449 §5).
  return tokens.tokensForGrant({ client, grant: { ...grant, dpopJkt }, user, scopes, refreshToken: successor.token });
};

export const refreshTokenGrant: GrantDescriptor = { type: 'refresh_token', name: 'refresh_token', parameters: ['refresh_token'], handler: refresh };
