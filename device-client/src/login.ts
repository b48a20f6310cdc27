import type { PushEndpoints } from '@devicegate/protocol';
import { requestDeviceAuthorization, type DeviceAuthorization } from './device-authorization.ts';
import { clientAuthMethod, discover, normalizeIssuer, type AuthorizationServerMetadata } from './discovery.ts';
import { abortedError, DeviceClientError } from './errors.ts';
import { createEmitter, type LoginEvent, type WaitChannel } from './events.ts';
import type { ClientCredentials } from './http.ts';
import { createWake, pollForTokens } from './poll.ts';
import { mqttTransport } from './push/mqtt.ts';
import { runPushChannel } from './push/runner.ts';
import type { PushTransport } from './push/transport.ts';
import { websocketTransport } from './push/websocket.ts';
import { qrRenderers, type QrRenderers } from './qr.ts';
import { resolveRuntime, type Runtime } from './runtime.ts';
import { requestDeviceToken, type TokenSet } from './tokens.ts';

export type ChannelPreference = 'auto' | WaitChannel;

export interface StartLoginOptions extends Partial<Runtime> {
  issuer: string;
  clientId: string;
  /** Only for confidential clients; most devices are public clients and have none. */
  clientSecret?: string;
  scope?: string;
  deviceName?: string;
  deviceModel?: string;
  /** 'auto' (default): WebSocket if offered, else MQTT, else polling alone. Polling runs always. */
  channel?: ChannelPreference;
  signal?: AbortSignal;
  /** Gets every event of this login, from the first (`code`) on. */
  onEvent?: (event: LoginEvent) => void;
  /** Builds push transports; tests and unusual networks may replace it. */
  pushTransport?: (channel: 'websocket' | 'mqtt', push: PushEndpoints, deviceCode: string) => PushTransport;
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

function chooseChannel(preference: ChannelPreference, push: PushEndpoints | undefined): WaitChannel {
  if (preference === 'poll') return 'poll';
  if (preference === 'auto') return push?.websocket ? 'websocket' : push?.mqtt ? 'mqtt' : 'poll';
  if (!push?.[preference]) {
    throw new DeviceClientError('push', `the appliance offers no ${preference} push channel for this login`);
  }
  return preference;
}

const defaultPushTransport = (clientId: string) =>
  (channel: 'websocket' | 'mqtt', push: PushEndpoints, deviceCode: string): PushTransport =>
    channel === 'websocket' ? websocketTransport(push.websocket!, deviceCode) : mqttTransport(push.mqtt!, clientId, deviceCode);

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
  const authorization: DeviceAuthorization = await requestDeviceAuthorization(
    { endpoint: metadata.device_authorization_endpoint, client, fetch: runtime.fetch, ...(signal ? { signal } : {}) },
    {
      ...(options.scope !== undefined ? { scope: options.scope } : {}),
      ...(options.deviceName !== undefined ? { deviceName: options.deviceName } : {}),
      ...(options.deviceModel !== undefined ? { deviceModel: options.deviceModel } : {}),
    },
  );
  const expiresAt = runtime.now() + authorization.expiresIn * 1000;
  const channel = chooseChannel(options.channel ?? 'auto', authorization.push);
  const emitter = createEmitter<LoginEvent>(options.onEvent);
  const makeTransport = options.pushTransport ?? defaultPushTransport(options.clientId);
  // The device code is a secret of this closure: never on the returned object, never in an event.
  const deviceCode = authorization.deviceCode;

  const run = async (): Promise<TokenSet> => {
    const emit = emitter.emit;
    emit({
      type: 'code',
      userCode: authorization.userCode,
      verificationUri: authorization.verificationUri,
      ...(authorization.verificationUriComplete ? { verificationUriComplete: authorization.verificationUriComplete } : {}),
      expiresIn: authorization.expiresIn,
      interval: authorization.interval,
      expiresAt,
      channel,
    });
    if (signal?.aborted) throw abortedError(signal);
    const stopPush = new AbortController();
    const wake = createWake(runtime);
    let approvedEmitted = false;
    const pushDone =
      channel === 'poll'
        ? Promise.resolve()
        : runPushChannel({
            transport: makeTransport(channel, authorization.push!, deviceCode),
            runtime,
            signal: signal ? AbortSignal.any([signal, stopPush.signal]) : stopPush.signal,
            emit,
            onOutcome(outcome) {
              if (outcome === 'approved' && !approvedEmitted) {
                approvedEmitted = true;
                emit({ type: 'approved', via: 'push' });
              }
              // The push only says "ask now": the token endpoint stays the one authority, for
              // denial and expiry too, so a forged push message cannot end or fake a login.
              wake.request();
            },
          }).catch(() => undefined);
    try {
      const tokens = await pollForTokens({
        runtime,
        poll: () =>
          requestDeviceToken(
            { tokenEndpoint: metadata.token_endpoint, client, fetch: runtime.fetch, ...(signal ? { signal } : {}) },
            deviceCode,
          ),
        interval: authorization.interval,
        expiresAt,
        wake,
        emit,
        ...(signal ? { signal } : {}),
      });
      if (!approvedEmitted) emit({ type: 'approved', via: 'poll' });
      emit({ type: 'token', tokens });
      return tokens;
    } catch (error) {
      const failure =
        error instanceof DeviceClientError
          ? error
          : new DeviceClientError('server', error instanceof Error ? error.message : String(error), { cause: error });
      if (failure.code === 'access_denied') emit({ type: 'denied' });
      else if (failure.code === 'expired_token') emit({ type: 'expired' });
      else emit({ type: 'error', error: failure, fatal: true });
      throw failure;
    } finally {
      stopPush.abort();
      await pushDone;
    }
  };

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
    metadata,
    qr: qrRenderers(authorization.verificationUriComplete ?? authorization.verificationUri),
    on: emitter.on,
    wait: () => (waiting ??= run()),
  };
}
