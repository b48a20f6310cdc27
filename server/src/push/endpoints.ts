import { MQTT_TOPIC_PREFIX, type PushEndpoints } from '@devicegate/protocol';
import type { Config } from '../config.ts';
import { paths } from '../endpoints/paths.ts';

/**
 * Where a device waits for the outcome of its grant, derived from the configuration alone so
 * every instance behind one name advertises the same places. Each push channel module gives its
 * part of the device authorization response's `push` object from these (modules.ts
 * `pushEndpoints`), and discovery advertises the URLs (ignored by standard clients).
 */

/** The MQTT topic of one grant: the prefix and the grant's push key (one-way from its device code). */
export function grantTopic(pushKey: string): string {
  return `${MQTT_TOPIC_PREFIX}${pushKey}`;
}

/** ws:// beside http://, wss:// beside https://: the WebSocket lives on the issuer's host. */
export function websocketUrl(config: Config): string {
  return `${config.issuer.replace(/^http/, 'ws')}${paths.pushWebSocket}`;
}

/**
 * The broker URL devices are told: `mqttPublicUrl` when set (a TLS proxy, another listener of
 * the external broker, a public name), else the external broker's URL, else the embedded broker.
 * For mosquitto with the shipped configuration, devices use the device listener, not the
 * appliance's own: set `mqttPublicUrl` to it.
 */
export function mqttDeviceUrl(config: Config): string {
  const { mqttPublicUrl, mqttUrl, mqttHost, mqttPort } = config.push;
  if (mqttPublicUrl) return mqttPublicUrl;
  if (mqttUrl) return mqttUrl;
  const host = mqttHost.includes(':') ? `[${mqttHost}]` : mqttHost;
  return `mqtt://${host}:${mqttPort}`;
}

/**
 * A grant's MQTT endpoint, the same on every broker: the username is the push key, so one rule
 * serves the embedded broker and mosquitto alike (docs/push.md: mosquitto's ACL pattern
 * `devicegate/grants/%u` needs it); the password is the device code.
 */
export function mqttEndpoint(deviceUrl: string, pushKey: string): NonNullable<PushEndpoints['mqtt']> {
  return { url: deviceUrl, topic: grantTopic(pushKey), username: pushKey };
}
