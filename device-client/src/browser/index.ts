/**
 * @devicegate/device-client/browser: device sign-in (RFC 8628) for web apps on TVs, set-top boxes
 * and kiosks, built from the same core as the Node client (../core/): discovery, device
 * authorization, polling with interval and slow_down, push, DPoP proofs. What differs is this
 * runtime's: the browser's WebSocket, a non-extractable WebCrypto DPoP key, tokens sealed in
 * IndexedDB, a QR code as SVG. No Node built-in is imported (the build checks it).
 */
import { requestDeviceAuthorization } from '../core/device-authorization.ts';
import { discover, normalizeIssuer, type AuthorizationServerMetadata } from '../core/discovery.ts';
import { createDpopNonces, dpopSupported, isDpopTokenType, proofFor, type DpopContext, type DpopSigner } from '../core/dpop.ts';
import { DeviceClientError } from '../core/errors.ts';
import { createEmitter, type LoginEvent } from '../core/events.ts';
import { resolveRuntime, type Runtime } from '../core/runtime.ts';
import { chooseChannel, waitForTokens } from '../core/sign-in.ts';
import { refreshTokens, revokeToken, type TokenSet } from '../core/tokens.ts';
import { forgetDpopKey, loadOrCreateDpopKey } from './dpop-key.ts';
import { openDatabase } from './idb.ts';
import { renderQrSvg } from './qr.ts';
import { openTokenVault, type StoredSignIn } from './vault.ts';
import { browserWebSocketTransport } from './websocket.ts';

export { DeviceClientError } from '../core/errors.ts';
export type { LoginEvent } from '../core/events.ts';
export type { TokenSet } from '../core/tokens.ts';
export { renderQrSvg } from './qr.ts';

/** The core's events, plus one a screen needs every second: how long the code still lives. */
export type BrowserLoginEvent = LoginEvent | { type: 'countdown'; secondsLeft: number };

export interface BrowserClientOptions {
  issuer: string;
  clientId: string;
  scope?: string;
  /** One sign-in per profile; an app with one user needs none. */
  profile?: string;
  /** IndexedDB database name. */
  databaseName?: string;
  /** Refresh this long before the access token expires. */
  refreshSkewMs?: number;
  runtime?: Partial<Runtime>;
}

export interface BrowserSignIn {
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  expiresAt: number;
  /** The QR code of verification_uri_complete (or verification_uri), as SVG. */
  qrSvg(): Promise<string>;
  on(type: BrowserLoginEvent['type'] | '*', listener: (event: BrowserLoginEvent) => void): () => void;
  /** Waits for the outcome; rejects with DeviceClientError access_denied, expired_token, aborted ... */
  wait(): Promise<TokenSet>;
}

export interface BrowserDeviceClient {
  /** Discovery and the device authorization request; the returned sign-in waits when asked. */
  signIn(options?: { signal?: AbortSignal; deviceName?: string; deviceModel?: string; channel?: 'auto' | 'websocket' | 'poll'; onEvent?: (event: BrowserLoginEvent) => void }): Promise<BrowserSignIn>;
  /** The kept sign-in, refreshed when due; null when signed out. */
  tokens(): Promise<TokenSet | null>;
  /** `fetch` with the access token: DPoP-bound tokens with a fresh proof (`ath`), RFC 9449 §7. */
  fetchWithToken(url: string, init?: RequestInit): Promise<Response>;
  /** The thumbprint of this app's DPoP key (survives reloads). */
  dpopThumbprint(): Promise<string>;
  /** Revokes the refresh token (RFC 7009) and forgets tokens and key. */
  signOut(): Promise<void>;
}

const DEFAULT_REFRESH_SKEW_MS = 30_000;

export function createBrowserDeviceClient(options: BrowserClientOptions): BrowserDeviceClient {
  const runtime = resolveRuntime(options.runtime);
  const issuer = normalizeIssuer(options.issuer);
  const profile = options.profile ?? 'default';
  const client = { clientId: options.clientId };
  const nonces = createDpopNonces();
  const opened = (async () => {
    const db = await openDatabase(options.databaseName ?? 'devicegate-device-client');
    return { db, vault: await openTokenVault(db, profile) };
  })();
  let metadata: Promise<AuthorizationServerMetadata> | undefined;
  const metadataOf = () => (metadata ??= discover(issuer, { fetch: runtime.fetch }).catch((error) => ((metadata = undefined), Promise.reject(error))));
  let key: Promise<DpopSigner> | undefined;
  const keyOf = () => (key ??= opened.then(({ db }) => loadOrCreateDpopKey(db, profile)));
  const dpopOf = async (): Promise<DpopContext | undefined> =>
    dpopSupported(await metadataOf()) ? { key: await keyOf(), nonces, now: runtime.now } : undefined;

  async function save(tokens: TokenSet, dpop: DpopContext | undefined): Promise<void> {
    const record: StoredSignIn = { issuer, clientId: options.clientId, tokens, ...(dpop ? { dpopThumbprint: dpop.key.thumbprint } : {}) };
    await (await opened).vault.save(record);
  }

  async function currentTokens(): Promise<TokenSet | null> {
    const record = await (await opened).vault.load();
    if (!record || record.issuer !== issuer || record.clientId !== options.clientId) return null;
    const due = record.tokens.expiresAt !== undefined && record.tokens.expiresAt - (options.refreshSkewMs ?? DEFAULT_REFRESH_SKEW_MS) <= runtime.now();
    if (!due || !record.tokens.refreshToken) return record.tokens;
    const meta = await metadataOf();
    const dpop = record.dpopThumbprint ? await dpopOf() : undefined;
    const refreshed = await refreshTokens({ tokenEndpoint: meta.token_endpoint, client, fetch: runtime.fetch, ...(dpop ? { dpop } : {}) }, record.tokens.refreshToken, runtime.now);
    // RFC 6749 §6: a server may keep the refresh token as it was.
    const tokens = { ...refreshed, refreshToken: refreshed.refreshToken ?? record.tokens.refreshToken };
    await save(tokens, dpop);
    return tokens;
  }

  return {
    async signIn(signInOptions = {}) {
      const { signal } = signInOptions;
      const meta = await metadataOf();
      const dpop = await dpopOf();
      const authorization = await requestDeviceAuthorization(
        { endpoint: meta.device_authorization_endpoint, client, fetch: runtime.fetch, ...(signal ? { signal } : {}), ...(dpop ? { dpopNonces: dpop.nonces } : {}) },
        {
          ...(options.scope !== undefined ? { scope: options.scope } : {}),
          ...(signInOptions.deviceName !== undefined ? { deviceName: signInOptions.deviceName } : {}),
          ...(signInOptions.deviceModel !== undefined ? { deviceModel: signInOptions.deviceModel } : {}),
        },
      );
      const expiresAt = runtime.now() + authorization.expiresIn * 1000;
      // A browser has WebSocket, not MQTT: without a WebSocket endpoint it polls.
      const channel = chooseChannel(signInOptions.channel ?? 'auto', authorization.push?.websocket ? { websocket: authorization.push.websocket } : undefined);
      const emitter = createEmitter<BrowserLoginEvent>(signInOptions.onEvent);
      let waiting: Promise<TokenSet> | undefined;
      const run = async () => {
        const tick = () => emitter.emit({ type: 'countdown', secondsLeft: Math.max(0, Math.ceil((expiresAt - runtime.now()) / 1000)) });
        const timer = setInterval(tick, 1000);
        try {
          const tokens = await waitForTokens({
            runtime,
            metadata: meta,
            client,
            authorization,
            expiresAt,
            channel,
            emit: (event) => {
              emitter.emit(event);
              if (event.type === 'code') tick();
            },
            ...(channel === 'websocket' ? { transport: browserWebSocketTransport(authorization.push!.websocket!, authorization.deviceCode) } : {}),
            ...(dpop ? { dpop } : {}),
            ...(signal ? { signal } : {}),
          });
          await save(tokens, dpop);
          return tokens;
        } finally {
          clearInterval(timer);
        }
      };
      return {
        userCode: authorization.userCode,
        verificationUri: authorization.verificationUri,
        ...(authorization.verificationUriComplete ? { verificationUriComplete: authorization.verificationUriComplete } : {}),
        expiresAt,
        qrSvg: () => renderQrSvg(authorization.verificationUriComplete ?? authorization.verificationUri),
        on: (type, listener) => emitter.on(type, listener as never),
        wait: () => (waiting ??= run()),
      };
    },
    tokens: currentTokens,
    async fetchWithToken(url, init = {}) {
      const tokens = await currentTokens();
      if (!tokens) throw new DeviceClientError('not_logged_in', 'not signed in');
      if (!isDpopTokenType(tokens.tokenType)) {
        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${tokens.accessToken}`);
        return runtime.fetch(url, { ...init, headers });
      }
      const dpop: DpopContext = { key: await keyOf(), nonces, now: runtime.now };
      const method = (init.method ?? 'GET').toUpperCase();
      const send = async () => {
        const headers = new Headers(init.headers);
        headers.set('authorization', `DPoP ${tokens.accessToken}`);
        headers.set('dpop', await proofFor(dpop, method, url, tokens.accessToken));
        return runtime.fetch(url, { ...init, headers });
      };
      let response = await send();
      nonces.remember(url, response.headers);
      // RFC 9449 §9: a resource server may ask for its nonce; one retry with it.
      if (response.status === 401 && response.headers.has('dpop-nonce') && /use_dpop_nonce/.test(response.headers.get('www-authenticate') ?? '')) {
        response = await send();
        nonces.remember(url, response.headers);
      }
      return response;
    },
    dpopThumbprint: async () => (await keyOf()).thumbprint,
    async signOut() {
      const { db, vault } = await opened;
      const record = await vault.load();
      const meta = await metadataOf().catch(() => undefined);
      if (record?.tokens.refreshToken && meta?.revocation_endpoint) {
        await revokeToken({ revocationEndpoint: meta.revocation_endpoint, client, fetch: runtime.fetch }, record.tokens.refreshToken, 'refresh_token').catch(() => undefined);
      }
      await vault.clear();
      await forgetDpopKey(db, profile);
      key = undefined;
    },
  };
}
