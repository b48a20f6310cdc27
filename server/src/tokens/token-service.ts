import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { KeyStore } from '../keys/keystore.ts';
import { hashSecret, randomId, randomSecret } from '../secrets.ts';
import type { ClientRecord, GrantRecord, Store, UserRecord } from '../store/types.ts';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
}

/** Claims of the ID token and userinfo, released by scope (OIDC Core §5.4). */
export function userClaims(user: UserRecord, scopes: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = { sub: user.id };
  if (scopes.includes('profile')) {
    claims.preferred_username = user.username;
    if (user.name) claims.name = user.name;
  }
  if (scopes.includes('email') && user.email) {
    claims.email = user.email;
    claims.email_verified = user.emailVerified;
  }
  return claims;
}

/**
 * Mints tokens. Access tokens are RFC 9068 JWTs (`typ: at+jwt`) or, per client, opaque
 * reference tokens; either way a record is kept so introspection can answer `active: false`
 * after revocation. Refresh tokens are opaque, 256 bits, stored only as a hash.
 */
export function createTokenService(deps: { store: Store; keys: KeyStore; clock: Clock; config: Config }) {
  const { store, keys, clock, config } = deps;

  async function issueAccessToken(input: {
    client: ClientRecord;
    subject: string;
    scopes: string[];
    grantId: string | null;
    dpopJkt: string | null;
  }): Promise<{ token: string; expiresIn: number }> {
    const now = clock.now();
    const expiresIn = config.accessTokenLifetime;
    const jti = randomId();
    const audience = input.client.audience ?? config.issuer;
    let token: string;
    if (input.client.accessTokenFormat === 'opaque') {
      token = randomSecret();
    } else {
      token = await keys.sign(
        {
          iss: config.issuer,
          sub: input.subject,
          aud: audience,
          client_id: input.client.clientId,
          scope: input.scopes.join(' '),
          jti,
          ...(input.dpopJkt ? { cnf: { jkt: input.dpopJkt } } : {}),
        },
        { typ: 'at+jwt' },
        expiresIn,
      );
    }
    await store.accessTokens.create({
      jti,
      tokenHash: input.client.accessTokenFormat === 'opaque' ? hashSecret(token) : null,
      grantId: input.grantId,
      clientId: input.client.clientId,
      subject: input.subject,
      scopes: input.scopes,
      audience,
      issuedAt: now,
      expiresAt: now + expiresIn * 1000,
      dpopJkt: input.dpopJkt,
    });
    return { token, expiresIn };
  }

  async function issueIdToken(input: { client: ClientRecord; user: UserRecord; scopes: string[]; authTime: number | null }) {
    return keys.sign(
      {
        ...userClaims(input.user, input.scopes),
        iss: config.issuer,
        aud: input.client.clientId,
        ...(input.authTime ? { auth_time: Math.floor(input.authTime / 1000) } : {}),
      },
      { typ: 'JWT' },
      config.idTokenLifetime,
    );
  }

  async function issueRefreshToken(grant: GrantRecord, scopes: string[]) {
    const token = randomSecret();
    const now = clock.now();
    const record = {
      tokenHash: hashSecret(token),
      grantId: grant.id,
      clientId: grant.clientId,
      scopes,
      createdAt: now,
      expiresAt: Math.min(now + config.refreshTokenLifetime * 1000, grant.expiresAt),
    };
    return { token, record };
  }

  /**
   * The response for a user's grant (device_code or refresh_token): an access token, an ID token
   * when `openid` was granted, and a refresh token when `offline_access` was (OIDC Core §11) and
   * the client may use the refresh_token grant. `refreshToken` lets the refresh grant pass the
   * successor it has already stored atomically.
   */
  async function tokensForGrant(input: {
    client: ClientRecord;
    grant: GrantRecord;
    user: UserRecord;
    scopes: string[];
    refreshToken?: string | null;
  }): Promise<TokenResponse> {
    const { client, grant, user, scopes } = input;
    const access = await issueAccessToken({ client, subject: user.id, scopes, grantId: grant.id, dpopJkt: grant.dpopJkt });
    const response: TokenResponse = {
      access_token: access.token,
      token_type: grant.dpopJkt ? 'DPoP' : 'Bearer',
      expires_in: access.expiresIn,
      scope: scopes.join(' '),
    };
    if (input.refreshToken) {
      response.refresh_token = input.refreshToken;
    } else if (input.refreshToken === undefined && mayHaveRefreshToken(client, scopes)) {
      const refresh = await issueRefreshToken(grant, scopes);
      await store.refreshTokens.create(refresh.record);
      response.refresh_token = refresh.token;
    }
    if (scopes.includes('openid')) {
      response.id_token = await issueIdToken({ client, user, scopes, authTime: grant.authTime });
    }
    return response;
  }

  return { issueAccessToken, issueIdToken, issueRefreshToken, tokensForGrant };
}

function mayHaveRefreshToken(client: ClientRecord, scopes: readonly string[]): boolean {
  return scopes.includes('offline_access') && client.grantTypes.includes('refresh_token');
}

export type TokenService = ReturnType<typeof createTokenService>;
