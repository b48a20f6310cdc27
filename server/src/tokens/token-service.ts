import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { KeyStore } from '../keys/keystore.ts';
import { hashSecret, randomId, randomSecret } from '../secrets.ts';
import type { Actor, ClientRecord, GrantRecord, NewAccessToken, NewRefreshToken, Store, UserRecord } from '../store/types.ts';

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

  /** An access token and the record that makes it revocable, not yet stored. */
  async function mintAccessToken(input: {
    client: ClientRecord;
    subject: string;
    scopes: string[];
    grantId: string | null;
    dpopJkt: string | null;
    /**
     * The resource servers named by resource indicators (RFC 8707 §2), exactly; without any, the
     * client's configured audience or the issuer.
     */
    resources?: readonly string[];
    /** RFC 8693 §4.1: who acts for the subject (token exchange only). */
    act?: Actor | null;
    /** An instant the token must not outlive (an exchanged token ends with its subject token). */
    notAfter?: number;
  }): Promise<{ token: string; expiresIn: number; record: NewAccessToken }> {
    const now = clock.now();
    const expiresIn =
      input.notAfter === undefined ? config.accessTokenLifetime : Math.max(1, Math.min(config.accessTokenLifetime, Math.floor((input.notAfter - now) / 1000)));
    const jti = randomId();
    const audiences = input.resources && input.resources.length > 0 ? [...input.resources] : [input.client.audience ?? config.issuer];
    // RFC 7519 §4.1.3: one audience as a string, several as an array. The record keeps them
    // space-joined (URIs hold no spaces).
    const aud = audiences.length === 1 ? audiences[0]! : audiences;
    const audience = audiences.join(' ');
    let token: string;
    if (input.client.accessTokenFormat === 'opaque') {
      token = randomSecret();
    } else {
      token = await keys.sign(
        {
          iss: config.issuer,
          sub: input.subject,
          aud,
          client_id: input.client.clientId,
          scope: input.scopes.join(' '),
          jti,
          ...(input.act ? { act: input.act } : {}),
          ...(input.dpopJkt ? { cnf: { jkt: input.dpopJkt } } : {}),
        },
        { typ: 'at+jwt' },
        expiresIn,
        now,
      );
    }
    const record: NewAccessToken = {
      jti,
      // The hash of the whole token, JWT or opaque: introspection and userinfo find an issued
      // token by one lookup, without checking its signature again (docs/security.md AT-HASH-LOOKUP).
      tokenHash: hashSecret(token),
      grantId: input.grantId,
      clientId: input.client.clientId,
      subject: input.subject,
      scopes: input.scopes,
      audience,
      issuedAt: now,
      // A JWT's `exp` is whole seconds from its `iat` (keys.sign); the record ends at the same
      // instant, so a lookup by hash expires the token exactly when its signature check would.
      expiresAt: input.client.accessTokenFormat === 'opaque' ? now + expiresIn * 1000 : (Math.floor(now / 1000) + expiresIn) * 1000,
      dpopJkt: input.dpopJkt,
      act: input.act ?? null,
    };
    return { token, expiresIn, record };
  }

  async function issueAccessToken(input: Parameters<typeof mintAccessToken>[0]): Promise<{ token: string; expiresIn: number }> {
    const { token, expiresIn, record } = await mintAccessToken(input);
    await store.accessTokens.create(record);
    return { token, expiresIn };
  }

  async function issueIdToken(input: {
    client: ClientRecord;
    user: UserRecord;
    scopes: string[];
    authTime: number | null;
    amr?: string[] | null;
    acr?: string | null;
  }) {
    return keys.sign(
      {
        ...userClaims(input.user, input.scopes),
        iss: config.issuer,
        aud: input.client.clientId,
        ...(input.authTime ? { auth_time: Math.floor(input.authTime / 1000) } : {}),
        // OIDC Core §2: how and how strongly the approving person authenticated, as their sign-in
        // session recorded it (an upstream provider's own amr and acr carry through: docs/security.md UPSTREAM-AMR).
        ...(input.amr && input.amr.length > 0 ? { amr: input.amr } : {}),
        ...(input.acr ? { acr: input.acr } : {}),
      },
      { typ: 'JWT' },
      config.idTokenLifetime,
    );
  }

  async function issueRefreshToken(grant: Pick<GrantRecord, 'id' | 'clientId' | 'expiresAt'>, scopes: string[]): Promise<{ token: string; record: NewRefreshToken }> {
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
   * The response for a user's grant (device_code or refresh_token) and the records the store must
   * write in the same commit before it is sent (store/types.ts TokenExchanges): an access token,
   * an ID token when `openid` was granted, and a refresh token when `offline_access` was (OIDC
   * Core §11) and the client may use the refresh_token grant.
   */
  async function mintForGrant(input: {
    client: ClientRecord;
    grant: Pick<GrantRecord, 'id' | 'clientId' | 'expiresAt' | 'dpopJkt' | 'authTime' | 'amr' | 'acr'>;
    user: UserRecord;
    scopes: string[];
    /** The access token's resources (RFC 8707), already checked against the grant's. */
    resources?: readonly string[];
  }): Promise<{ response: TokenResponse; accessToken: NewAccessToken; refreshToken: NewRefreshToken | null }> {
    const { client, grant, user, scopes } = input;
    const access = await mintAccessToken({ client, subject: user.id, scopes, grantId: grant.id, dpopJkt: grant.dpopJkt, resources: input.resources });
    const response: TokenResponse = {
      access_token: access.token,
      token_type: grant.dpopJkt ? 'DPoP' : 'Bearer',
      expires_in: access.expiresIn,
      scope: scopes.join(' '),
    };
    let refreshToken: NewRefreshToken | null = null;
    if (mayHaveRefreshToken(client, scopes)) {
      const refresh = await issueRefreshToken(grant, scopes);
      refreshToken = refresh.record;
      response.refresh_token = refresh.token;
    }
    if (scopes.includes('openid')) {
      response.id_token = await issueIdToken({ client, user, scopes, authTime: grant.authTime, amr: grant.amr, acr: grant.acr });
    }
    return { response, accessToken: access.record, refreshToken };
  }

  return { issueAccessToken, mintAccessToken, issueIdToken, issueRefreshToken, mintForGrant };
}

function mayHaveRefreshToken(client: ClientRecord, scopes: readonly string[]): boolean {
  return scopes.includes('offline_access') && client.grantTypes.includes('refresh_token');
}

export type TokenService = ReturnType<typeof createTokenService>;
