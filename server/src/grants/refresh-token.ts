import { dpopRequired } from '../dpop/errors.ts';
import { invalidGrant, invalidScope } from '../errors.ts';
import { isConfidentialClient } from '../http/client-auth.ts';
import { parseScope, required } from '../http/form.ts';
import { hashSecret } from '../secrets.ts';
import { audienceFromGrant } from '../tokens/resource-indicators.ts';
import type { TokenResponse } from '../tokens/token-service.ts';
import type { GrantDescriptor, GrantHandler } from './types.ts';

/**
 * The refresh_token grant with rotation (RFC 9700 §4.14.2): every use returns a new refresh
 * token and retires the old one in one commit with the new access token. Presenting a retired
 * token again means a copy is in someone else's hands: the whole grant is revoked and a security
 * event recorded; except the device's own retry after a lost answer, within a short window, while
 * the successor it never received is unused (docs/security.md REFRESH-RETRY).
 */
const refresh: GrantHandler = async ({ context, parameters, client, dpopJkt, resources }) => {
  const { store, clock, tokens, audit, config } = context;
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
  // RFC 8707 §2.2: the new access token may name fewer of the grant's resources, never others
  // (docs/security.md RESOURCE-NARROW). Checked before rotation, so a refused request costs nothing.
  const audience = await audienceFromGrant(store, resources, grant.resources);

  // Re-check the account on every refresh (docs/security.md REFRESH-RECHECK).
  const user = grant.userId ? await store.users.get(grant.userId) : null;
  if (!user || user.disabled) {
    await store.grants.revoke(grant.id, now, 'user_disabled');
    throw invalidGrant('the account is no longer active');
  }

  // Minted first, then written in one commit with the rotation: an answer lost after the commit
  // leaves the presented token as the immediate predecessor of an unused successor, which the
  // device's retry may still present within the window (docs/security.md REFRESH-RETRY).
  // The new access token is bound to the key of this request's proof, if any (RFC 9449 §5).
  const successor = await tokens.issueRefreshToken(grant, record.scopes);
  const access = await tokens.mintAccessToken({ client, subject: user.id, scopes, grantId: grant.id, dpopJkt, resources: audience });
  const exchange = await store.tokenExchanges.refresh({
    presentedHash: tokenHash,
    successor: successor.record,
    accessToken: access.record,
    now,
    retryWindowMs: config.refreshRetryWindow * 1000,
    reuseReason: 'refresh_token_reuse',
  });
  if (exchange.kind === 'reused') {
    audit.record('refresh_token_reuse_detected', { clientId: client.clientId, grantId: grant.id, userId: grant.userId });
    throw invalidGrant('the refresh token was already used; the grant has been revoked');
  }
  if (exchange.kind === 'invalid') throw invalidGrant('the refresh token is invalid');
  audit.record(exchange.kind === 'retried' ? 'refresh_token_retried' : 'refresh_token_rotated', { clientId: client.clientId, grantId: grant.id });

  const response: TokenResponse = {
    access_token: access.token,
    token_type: dpopJkt ? 'DPoP' : 'Bearer',
    expires_in: access.expiresIn,
    scope: scopes.join(' '),
    refresh_token: successor.token,
  };
  if (scopes.includes('openid')) response.id_token = await tokens.issueIdToken({ client, user, scopes, authTime: grant.authTime });
  return response;
};

export const refreshTokenGrant: GrantDescriptor = { type: 'refresh_token', name: 'refresh_token', parameters: ['refresh_token'], handler: refresh };
