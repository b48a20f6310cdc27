/**
 * The wait of a device sign-in (RFC 8628 §3.4-3.5), the same for every runtime: push (when a
 * transport is given) wakes the poll loop, the token endpoint stays the one authority, and the
 * outcome is told as events. The Node login (../login.ts) and the browser one
 * (../browser/sign-in.ts) differ only in the transport, the key and where tokens are kept.
 */
import type { PushEndpoints } from '@devicegate/protocol';
import type { DeviceAuthorization } from './device-authorization.ts';
import type { AuthorizationServerMetadata } from './discovery.ts';
import type { DpopContext } from './dpop.ts';
import { abortedError, DeviceClientError } from './errors.ts';
import type { LoginEvent, WaitChannel } from './events.ts';
import type { ClientCredentials } from './http.ts';
import { createWake, pollForTokens } from './poll.ts';
import { runPushChannel } from './push/runner.ts';
import type { PushTransport } from './push/transport.ts';
import type { Runtime } from './runtime.ts';
import { requestDeviceToken, type TokenSet } from './tokens.ts';

export type ChannelPreference = 'auto' | WaitChannel;

export function chooseChannel(preference: ChannelPreference, push: PushEndpoints | undefined): WaitChannel {
  if (preference === 'poll') return 'poll';
  if (preference === 'auto') return push?.websocket ? 'websocket' : push?.mqtt ? 'mqtt' : 'poll';
  if (!push?.[preference]) {
    throw new DeviceClientError('push', `the appliance offers no ${preference} push channel for this login`);
  }
  return preference;
}

export interface WaitOptions {
  runtime: Runtime;
  metadata: AuthorizationServerMetadata;
  client: ClientCredentials;
  authorization: DeviceAuthorization;
  /** Epoch ms on this device's clock. */
  expiresAt: number;
  channel: WaitChannel;
  /** The push channel's transport; absent when waiting by polling alone. */
  transport?: PushTransport;
  dpop?: DpopContext;
  emit: (event: LoginEvent) => void;
  signal?: AbortSignal;
  /** For the message when a DPoP-only client meets a device that sent no proof. */
  dpopTurnedOff?: boolean;
}

export async function waitForTokens(options: WaitOptions): Promise<TokenSet> {
  const { runtime, metadata, client, authorization, expiresAt, channel, dpop, emit, signal } = options;
  // The device code is a secret of this closure: never in an event.
  const deviceCode = authorization.deviceCode;
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
  const pushDone = !options.transport
    ? Promise.resolve()
    : runPushChannel({
        transport: options.transport,
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
          { tokenEndpoint: metadata.token_endpoint, client, fetch: runtime.fetch, ...(signal ? { signal } : {}), ...(dpop ? { dpop } : {}) },
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
    let failure =
      error instanceof DeviceClientError
        ? error
        : new DeviceClientError('server', error instanceof Error ? error.message : String(error), { cause: error });
    if (failure.oauthError === 'invalid_dpop_proof' && !dpop) {
      // A client registered as "DPoP required", and this device sent no proof: say what to change.
      failure = new DeviceClientError(
        'oauth',
        `the appliance requires DPoP for client ${client.clientId}, and DPoP is ${options.dpopTurnedOff ? 'turned off here (dpop: false, --no-dpop)' : 'not advertised in its discovery'} (${failure.message})`,
        { oauthError: failure.oauthError, ...(failure.status !== undefined ? { status: failure.status } : {}) },
      );
    }
    if (failure.code === 'access_denied') emit({ type: 'denied' });
    else if (failure.code === 'expired_token') emit({ type: 'expired' });
    else emit({ type: 'error', error: failure, fatal: true });
    throw failure;
  } finally {
    stopPush.abort();
    await pushDone;
  }
}
