/**
 * @devicegate/device-client: sign-in for limited-input devices (RFC 8628) with devicegate's push
 * channels, and safe keeping of the tokens afterwards. See README.md.
 */
export { startLogin, type ChannelPreference, type DeviceLogin, type StartLoginOptions } from './login.ts';
export { createSession, DEFAULT_PROFILE, DEFAULT_REFRESH_SKEW_MS, type LoginIdentity, type Session, type SessionOptions, type SessionStatus } from './session.ts';
export { dropTokens, watchSignOut, type SignedOutRecord, type WatchSignOutOptions } from './sign-out.ts';
export { createTokenStore, STORE_FORMAT, STORE_VERSION, type ProfileRecord, type StoredTokens, type TokenStore, type TokenStoreOptions } from './store/token-store.ts';
export { defaultKeyFile, defaultStateDir } from './store/paths.ts';
export { discover, type AuthorizationServerMetadata } from './core/discovery.ts';
export {
  discoverProtectedResource,
  protectedResourceMetadataUrl,
  resourceMetadataFromChallenge,
  type ProtectedResource,
  type ProtectedResourceMetadata,
} from './resource-discovery.ts';
export { DeviceClientError, type DeviceClientErrorCode } from './core/errors.ts';
export { fetchOnceMoreOnStaleConnection } from './core/http.ts';
export {
  accessTokenHash,
  createDpopNonces,
  createProof,
  DPOP_ALG,
  dpopKeyFromPrivateJwk,
  dpopSupported,
  generateDpopKey,
  jwkThumbprint,
  type DpopKey,
  type DpopNonces,
  type DpopPublicJwk,
  type ProofRequest,
} from './dpop.ts';
export type { PushTransport } from './core/push/transport.ts';
export type { PushTls } from './push/tls.ts';
export { websocketTransport } from './push/websocket.ts';
export { mqttTransport } from './push/mqtt.ts';
export type { ChannelState, LoginEvent, LoginEventOf, LoginEventType, PushChannel, WaitChannel } from './core/events.ts';
export { qrRenderers, renderQrPng, renderQrSvg, renderQrTerminal, writeQrPng, type QrRenderers } from './qr.ts';
export { systemRuntime, type FetchFunction, type Runtime } from './core/runtime.ts';
export type { TokenSet } from './core/tokens.ts';
