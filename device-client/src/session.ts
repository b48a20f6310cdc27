import { clientAuthMethod, discover, type AuthorizationServerMetadata } from './discovery.ts';
import { DeviceClientError } from './errors.ts';
import type { ClientCredentials } from './http.ts';
import { startLogin, type DeviceLogin, type StartLoginOptions } from './login.ts';
import { resolveRuntime, type Runtime } from './runtime.ts';
import { createTokenStore, type ProfileRecord, type TokenStore, type TokenStoreOptions } from './store/token-store.ts';
import { refreshTokens, revokeToken, type TokenSet } from './tokens.ts';

/** Refresh this long before the access token expires, so it does not expire in flight. */
export const DEFAULT_REFRESH_SKEW_MS = 60_000;
export const DEFAULT_PROFILE = 'default';

export interface SessionOptions extends Partial<Runtime> {
  profile?: string;
  /** A store, or the options to make one (directory, key). */
  store?: TokenStore | TokenStoreOptions;
  refreshSkewMs?: number;
  signal?: AbortSignal;
}

/** What `status()` tells: never a token. */
export interface SessionStatus {
  profile: string;
  loggedIn: boolean;
  storeFile: string;
  issuer?: string;
  clientId?: string;
  scope?: string;
  deviceName?: string;
  /** Epoch ms. */
  accessTokenExpiresAt?: number;
  accessTokenValid?: boolean;
  hasRefreshToken?: boolean;
  /** Sender-constrained (DPoP) key present (issue 7). */
  dpop?: boolean;
  savedAt?: number;
}

export interface LoginIdentity {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  scope?: string;
  deviceName?: string;
  deviceModel?: string;
}

export interface Session {
  profile: string;
  store: TokenStore;
  /** startLogin whose wait() also stores the tokens in this profile before it resolves. */
  login(options: StartLoginOptions): Promise<DeviceLogin>;
  /** Stores a finished login's tokens in this profile (durably, before returning). */
  saveTokens(identity: LoginIdentity, tokens: TokenSet): Promise<ProfileRecord>;
  /** A valid access token, refreshed (and the rotated refresh token stored) when needed. */
  getAccessToken(): Promise<string>;
  /**
   * Revokes the refresh token at the appliance (RFC 7009) and deletes the profile. When the
   * appliance cannot be reached the profile is kept and the error thrown, unless `force`.
   */
  logout(options?: { force?: boolean }): Promise<{ wasLoggedIn: boolean; revoked: boolean; revocationError?: DeviceClientError }>;
  status(): Promise<SessionStatus>;
}

export function createSession(options: SessionOptions = {}): Session {
  const runtime = resolveRuntime(options);
  const profile = options.profile ?? DEFAULT_PROFILE;
  const store =
    options.store && 'load' in options.store ? options.store : createTokenStore((options.store as TokenStoreOptions | undefined) ?? {});
  store.fileOf(profile); // checks the profile name now, not at first use
  const skew = options.refreshSkewMs ?? DEFAULT_REFRESH_SKEW_MS;
  const signal = options.signal;
  const signalOption = signal ? { signal } : {};

  /**
   * Valid for longer than the skew. A short-lived token (30 s, say, below a 60 s skew) uses half
   * its lifetime instead, or every call would refresh.
   */
  const fresh = (record: ProfileRecord): boolean => {
    const { accessToken, expiresAt } = record.tokens;
    if (typeof accessToken !== 'string') return false;
    if (expiresAt === undefined) return true;
    const margin = Math.min(skew, Math.max(0, (expiresAt - record.savedAt) / 2));
    return expiresAt - margin > runtime.now();
  };

  const notLoggedIn = () =>
    new DeviceClientError('not_logged_in', `not logged in (profile "${profile}"); run login first`);

  const clientOf = (record: ProfileRecord, metadata: AuthorizationServerMetadata): ClientCredentials => ({
    clientId: record.clientId,
    ...(record.clientSecret !== undefined ? { clientSecret: record.clientSecret, authMethod: clientAuthMethod(metadata) } : {}),
  });

  async function saveTokens(identity: LoginIdentity, tokens: TokenSet): Promise<ProfileRecord> {
    return store.withLock(profile, async () => {
      // A DPoP key (issue 7) outlives a new login with the same appliance; anything else is new.
      const previous = await store.load(profile).catch(() => null);
      const record: ProfileRecord = {
        issuer: identity.issuer,
        clientId: identity.clientId,
        ...(identity.clientSecret !== undefined ? { clientSecret: identity.clientSecret } : {}),
        ...(tokens.scope ?? identity.scope ? { scope: tokens.scope ?? identity.scope } : {}),
        ...(identity.deviceName !== undefined ? { deviceName: identity.deviceName } : {}),
        ...(identity.deviceModel !== undefined ? { deviceModel: identity.deviceModel } : {}),
        tokens: { ...tokens },
        savedAt: runtime.now(),
        ...(previous?.dpop && previous.issuer === identity.issuer ? { dpop: previous.dpop } : {}),
      };
      await store.save(profile, record);
      return record;
    });
  }

  return {
    profile,
    store,
    async login(loginOptions) {
      const login = await startLogin({ ...runtime, ...signalOption, ...loginOptions });
      let stored: Promise<TokenSet> | undefined;
      return {
        ...login,
        wait: () =>
          (stored ??= login.wait().then(async (tokens) => {
            await saveTokens(
              {
                issuer: login.issuer,
                clientId: loginOptions.clientId,
                ...(loginOptions.clientSecret !== undefined ? { clientSecret: loginOptions.clientSecret } : {}),
                ...(loginOptions.scope !== undefined ? { scope: loginOptions.scope } : {}),
                ...(loginOptions.deviceName !== undefined ? { deviceName: loginOptions.deviceName } : {}),
                ...(loginOptions.deviceModel !== undefined ? { deviceModel: loginOptions.deviceModel } : {}),
              },
              tokens,
            );
            return tokens;
          })),
      };
    },
    saveTokens,
    async getAccessToken() {
      const record = await store.load(profile);
      if (!record) throw notLoggedIn();
      if (fresh(record)) return record.tokens.accessToken!;
      return store.withLock(profile, async () => {
        // Another process may have refreshed while this one waited for the lock.
        const current = await store.load(profile);
        if (!current) throw notLoggedIn();
        if (fresh(current)) return current.tokens.accessToken!;
        const refreshToken = current.tokens.refreshToken;
        if (!refreshToken) {
          throw new DeviceClientError('not_logged_in', `the access token of profile "${profile}" expired and there is no refresh token; log in again`);
        }
        const metadata = await discover(current.issuer, { fetch: runtime.fetch, ...signalOption });
        const tokens = await refreshTokens(
          { tokenEndpoint: metadata.token_endpoint, client: clientOf(current, metadata), fetch: runtime.fetch, ...signalOption },
          refreshToken,
          runtime.now,
        );
        // The rotated refresh token must be on disk before the new access token is used: once
        // the appliance has rotated, the old refresh token is worth nothing (RFC 9700 §4.14.2).
        // A failed write throws here, and the access token is never handed out.
        await store.save(profile, {
          ...current,
          ...(tokens.scope ? { scope: tokens.scope } : {}),
          tokens: { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken, ...(tokens.idToken || !current.tokens.idToken ? {} : { idToken: current.tokens.idToken }) },
          savedAt: runtime.now(),
        });
        return tokens.accessToken;
      });
    },
    async logout(logoutOptions = {}) {
      return store.withLock(profile, async () => {
        let record: ProfileRecord | null;
        try {
          record = await store.load(profile);
        } catch (error) {
          // An unreadable profile (tampered, wrong key) can still be deleted when forced.
          if (!logoutOptions.force) throw error;
          await store.remove(profile);
          return { wasLoggedIn: true, revoked: false, revocationError: error as DeviceClientError };
        }
        if (!record) return { wasLoggedIn: false, revoked: false };
        let revoked = false;
        let revocationError: DeviceClientError | undefined;
        try {
          const metadata = await discover(record.issuer, { fetch: runtime.fetch, ...signalOption });
          const endpoint = metadata.revocation_endpoint;
          const token = record.tokens.refreshToken ?? record.tokens.accessToken;
          if (endpoint && token) {
            await revokeToken(
              { revocationEndpoint: endpoint, client: clientOf(record, metadata), fetch: runtime.fetch, ...signalOption },
              token,
              record.tokens.refreshToken ? 'refresh_token' : 'access_token',
            );
            revoked = true;
          }
        } catch (error) {
          const failure = error instanceof DeviceClientError ? error : new DeviceClientError('server', String(error));
          if (!logoutOptions.force) throw failure;
          revocationError = failure;
        }
        await store.remove(profile);
        return { wasLoggedIn: true, revoked, ...(revocationError ? { revocationError } : {}) };
      });
    },
    async status() {
      const storeFile = store.fileOf(profile);
      const record = await store.load(profile);
      if (!record) return { profile, loggedIn: false, storeFile };
      return {
        profile,
        loggedIn: true,
        storeFile,
        issuer: record.issuer,
        clientId: record.clientId,
        ...(record.scope !== undefined ? { scope: record.scope } : {}),
        ...(record.deviceName !== undefined ? { deviceName: record.deviceName } : {}),
        ...(record.tokens.expiresAt !== undefined ? { accessTokenExpiresAt: record.tokens.expiresAt } : {}),
        accessTokenValid: fresh(record),
        hasRefreshToken: typeof record.tokens.refreshToken === 'string',
        dpop: Boolean(record.dpop),
        savedAt: record.savedAt,
      };
    },
  };
}
