import { clientAuthMethod, discover, normalizeIssuer, type AuthorizationServerMetadata } from './core/discovery.ts';
import {
  createDpopNonces,
  createProof,
  DPOP_ALG,
  dpopKeyFromPrivateJwk,
  generateDpopKey,
  isDpopTokenType,
  proofFor,
  type DpopContext,
  type DpopKey,
} from './dpop.ts';
import { abortedError, DeviceClientError } from './core/errors.ts';
import type { ClientCredentials } from './core/http.ts';
import { startLogin, type DeviceLogin, type StartLoginOptions } from './login.ts';
import { backoffDelay, resolveRuntime, type Runtime } from './core/runtime.ts';
import { createTokenStore, type ProfileRecord, type SignedOutRecord, type TokenStore, type TokenStoreOptions } from './store/token-store.ts';
import { refreshTokens, revokeToken, type TokenSet } from './core/tokens.ts';

/** Refresh this long before the access token expires, so it does not expire in flight. */
export const DEFAULT_REFRESH_SKEW_MS = 60_000;
export const DEFAULT_PROFILE = 'default';
/** Sends of one refresh whose answers never arrive, before the error goes to the caller. */
const REFRESH_ATTEMPTS = 3;
/** First pause between them; it doubles, with jitter (runtime.ts backoffDelay). */
const REFRESH_RETRY_BASE_MS = 1_000;

export interface SessionOptions extends Partial<Runtime> {
  profile?: string;
  /** A store, or the options to make one (directory, key). */
  store?: TokenStore | TokenStoreOptions;
  refreshSkewMs?: number;
  signal?: AbortSignal;
  /**
   * DPoP (RFC 9449) for new logins: on by default where the appliance advertises it, with one key
   * per profile made before the first token request and kept (encrypted) in the store. `false`
   * turns it off; a login's own `dpop: false` does too. Tokens already bound keep using their key.
   */
  dpop?: boolean;
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
  /** `DPoP` (sender-constrained, RFC 9449) or `Bearer`, as the appliance said. */
  tokenType?: string;
  /** A DPoP key is kept in the profile. */
  dpop?: boolean;
  /** RFC 7638 thumbprint of that key (public: the `cnf.jkt` of bound tokens). */
  dpopThumbprint?: string;
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
  /**
   * Stores a finished login's tokens in this profile (durably, before returning), with the DPoP
   * key they are bound to when they came from `startLogin` (`login.dpopKey`).
   */
  saveTokens(identity: LoginIdentity, tokens: TokenSet, dpopKey?: DpopKey): Promise<ProfileRecord>;
  /** A valid access token, refreshed (and the rotated refresh token stored) when needed. */
  getAccessToken(): Promise<string>;
  /**
   * A DPoP proof (RFC 9449 §4.2) for calling an API with this profile's access token: `ath` is the
   * hash of `accessToken` (default: the current one, from getAccessToken()), `nonce` the API's
   * latest DPoP-Nonce (default: the last one this session saw from that origin). Throws `usage`
   * when the profile's tokens are Bearer tokens, which need no proof.
   */
  createDpopProof(request: { method: string; url: string | URL; accessToken?: string; nonce?: string }): Promise<string>;
  /**
   * fetch() with this profile's access token: `Authorization: DPoP <token>` and a fresh proof for
   * DPoP-bound tokens (retried once when the API answers use_dpop_nonce, RFC 9449 §9), or
   * `Authorization: Bearer <token>`.
   */
  fetchWithToken(url: string | URL, init?: RequestInit): Promise<Response>;
  /**
   * Revokes the refresh token at the appliance (RFC 7009) and deletes the profile. When the
   * appliance cannot be reached the profile is kept and the error thrown, unless `force`.
   */
  logout(options?: { force?: boolean }): Promise<{ wasLoggedIn: boolean; revoked: boolean; revocationError?: DeviceClientError }>;
  status(): Promise<SessionStatus>;
}

/** A body that can be sent twice: not a stream, which the first send consumes. */
function isReplayableBody(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof Blob ||
    body instanceof FormData ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body)
  );
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
  // The latest DPoP-Nonce of each server this session talks to (RFC 9449 §8, §9).
  const nonces = createDpopNonces();

  /** Signed in: tokens are kept (a profile may hold only its DPoP key, made before a login). */
  const hasTokens = (record: ProfileRecord): boolean =>
    typeof record.tokens.accessToken === 'string' || typeof record.tokens.refreshToken === 'string';

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

  const notLoggedIn = (record?: ProfileRecord | null) => {
    // Signed out by the appliance (sign-out.ts): say so, rather than "run login first" alone.
    const signedOut = record?.signedOut as SignedOutRecord | undefined;
    if (signedOut && typeof signedOut.at === 'number') {
      const why = signedOut.reason === 'revoked' ? 'the appliance revoked its sign-in' : 'the appliance refused its refresh token';
      return new DeviceClientError('not_logged_in', `signed out: ${why} at ${new Date(signedOut.at).toISOString()} (profile "${profile}"); log in again`);
    }
    return new DeviceClientError('not_logged_in', `not logged in (profile "${profile}"); run login first`);
  };

  const clientOf = (record: ProfileRecord, metadata: AuthorizationServerMetadata): ClientCredentials => ({
    clientId: record.clientId,
    ...(record.clientSecret !== undefined ? { clientSecret: record.clientSecret, authMethod: clientAuthMethod(metadata) } : {}),
  });

  const keyOf = (record: ProfileRecord): DpopKey | undefined =>
    record.dpop?.privateJwk ? dpopKeyFromPrivateJwk(record.dpop.privateJwk) : undefined;

  const dpopRecord = (key: DpopKey): NonNullable<ProfileRecord['dpop']> => ({
    privateJwk: key.exportPrivateJwk(),
    alg: DPOP_ALG,
    thumbprint: key.thumbprint,
    createdAt: runtime.now(),
  });

  /**
   * The profile's DPoP key, made and stored durably first if it has none. Runs before the first
   * token request of a login: the appliance binds the tokens to the key of the redemption's proof,
   * so that key must already be the kept one when the tokens arrive (a crash in between leaves a
   * key and no tokens, never tokens without their key). The key outlives later logins.
   */
  async function ensureDpopKey(identity: { issuer: string; clientId: string }): Promise<DpopKey> {
    return store.withLock(profile, async () => {
      // An unreadable profile (tampered, wrong key) is replaced by the login, as before.
      const previous = await store.load(profile).catch(() => null);
      if (previous?.dpop) {
        try {
          const kept = keyOf(previous);
          if (kept) return kept;
        } catch {
          // A broken key binds nothing usable: a new one replaces it.
        }
      }
      const key = generateDpopKey();
      await store.save(profile, {
        ...(previous ?? { issuer: identity.issuer, clientId: identity.clientId, tokens: {}, savedAt: runtime.now() }),
        dpop: dpopRecord(key),
      });
      return key;
    });
  }

  async function saveTokens(identity: LoginIdentity, tokens: TokenSet, dpopKey?: DpopKey): Promise<ProfileRecord> {
    return store.withLock(profile, async () => {
      // The DPoP key outlives a new login; anything else is new.
      const previous = await store.load(profile).catch(() => null);
      const keep = previous?.dpop && (!dpopKey || previous.dpop.privateJwk?.x === dpopKey.publicJwk.x) ? previous.dpop : undefined;
      const dpop = keep ?? (dpopKey ? dpopRecord(dpopKey) : undefined);
      const record: ProfileRecord = {
        issuer: identity.issuer,
        clientId: identity.clientId,
        ...(identity.clientSecret !== undefined ? { clientSecret: identity.clientSecret } : {}),
        ...(tokens.scope ?? identity.scope ? { scope: tokens.scope ?? identity.scope } : {}),
        ...(identity.deviceName !== undefined ? { deviceName: identity.deviceName } : {}),
        ...(identity.deviceModel !== undefined ? { deviceModel: identity.deviceModel } : {}),
        tokens: { ...tokens },
        savedAt: runtime.now(),
        ...(dpop ? { dpop } : {}),
      };
      await store.save(profile, record);
      return record;
    });
  }

  /**
   * A refresh whose answer never arrived (the connection dropped, the appliance restarted) is
   * sent again with the same refresh token: it may have been rotated already, and the appliance
   * answers the device's own retry within its refresh retry window with a new successor instead
   * of calling it reuse (docs/security.md REFRESH-RETRY). A few attempts, a second or two apart,
   * well inside that window; then the error goes to the caller with the stored token unchanged.
   */
  async function refreshWithRetries(send: () => Promise<TokenSet>): Promise<TokenSet> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (error) {
        if (!(error instanceof DeviceClientError) || !error.retryable || attempt >= REFRESH_ATTEMPTS || signal?.aborted) throw error;
        await runtime.sleep(backoffDelay(attempt, { baseMs: REFRESH_RETRY_BASE_MS, capMs: 4 * REFRESH_RETRY_BASE_MS, random: runtime.random }), signal);
        if (signal?.aborted) throw abortedError(signal);
      }
    }
  }

  /** The profile with a valid access token, refreshed (and stored) first when needed. */
  async function validRecord(): Promise<ProfileRecord> {
    const record = await store.load(profile);
    if (!record || !hasTokens(record)) throw notLoggedIn(record);
    if (fresh(record)) return record;
    return store.withLock(profile, async () => {
      // Another process may have refreshed while this one waited for the lock.
      const current = await store.load(profile);
      if (!current || !hasTokens(current)) throw notLoggedIn(current);
      if (fresh(current)) return current;
      const refreshToken = current.tokens.refreshToken;
      if (!refreshToken) {
        throw new DeviceClientError('not_logged_in', `the access token of profile "${profile}" expired and there is no refresh token; log in again`);
      }
      // DPoP-bound tokens are refreshed with a proof of their key, whatever `dpop` says for new
      // logins: without it the appliance refuses the refresh token (RFC 9449 §5).
      let dpop: DpopContext | undefined;
      if (isDpopTokenType(current.tokens.tokenType)) {
        const key = keyOf(current);
        if (!key) {
          throw new DeviceClientError('not_logged_in', `profile "${profile}" holds DPoP-bound tokens but no DPoP key; log in again`);
        }
        dpop = { key, nonces, now: runtime.now };
      }
      const metadata = await discover(current.issuer, { fetch: runtime.fetch, ...signalOption });
      const context = { tokenEndpoint: metadata.token_endpoint, client: clientOf(current, metadata), fetch: runtime.fetch, ...signalOption, ...(dpop ? { dpop } : {}) };
      let tokens: TokenSet;
      try {
        tokens = await refreshWithRetries(() => refreshTokens(context, refreshToken, runtime.now));
      } catch (error) {
        // The appliance refused the refresh token (revoked, expired): the cached access token is
        // of the same sign-in, so it goes too, and no later call prints it.
        if (error instanceof DeviceClientError && error.code === 'not_logged_in') {
          const { dpop: _dpop, ...kept } = current;
          await store.save(profile, { ...kept, tokens: {}, signedOut: { at: runtime.now(), reason: 'refused' } satisfies SignedOutRecord, savedAt: runtime.now() });
        }
        throw error;
      }
      // The rotated refresh token must be on disk before the new access token is used: once
      // the appliance has rotated, the old refresh token is worth nothing (RFC 9700 §4.14.2).
      // A failed write throws here, and the access token is never handed out.
      const updated: ProfileRecord = {
        ...current,
        ...(tokens.scope ? { scope: tokens.scope } : {}),
        tokens: { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken, ...(tokens.idToken || !current.tokens.idToken ? {} : { idToken: current.tokens.idToken }) },
        savedAt: runtime.now(),
      };
      await store.save(profile, updated);
      return updated;
    });
  }

  /** The key of a profile with DPoP-bound tokens; `usage` for Bearer tokens, which need no proof. */
  function proofKeyOf(record: ProfileRecord): DpopKey {
    if (!isDpopTokenType(record.tokens.tokenType)) {
      throw new DeviceClientError('usage', `profile "${profile}" holds ${record.tokens.tokenType ?? 'Bearer'} tokens, which need no DPoP proof`);
    }
    const key = keyOf(record);
    if (!key) throw new DeviceClientError('not_logged_in', `profile "${profile}" holds DPoP-bound tokens but no DPoP key; log in again`);
    return key;
  }

  return {
    profile,
    store,
    async login(loginOptions) {
      const requested = options.dpop === false ? false : loginOptions.dpop ?? true;
      const login = await startLogin({
        ...runtime,
        ...signalOption,
        dpopNonces: nonces,
        ...loginOptions,
        // The profile's own key unless the app brings one (stored with the tokens then).
        dpop:
          requested === true
            ? () => ensureDpopKey({ issuer: normalizeIssuer(loginOptions.issuer), clientId: loginOptions.clientId })
            : requested,
      });
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
              login.dpopKey,
            );
            return tokens;
          })),
      };
    },
    saveTokens,
    async getAccessToken() {
      return (await validRecord()).tokens.accessToken!;
    },
    async createDpopProof(request) {
      const record = request.accessToken === undefined ? await validRecord() : await store.load(profile);
      if (!record || !hasTokens(record)) throw notLoggedIn();
      const key = proofKeyOf(record);
      const nonce = request.nonce ?? nonces.get(request.url);
      return createProof(key, {
        method: request.method,
        url: request.url,
        now: runtime.now(),
        accessToken: request.accessToken ?? record.tokens.accessToken!,
        ...(nonce !== undefined ? { nonce } : {}),
      });
    },
    async fetchWithToken(url, init = {}) {
      const record = await validRecord();
      const accessToken = record.tokens.accessToken!;
      const method = (init.method ?? 'GET').toUpperCase();
      if (!isDpopTokenType(record.tokens.tokenType)) {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${accessToken}`);
        return runtime.fetch(url, { ...init, headers });
      }
      const dpop: DpopContext = { key: proofKeyOf(record), nonces, now: runtime.now };
      const send = async () => {
        const headers = new Headers(init.headers);
        headers.set('authorization', `DPoP ${accessToken}`);
        headers.set('dpop', await proofFor(dpop, method, url, accessToken));
        return runtime.fetch(url, { ...init, headers });
      };
      let response = await send();
      nonces.remember(url, response.headers);
      // RFC 9449 §9: a resource server asking for a nonce answers 401 with a DPoP challenge
      // naming use_dpop_nonce and a DPoP-Nonce header. Retried once, when the body can be resent.
      const replayable = isReplayableBody(init.body);
      if (
        response.status === 401 &&
        replayable &&
        response.headers.has('dpop-nonce') &&
        /error="?use_dpop_nonce/.test(response.headers.get('www-authenticate') ?? '')
      ) {
        await response.body?.cancel();
        response = await send();
        nonces.remember(url, response.headers);
      }
      return response;
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
        if (!hasTokens(record)) {
          // Only a DPoP key, from a login that never finished: nothing to revoke.
          await store.remove(profile);
          return { wasLoggedIn: false, revoked: false };
        }
        let revoked = false;
        let revocationError: DeviceClientError | undefined;
        try {
          const metadata = await discover(record.issuer, { fetch: runtime.fetch, ...signalOption });
          const endpoint = metadata.revocation_endpoint;
          const token = record.tokens.refreshToken ?? record.tokens.accessToken;
          if (endpoint && token) {
            // No DPoP proof here: RFC 7009 revocation authenticates the client, not the key, and
            // revoking a token is no use to a thief.
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
        // The DPoP key goes with the tokens: the next login makes a new one.
        await store.remove(profile);
        return { wasLoggedIn: true, revoked, ...(revocationError ? { revocationError } : {}) };
      });
    },
    async status() {
      const storeFile = store.fileOf(profile);
      const record = await store.load(profile);
      if (!record || !hasTokens(record)) return { profile, loggedIn: false, storeFile };
      const thumbprint = record.dpop && typeof record.dpop.thumbprint === 'string' ? record.dpop.thumbprint : undefined;
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
        ...(record.tokens.tokenType !== undefined ? { tokenType: record.tokens.tokenType } : {}),
        dpop: Boolean(record.dpop),
        ...(thumbprint ? { dpopThumbprint: thumbprint } : {}),
        savedAt: record.savedAt,
      };
    },
  };
}
