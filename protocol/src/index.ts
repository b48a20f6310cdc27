/**
 * Shapes shared by both ends of devicegate: the appliance (server/) and the device client
 * (device-client/). Defined once here so the two can never drift apart. This package has no
 * dependencies, so the device client stays publishable on its own.
 */

/** The outcome of a device grant as the appliance pushes it. Never carries tokens (RFC 8628 §3.5:
 * the push only tells the device to make one token request now). */
export type GrantOutcome = 'approved' | 'denied' | 'expired';

/** `push` member of the device authorization response: where a device may wait for its outcome. */
export interface PushEndpoints {
  /** ws:// or wss:// URL; the device sends a SubscribeMessage as its first frame. */
  websocket?: string;
  /**
   * MQTT broker URL and the topic of this grant (derived from a hash of the device code). The
   * device connects with username = `username` (the grant's push key; the embedded broker also
   * accepts the client_id) and password = the device code, then subscribes to `topic` alone.
   * `username` is the same on every broker (mosquitto's ACL pattern needs it); see docs/push.md.
   */
  mqtt?: { url: string; topic: string; username?: string };
}

/** First message a device sends on the WebSocket. The device code never travels in a URL. */
export interface SubscribeMessage {
  type: 'subscribe';
  device_code: string;
}

/**
 * First message of a signed-in device on the WebSocket: it keeps a connection for its grant, to be
 * told at once when that grant is revoked (signed out from "My devices", by an admin). The access
 * token it holds authenticates the subscription and names the grant; it travels in the frame,
 * never in a URL (docs/push.md#signed-in-devices).
 */
export interface WatchMessage {
  type: 'watch';
  access_token: string;
}

/**
 * MQTT (embedded broker): a signed-in device connects with this username and its access token as
 * password, then subscribes to SIGNED_IN_TOPIC alone. The broker delivers to that connection only
 * its own grant's sign-out: nobody publishes on the topic, the appliance writes to the session.
 */
export const SIGNED_IN_USERNAME = 'devicegate:access-token';
export const SIGNED_IN_TOPIC = 'devicegate/signed-in';

export type PushMessage =
  | { type: 'pending'; expires_in: number }
  /** WebSocket only: a signed-in device's watch is in place; its grant is active. */
  | { type: 'signed_in' }
  /**
   * The device's grant was revoked: drop the cached tokens now (they are refused already). Like
   * every push message, it carries no token (docs/security.md PUSH-NO-TOKENS).
   */
  | { type: 'revoked' }
  | { type: 'approved' }
  | { type: 'denied' }
  | { type: 'expired' }
  | { type: 'error'; error: string; error_description?: string };

export const PUSH_OUTCOMES: readonly GrantOutcome[] = ['approved', 'denied', 'expired'];

export function isOutcomeMessage(message: PushMessage): message is { type: GrantOutcome } {
  return (PUSH_OUTCOMES as readonly string[]).includes(message.type);
}

/** Parses a push frame (WebSocket text or MQTT payload); returns null for anything malformed. */
export function parsePushMessage(raw: string): PushMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const type = (value as { type?: unknown }).type;
  switch (type) {
    case 'approved':
    case 'denied':
    case 'expired':
    case 'signed_in':
    case 'revoked':
      return { type };
    case 'pending': {
      const expiresIn = (value as { expires_in?: unknown }).expires_in;
      return typeof expiresIn === 'number' ? { type, expires_in: expiresIn } : null;
    }
    case 'error': {
      const error = (value as { error?: unknown }).error;
      const description = (value as { error_description?: unknown }).error_description;
      if (typeof error !== 'string') return null;
      return typeof description === 'string' ? { type, error, error_description: description } : { type, error };
    }
    default:
      return null;
  }
}

/** MQTT topic prefix under which the appliance publishes grant outcomes. */
export const MQTT_TOPIC_PREFIX = 'devicegate/grants/';

/** Discovery metadata members devicegate adds beside RFC 8414's (ignored by standard clients). */
export interface PushDiscoveryMetadata {
  devicegate_push_websocket_endpoint?: string;
  devicegate_push_mqtt_endpoint?: string;
}

/** One JSON line the device CLI prints per event with `--json` (firmware reads these). */
export type DeviceCliEvent =
  | {
      event: 'code';
      user_code: string;
      verification_uri: string;
      verification_uri_complete?: string;
      expires_in: number;
      interval: number;
      channel: 'websocket' | 'mqtt' | 'poll';
    }
  | { event: 'approved' }
  | { event: 'denied' }
  | { event: 'expired' }
  | { event: 'stored'; profile: string; scope?: string; expires_in?: number }
  /** `watch`: the sign-out watch is in place on this channel (again, after a reconnect). */
  | { event: 'watching'; channel: 'websocket' | 'mqtt' }
  /** `watch`: the appliance revoked this device's sign-in; its tokens were dropped. */
  | { event: 'signed_out'; profile: string; reason: 'revoked' | 'refused' }
  | { event: 'error'; error: string; message: string };
