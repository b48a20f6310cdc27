import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { randomId } from '../secrets.ts';
import { connectApplianceClient, type ApplianceBrokerOptions } from './mqtt-connect.ts';
import { createListeners } from './listeners.ts';
import type { EventBus } from './types.ts';
import { encodeWireEvent, markRemoteEvent, parseWireEvent, type WireEvent } from './wire.ts';

/**
 * The internal topic grant events travel on between instances. Devices can never read it: the
 * shipped mosquitto configuration gives them their own grant's topic alone (deploy/mosquitto).
 */
export const BUS_TOPIC = 'devicegate/bus/grant-events';

/**
 * A bus shared by several appliance instances through the external MQTT broker.
 * Local listeners hear an event at once, in publish order, as on the in-process bus; the event
 * also goes to the broker (QoS 1) and every other instance delivers it to its own listeners, so
 * an approval on one instance reaches a device waiting on another. Events are published by the
 * services only after the store has committed them. Delivery between instances is at least once
 * in the common case and best effort across a broker outage: a device that misses a push still
 * learns the outcome by polling (RFC 8628 §3.4), which stays the fallback.
 */
export async function createMqttBus(options: Omit<ApplianceBrokerOptions, 'role'> & { logger: Logger; topic?: string }): Promise<EventBus> {
  const { logger } = options;
  const topic = options.topic ?? BUS_TOPIC;
  const origin = randomId();
  const listeners = createListeners((error) => logger.error({ err: error }, 'bus listener failed'));
  const client: MqttClient = await connectApplianceClient({ ...options, role: 'bus' });

  client.on('message', (_topic, payload) => {
    const wire = parseWireEvent(payload);
    if (!wire) {
      logger.warn('dropped a malformed message on the grant event bus');
      return;
    }
    if (wire.origin === origin) return;
    listeners.deliver(markRemoteEvent(wire.event));
  });
  client.on('error', (error) => logger.error({ err: error }, 'grant event bus: broker error'));
  client.on('offline', () => logger.warn('grant event bus: broker unreachable, reconnecting'));

  // MQTT 5 no-local (§3.8.3.1): the broker does not echo our own events back. With a clean session
  // the subscription is lost on reconnect, so it is made again on every connect.
  const subscribeBus = () =>
    client.subscribe(topic, { qos: 1, nl: true }, (error) => {
      if (error) logger.error({ err: error }, 'grant event bus: subscription refused');
    });
  const granted = await client.subscribeAsync(topic, { qos: 1, nl: true });
  if (granted.some((grant) => grant.qos >= 0x80)) {
    await client.endAsync(true);
    throw new Error(`the MQTT broker refused the appliance's subscription to ${topic}: check its ACL (deploy/mosquitto)`);
  }
  client.on('connect', (connack) => {
    if (!connack.sessionPresent) subscribeBus();
  });

  return {
    async publish(event) {
      listeners.deliver(event);
      const wire: WireEvent = { origin, event };
      // Not awaited: the decision is committed and local devices are told; the broker's PUBACK
      // must not hold up the person's approval. mqtt.js keeps QoS 1 messages across reconnects.
      client.publish(topic, encodeWireEvent(wire), { qos: 1 }, (error) => {
        if (error) logger.error({ err: error }, 'grant event bus: publish failed');
      });
    },
    subscribe: listeners.subscribe,
    async close() {
      listeners.clear();
      await client.endAsync();
    },
  };
}
