import { DeviceClientError, startLogin, type DeviceLogin, type FetchFunction, type WaitChannel } from '@devicegate/device-client';
import type { DeviceProfile } from '../profiles.ts';
import type { ErrorTally } from '../stats.ts';
import type { PushTransports } from './handshakes.ts';
import { EXPECTED_OUTCOME, type FlowOutcome, type ScenarioName } from './scenarios.ts';
import type { ChannelPreference } from '@devicegate/device-client';

export interface DeviceSpec {
  index: number;
  profile: DeviceProfile;
  clientId: string;
  scenario: ScenarioName;
  channel: ChannelPreference;
}

/** One simulated device's flow, as the report keeps it. Times are performance.now() values. */
export interface DeviceResult {
  index: number;
  profile: string;
  scenario: ScenarioName;
  expected: Exclude<FlowOutcome, 'error'>;
  outcome: FlowOutcome;
  /** Where it waited; null when it never got a code. */
  channel: WaitChannel | null;
  /** How it learned of the approval. */
  via: 'push' | 'poll' | null;
  startedAt: number;
  codeShownAt: number | null;
  /** Its push channel was subscribed (first time). */
  subscribedAt: number | null;
  /** The person pressed Approve/Deny. */
  decidedAt: number | null;
  /** The device learned the outcome: the approved event, or the denied/expired end. */
  toldAt: number | null;
  tokenAt: number | null;
  error: string | null;
}

/**
 * Runs one device on the real client library: discovery, device authorization, then waiting on
 * its channel while polling (the library's RFC 8628 rules, untouched). `onCode` is called once
 * the code is on the device's screen, so a person can act on it.
 */
export async function runDevice(
  spec: DeviceSpec,
  dependencies: {
    issuer: string;
    fetch: FetchFunction;
    errors: ErrorTally;
    signal: AbortSignal;
    /** The fleet's push transports (handshakes.ts): the client's own, opened a bounded few at a time. */
    pushTransports?: PushTransports;
    onCode(login: DeviceLogin, result: DeviceResult): void;
  },
): Promise<DeviceResult> {
  const { profile } = spec;
  const result: DeviceResult = {
    index: spec.index,
    profile: profile.name,
    scenario: spec.scenario,
    expected: EXPECTED_OUTCOME[spec.scenario],
    outcome: 'error',
    channel: null,
    via: null,
    startedAt: performance.now(),
    codeShownAt: null,
    subscribedAt: null,
    decidedAt: null,
    toldAt: null,
    tokenAt: null,
    error: null,
  };
  try {
    const login = await startLogin({
      issuer: dependencies.issuer,
      clientId: spec.clientId,
      scope: profile.scope,
      deviceName: profile.deviceName(spec.index),
      deviceModel: profile.deviceModel,
      channel: spec.channel,
      fetch: dependencies.fetch,
      signal: dependencies.signal,
      ...(dependencies.pushTransports ? { pushTransport: dependencies.pushTransports(spec.clientId) } : {}),
      onEvent(event) {
        if (event.type === 'channel' && event.state === 'subscribed') {
          result.subscribedAt ??= performance.now();
        } else if (event.type === 'approved') {
          result.toldAt ??= performance.now();
          result.via = event.via;
        } else if (event.type === 'error' && !event.fatal) {
          // Retried failures (a dropped push connection, a 5xx) cost latency, not the login:
          // still errors in a healthy fleet, so they are counted.
          dependencies.errors.add(`device.${event.error.code}`, event.error.message);
        }
      },
    });
    result.codeShownAt = performance.now();
    result.channel = login.channel;
    dependencies.onCode(login, result);
    await login.wait();
    result.tokenAt = performance.now();
    result.outcome = 'approved';
  } catch (error) {
    const at = performance.now();
    if (error instanceof DeviceClientError && error.code === 'access_denied') {
      result.outcome = 'denied';
      result.toldAt = at;
    } else if (error instanceof DeviceClientError && error.code === 'expired_token') {
      result.outcome = 'expired';
      result.toldAt = at;
    } else {
      const kind = error instanceof DeviceClientError ? error.code : 'internal';
      result.error = `${kind}: ${error instanceof Error ? error.message : String(error)}`;
      // Aborted: the fleet ended this wait (its person failed, or the run's timeout) and has
      // counted that cause already.
      if (kind !== 'aborted') dependencies.errors.add(`device.${kind}`, result.error);
    }
  }
  return result;
}
