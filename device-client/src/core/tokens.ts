import { proofFor, type DpopContext } from './dpop.ts';
import { DeviceClientError } from './errors.ts';
import { describeOAuthError, postForm, type ClientCredentials, type HttpOutcome } from './http.ts';
import type { FetchFunction } from './runtime.ts';

/** The token endpoint's answer (RFC 6749 §5.1), with expires_in turned into a moment. */
export interface TokenSet {
  accessToken: string;
  tokenType: string;
  /** Epoch milliseconds; absent when the appliance did not say. */
  expiresAt?: number;
  refreshToken?: string;
  idToken?: string;
  scope?: string;
}

const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

export function parseTokenResponse(body: Record<string, unknown>, now: number): TokenSet {
  if (typeof body.access_token !== 'string' || body.access_token === '') {
    throw new DeviceClientError('server', 'token response has no access_token');
  }
  if (typeof body.token_type !== 'string') throw new DeviceClientError('server', 'token response has no token_type');
  const tokens: TokenSet = { accessToken: body.access_token, tokenType: body.token_type };
  if (typeof body.expires_in === 'number' && Number.isFinite(body.expires_in)) {
    tokens.expiresAt = now + body.expires_in * 1000;
  }
  if (typeof body.refresh_token === 'string' && body.refresh_token !== '') tokens.refreshToken = body.refresh_token;
  if (typeof body.id_token === 'string') tokens.idToken = body.id_token;
  if (typeof body.scope === 'string') tokens.scope = body.scope;
  return tokens;
}

export interface TokenRequestContext {
  tokenEndpoint: string;
  client: ClientCredentials;
  fetch: FetchFunction;
  signal?: AbortSignal;
  /** When set, every request carries a DPoP proof of this key (RFC 9449 §5). */
  dpop?: DpopContext;
}

/**
 * One request to the token endpoint, with a DPoP proof when the context has a key. A
 * `use_dpop_nonce` answer (RFC 9449 §8) is retried at once, once, with a new proof carrying the
 * nonce the server sent: to the caller it is one request (a poll is not counted twice). Every
 * nonce the server sends is kept for the next request, so a polling device meets use_dpop_nonce
 * on its first request only.
 */
async function tokenEndpointRequest(context: TokenRequestContext, params: Record<string, string>): Promise<HttpOutcome> {
  const { dpop } = context;
  // A function, so a request sent again on a fresh connection carries a fresh proof.
  const send = () =>
    postForm(context.tokenEndpoint, params, context.client, {
      ...context,
      ...(dpop ? { headers: async () => ({ DPoP: await proofFor(dpop, 'POST', context.tokenEndpoint) }) } : {}),
    });
  let outcome = await send();
  if (!dpop) return outcome;
  dpop.nonces.remember(context.tokenEndpoint, outcome.headers);
  if (!outcome.ok && outcome.error === 'use_dpop_nonce' && outcome.headers.has('dpop-nonce')) {
    outcome = await send();
    dpop.nonces.remember(context.tokenEndpoint, outcome.headers);
  }
  return outcome;
}

/** RFC 8628 §3.4: one poll. The answer is returned as is; the caller applies §3.5. */
export function requestDeviceToken(context: TokenRequestContext, deviceCode: string): Promise<HttpOutcome> {
  return tokenEndpointRequest(context, { grant_type: DEVICE_CODE_GRANT_TYPE, device_code: deviceCode });
}

/**
 * RFC 6749 §6. A refresh token the appliance no longer accepts (invalid_grant: expired, revoked or
 * rotated away) means the device must sign in again, which callers see as `not_logged_in`.
 */
export async function refreshTokens(
  context: TokenRequestContext,
  refreshToken: string,
  now: () => number,
): Promise<TokenSet> {
  // RFC 9449 §5: a public client's DPoP-bound refresh token is refused without a proof of its key.
  const outcome = await tokenEndpointRequest(context, { grant_type: 'refresh_token', refresh_token: refreshToken });
  if (outcome.ok) return parseTokenResponse(outcome.body, now());
  if (outcome.error === 'invalid_grant') {
    throw new DeviceClientError(
      'not_logged_in',
      `the appliance no longer accepts this device's sign-in (${describeOAuthError(outcome)}); log in again`,
      { oauthError: outcome.error, status: outcome.status },
    );
  }
  throw new DeviceClientError('oauth', `refresh failed: ${describeOAuthError(outcome)}`, {
    oauthError: outcome.error,
    status: outcome.status,
  });
}

/** RFC 7009 §2: the appliance answers 200 whether or not it knew the token. */
export async function revokeToken(
  context: Omit<TokenRequestContext, 'tokenEndpoint'> & { revocationEndpoint: string },
  token: string,
  hint: 'refresh_token' | 'access_token',
): Promise<void> {
  const outcome = await postForm(
    context.revocationEndpoint,
    { token, token_type_hint: hint },
    context.client,
    context,
  );
  if (!outcome.ok) {
    throw new DeviceClientError('oauth', `revocation failed: ${describeOAuthError(outcome)}`, {
      oauthError: outcome.error,
      status: outcome.status,
    });
  }
}
