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

export type PushMessage =
  | { type: 'pending'; expires_in: number }
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
  | { event: 'error'; error: string; message: string };
