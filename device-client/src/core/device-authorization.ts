import type { PushEndpoints } from '@devicegate/protocol';
import { DeviceClientError } from './errors.ts';
import { describeOAuthError, postForm, type ClientCredentials } from './http.ts';
import type { DpopNonces } from './dpop.ts';
import type { FetchFunction } from './runtime.ts';

/** RFC 8628 §3.2 device authorization response, plus devicegate's `push` member. */
export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  /** Seconds, as the appliance said. */
  expiresIn: number;
  /** Seconds; RFC 8628 §3.2: 5 when the appliance does not say. */
  interval: number;
  push?: PushEndpoints;
}

const DEFAULT_INTERVAL_SECONDS = 5;

export interface DeviceAuthorizationRequest {
  scope?: string;
  /** devicegate extension: shown on the consent page so the person knows which device asks. */
  deviceName?: string;
  deviceModel?: string;
  /** RFC 8707 §2: the API the tokens are for (its resource identifier). */
  resource?: string;
}

/**
 * RFC 8628 §3.1. With `dpopNonces`, a DPoP-Nonce the server sends with the answer (RFC 9449
 * §8.2 allows it on any response) is kept for the first token request, which then needs no
 * use_dpop_nonce round trip.
 */
export async function requestDeviceAuthorization(
  context: { endpoint: string; client: ClientCredentials; fetch: FetchFunction; signal?: AbortSignal; dpopNonces?: DpopNonces },
  request: DeviceAuthorizationRequest,
): Promise<DeviceAuthorization> {
  const outcome = await postForm(
    context.endpoint,
    { scope: request.scope, device_name: request.deviceName, device_model: request.deviceModel, resource: request.resource },
    context.client,
    context,
  );
  context.dpopNonces?.remember(context.endpoint, outcome.headers);
  if (!outcome.ok) {
    throw new DeviceClientError('oauth', `device authorization refused: ${describeOAuthError(outcome)}`, {
      oauthError: outcome.error,
      status: outcome.status,
    });
  }
  return parseDeviceAuthorization(outcome.body);
}

export function parseDeviceAuthorization(body: Record<string, unknown>): DeviceAuthorization {
  const text = (member: string): string => {
    const value = body[member];
    if (typeof value !== 'string' || value === '') {
      throw new DeviceClientError('server', `device authorization response has no ${member}`);
    }
    return value;
  };
  const expiresIn = body.expires_in;
  if (typeof expiresIn !== 'number' || !(expiresIn > 0)) {
    throw new DeviceClientError('server', 'device authorization response has no valid expires_in');
  }
  const interval =
    typeof body.interval === 'number' && body.interval > 0 ? body.interval : DEFAULT_INTERVAL_SECONDS;
  const authorization: DeviceAuthorization = {
    deviceCode: text('device_code'),
    userCode: text('user_code'),
    verificationUri: text('verification_uri'),
    expiresIn,
    interval,
  };
  if (typeof body.verification_uri_complete === 'string') {
    authorization.verificationUriComplete = body.verification_uri_complete;
  }
  const push = parsePush(body.push);
  if (push) authorization.push = push;
  return authorization;
}

/** Ignores anything malformed: a broken `push` member must never break the standard flow. */
function parsePush(value: unknown): PushEndpoints | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const push: PushEndpoints = {};
  const websocket = (value as { websocket?: unknown }).websocket;
  if (typeof websocket === 'string' && /^wss?:\/\//i.test(websocket)) push.websocket = websocket;
  const mqtt = (value as { mqtt?: unknown }).mqtt as { url?: unknown; topic?: unknown; username?: unknown } | undefined;
  if (
    mqtt &&
    typeof mqtt === 'object' &&
    typeof mqtt.url === 'string' &&
    /^(mqtts?|wss?):\/\//i.test(mqtt.url) &&
    typeof mqtt.topic === 'string' &&
    mqtt.topic !== '' &&
    !/[#+]/.test(mqtt.topic)
  ) {
    push.mqtt = { url: mqtt.url, topic: mqtt.topic };
    // The grant's push key: mosquitto's ACL (`pattern read devicegate/grants/%u`) lets a device
    // read the topic its username names, so without it an external broker delivers nothing.
    // mosquitto refuses %u substitution for usernames with + or #; such a username is no push key.
    if (typeof mqtt.username === 'string' && mqtt.username !== '' && !/[#+/]/.test(mqtt.username)) {
      push.mqtt.username = mqtt.username;
    }
  }
  return push.websocket || push.mqtt ? push : undefined;
}
