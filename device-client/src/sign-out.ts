import { discover } from './core/discovery.ts';
import { DeviceClientError, oneLine } from './core/errors.ts';
import type { PushChannel } from './core/events.ts';
import { signedInMqttTransport } from './push/mqtt.ts';
import { PushRefusedError, type PushTransport } from './core/push/transport.ts';
import type { PushTls } from './push/tls.ts';
import { signedInWebSocketTransport } from './push/websocket.ts';
import { backoffDelay, resolveRuntime, type Runtime } from './core/runtime.ts';
import type { Session } from './session.ts';
import type { SignedOutRecord, TokenStore } from './store/token-store.ts';

export type { SignedOutRecord };

const RETRY_BASE_MS = 1_000;
const RETRY_CAP_MS = 30_000;


/**
 * Drops a profile's tokens at once, keeping who it was signed in to and why it no longer is, so
 * no later call hands out a token the appliance has revoked. The DPoP key goes too: it bound the
 * revoked tokens only.
 */
export async function dropTokens(store: TokenStore, profile: string, reason: SignedOutRecord['reason'], now: number): Promise<void> {
  await store.withLock(profile, async () => {
    const record = await store.load(profile).catch(() => null);
    if (!record) return;
    const { dpop: _dpop, ...kept } = record;
    await store.save(profile, { ...kept, tokens: {}, signedOut: { at: now, reason } satisfies SignedOutRecord, savedAt: now });
  });
}

export interface WatchSignOutOptions extends Partial<Runtime> {
  /** Which channel to keep (default: the WebSocket when the appliance offers it, else MQTT). */
  channel?: PushChannel;
  signal?: AbortSignal;
  tls?: PushTls;
  /** Called when the watch is in place (again, after a reconnect). */
  onWatching?(channel: PushChannel): void;
  /** Called for each failure that is retried (a lost connection). */
  onRetry?(error: DeviceClientError, delayMs: number): void;
}

/**
 * Keeps a signed-in device connected to push for its grant (docs/push.md#signed-in-devices) until
 * the appliance says the grant is revoked (signed out from "My devices", by an admin) or `signal`
 * aborts. On `revoked`, the profile's tokens are dropped before this resolves, so `token` never
 * prints one again. The watch is authenticated by the current access token (refreshed first when
 * needed); a refusal of it is checked with a refresh, and a refused refresh signs the device out
 * too. Lost connections are retried with backoff and jitter.
 */
export async function watchSignOut(session: Session, options: WatchSignOutOptions = {}): Promise<{ signedOut: boolean; reason?: SignedOutRecord['reason'] }> {
  const runtime = resolveRuntime(options);
  const signal = options.signal ?? new AbortController().signal;
  let failures = 0;
  while (!signal.aborted) {
    let accessToken: string;
    try {
      accessToken = await session.getAccessToken();
    } catch (error) {
      if (error instanceof DeviceClientError && error.code === 'not_logged_in') {
        const record = await session.store.load(session.profile).catch(() => null);
        const signedOut = record?.signedOut as SignedOutRecord | undefined;
        return signedOut ? { signedOut: true, reason: signedOut.reason } : { signedOut: false };
      }
      if (!(error instanceof DeviceClientError) || !error.retryable) throw error;
      failures += 1;
      const delayMs = backoffDelay(failures, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS, random: runtime.random });
      options.onRetry?.(error, delayMs);
      await runtime.sleep(delayMs, signal);
      continue;
    }
    const record = await session.store.load(session.profile);
    if (!record) return { signedOut: false };
    const metadata = await discover(record.issuer, { fetch: runtime.fetch, signal });
    const transport = transportFor(metadata, accessToken, options);
    let revoked = false;
    const connection = new AbortController();
    const stop = () => connection.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await transport.listen(
        {
          onSubscribed() {
            failures = 0;
            options.onWatching?.(transport.channel);
          },
          onMessage(message) {
            if (message.type !== 'revoked') return;
            revoked = true;
            connection.abort();
          },
        },
        connection.signal,
      );
      if (revoked) {
        await dropTokens(session.store, session.profile, 'revoked', runtime.now());
        return { signedOut: true, reason: 'revoked' };
      }
      if (signal.aborted) return { signedOut: false };
      failures += 1;
    } catch (error) {
      if (signal.aborted) return { signedOut: false };
      if (error instanceof PushRefusedError) {
        // The appliance no longer takes this access token: revoked, or expired in between. A
        // refresh tells which; a refused refresh drops the tokens (session.ts).
        await session.store.withLock(session.profile, async () => {
          const current = await session.store.load(session.profile);
          if (current?.tokens.accessToken === accessToken) await session.store.save(session.profile, { ...current, tokens: { ...current.tokens, expiresAt: 0 } });
        });
        failures += 1;
        if (failures > 3) throw new DeviceClientError('push', `sign-out watch: ${oneLine(error.message)}`);
        continue;
      }
      failures += 1;
      const delayMs = backoffDelay(failures, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS, random: runtime.random });
      options.onRetry?.(new DeviceClientError('push', `${transport.channel} push: ${oneLine(error instanceof Error ? error.message : String(error))}`), delayMs);
      await runtime.sleep(delayMs, signal);
      continue;
    } finally {
      signal.removeEventListener('abort', stop);
    }
    const delayMs = backoffDelay(failures, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS, random: runtime.random });
    await runtime.sleep(delayMs, signal);
  }
  return { signedOut: false };
}

function transportFor(
  metadata: { devicegate_push_websocket_endpoint?: string; devicegate_push_mqtt_endpoint?: string },
  accessToken: string,
  options: WatchSignOutOptions,
): PushTransport {
  const websocket = metadata.devicegate_push_websocket_endpoint;
  const mqtt = metadata.devicegate_push_mqtt_endpoint;
  const channel = options.channel ?? (websocket ? 'websocket' : 'mqtt');
  if (channel === 'websocket' && websocket) return signedInWebSocketTransport(websocket, accessToken, options.tls);
  if (channel === 'mqtt' && mqtt) return signedInMqttTransport(mqtt, accessToken, options.tls);
  throw new DeviceClientError('usage', `the appliance offers no ${channel} push channel to watch for sign-out`);
}
