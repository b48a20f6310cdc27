import type { PushEndpoints } from '@devicegate/protocol';
import { requestDeviceAuthorization, type DeviceAuthorization } from './core/device-authorization.ts';
import { clientAuthMethod, discover, normalizeIssuer, type AuthorizationServerMetadata } from './core/discovery.ts';
import { createDpopNonces, dpopSupported, generateDpopKey, type DpopContext, type DpopKey, type DpopNonces } from './dpop.ts';
import { DeviceClientError } from './core/errors.ts';
import { createEmitter, type LoginEvent, type WaitChannel } from './core/events.ts';
import type { ClientCredentials } from './core/http.ts';
import { mqttTransport } from './push/mqtt.ts';
import { chooseChannel, waitForTokens, type ChannelPreference } from './core/sign-in.ts';
import type { PushTransport } from './core/push/transport.ts';
import type { PushTls } from './push/tls.ts';
import { websocketTransport } from './push/websocket.ts';
import { qrRenderers, type QrRenderers } from './qr.ts';
import { resolveRuntime, type Runtime } from './core/runtime.ts';
import type { TokenSet } from './core/tokens.ts';

export type { ChannelPreference } from './core/sign-in.ts';

export interface StartLoginOptions extends Partial<Runtime> {
  issuer: string;
  clientId: string;
  /** Only for confidential clients; most devices are public clients and have none. */
  clientSecret?: string;
  scope?: string;
  deviceName?: string;
  deviceModel?: string;
  /**
   * RFC 8707: the API the tokens are for, by its resource identifier (`discoverProtectedResource`
   * finds it and the issuer from the API's URL); the access token's aud is then exactly that.
   */
  resource?: string;
  /** 'auto' (default): WebSocket if offered, else MQTT, else polling alone. Polling runs always. */
  channel?: ChannelPreference;
  signal?: AbortSignal;
  /** Gets every event of this login, from the first (`code`) on. */
  onEvent?: (event: LoginEvent) => void;
  /** Builds push transports; tests and unusual networks may replace it. */
  pushTransport?: (channel: 'websocket' | 'mqtt', push: PushEndpoints, deviceCode: string) => PushTransport;
  /** Trust anchors for wss:// and mqtts:// push endpoints behind a private CA. */
  pushTls?: PushTls;
  /**
   * DPoP (RFC 9449), on by default wherever discovery advertises it (ES256 among
   * `dpop_signing_alg_values_supported`): every token request carries a proof and the tokens are
   * bound to the key. `false` turns it off (for a server that mishandles it). A key, or a function
   * that gives one (called once, after discovery, only when DPoP is used), replaces the fresh key
   * made otherwise: a session passes the key it keeps in its store.
   */
  dpop?: boolean | DpopKey | (() => Promise<DpopKey>);
  /** The latest DPoP-Nonce per server; a session shares one across its requests. */
  dpopNonces?: DpopNonces;
}

export interface DeviceLogin {
  issuer: string;
  clientId: string;
  scope?: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  /** Seconds, as the appliance said; `expiresAt` is the moment on this device's clock. */
  expiresIn: number;
  expiresAt: number;
  interval: number;
  /** Where the outcome is awaited besides polling. */
  channel: WaitChannel;
  push?: PushEndpoints;
  /**
   * The key the tokens will be bound to (absent when DPoP is off or not offered). An app keeping
   * the tokens itself keeps `dpopKey.exportPrivateJwk()` with them; a session does that for it.
   */
  dpopKey?: DpopKey;
  metadata: AuthorizationServerMetadata;
  qr: QrRenderers;
  /** Subscribe to one event type, or '*' for all; returns the unsubscribe function. */
  on: ReturnType<typeof createEmitter<LoginEvent>>['on'];
  /**
   * Waits for the outcome and resolves to the tokens; rejects with DeviceClientError
   * `access_denied`, `expired_token`, `aborted`, `oauth` ... Waiting starts on the first call;
   * later calls return the same promise.
   */
  wait(): Promise<TokenSet>;
}

const defaultPushTransport = (clientId: string, tls: PushTls = {}) =>
  (channel: 'websocket' | 'mqtt', push: PushEndpoints, deviceCode: string): PushTransport =>
    channel === 'websocket' ? websocketTransport(push.websocket!, deviceCode, tls) : mqttTransport(push.mqtt!, clientId, deviceCode, tls);

/** The key to prove with, or none: the option decides, then what discovery advertises. */
async function dpopKeyFor(option: StartLoginOptions['dpop'], metadata: AuthorizationServerMetadata): Promise<DpopKey | undefined> {
  if (option === false || !dpopSupported(metadata)) return undefined;
  if (option === undefined || option === true) return generateDpopKey();
  return typeof option === 'function' ? option() : option;
}

/**
 * Starts a device sign-in (RFC 8628): discovery, then the device authorization request. Returns
 * what to show the person; `wait()` then waits for the outcome on the push channel while polling.
 */
export async function startLogin(options: StartLoginOptions): Promise<DeviceLogin> {
  const runtime = resolveRuntime(options);
  const { signal } = options;
  if (!options.clientId) throw new DeviceClientError('usage', 'a client_id is required');
  const issuer = normalizeIssuer(options.issuer);
  const metadata = await discover(issuer, { fetch: runtime.fetch, ...(signal ? { signal } : {}) });
  const client: ClientCredentials = {
    clientId: options.clientId,
    ...(options.clientSecret !== undefined ? { clientSecret: options.clientSecret, authMethod: clientAuthMethod(metadata) } : {}),
  };
  // Made (and, by a session, stored) before any token request: the tokens are bound at redemption
  // to the key of that request's proof, so it must be the key that is kept.
  const dpopKey = await dpopKeyFor(options.dpop, metadata);
  const dpop: DpopContext | undefined = dpopKey
    ? { key: dpopKey, nonces: options.dpopNonces ?? createDpopNonces(), now: runtime.now }
    : undefined;
  const authorization: DeviceAuthorization = await requestDeviceAuthorization(
    {
      endpoint: metadata.device_authorization_endpoint,
      client,
      fetch: runtime.fetch,
      ...(signal ? { signal } : {}),
      ...(dpop ? { dpopNonces: dpop.nonces } : {}),
    },
    {
      ...(options.scope !== undefined ? { scope: options.scope } : {}),
      ...(options.deviceName !== undefined ? { deviceName: options.deviceName } : {}),
      ...(options.deviceModel !== undefined ? { deviceModel: options.deviceModel } : {}),
      ...(options.resource !== undefined ? { resource: options.resource } : {}),
    },
  );
  const expiresAt = runtime.now() + authorization.expiresIn * 1000;
  const channel = chooseChannel(options.channel ?? 'auto', authorization.push);
  const emitter = createEmitter<LoginEvent>(options.onEvent);
  const makeTransport = options.pushTransport ?? defaultPushTransport(options.clientId, options.pushTls);
  // The device code is a secret of this closure: never on the returned object, never in an event.
  const deviceCode = authorization.deviceCode;

  const run = (): Promise<TokenSet> =>
    waitForTokens({
      runtime,
      metadata,
      client,
      authorization,
      expiresAt,
      channel,
      emit: emitter.emit,
      ...(channel === 'poll' ? {} : { transport: makeTransport(channel, authorization.push!, deviceCode) }),
      ...(dpop ? { dpop } : {}),
      ...(signal ? { signal } : {}),
      dpopTurnedOff: options.dpop === false,
    });

  let waiting: Promise<TokenSet> | undefined;
  return {
    issuer,
    clientId: options.clientId,
    ...(options.scope !== undefined ? { scope: options.scope } : {}),
    userCode: authorization.userCode,
    verificationUri: authorization.verificationUri,
    ...(authorization.verificationUriComplete ? { verificationUriComplete: authorization.verificationUriComplete } : {}),
    expiresIn: authorization.expiresIn,
    expiresAt,
    interval: authorization.interval,
    channel,
    ...(authorization.push ? { push: authorization.push } : {}),
    ...(dpopKey ? { dpopKey } : {}),
    metadata,
    qr: qrRenderers(authorization.verificationUriComplete ?? authorization.verificationUri),
    on: emitter.on,
    wait: () => (waiting ??= run()),
  };
}
