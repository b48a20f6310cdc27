import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { randomId } from '../secrets.js';
import { connectApplianceClient, type ApplianceBrokerOptions } from './mqtt-connect.js';
import type { EventBus, GrantEvent, GrantEventListener } from './types.js';

/**
 * The internal topic grant events travel on between instances. Devices can never read it: the
 * shipped mosquitto configuration gives them their own grant's topic alone (deploy/mosquitto).
 */
export const BUS_TOPIC = 'devicegate/bus/grant-events';

/** Events that arrived from another instance (for modules that act on local events only). */
const remoteEvents = new WeakSet<GrantEvent>();

/**
 * True for an event another instance published. The external-broker push publisher uses it so
 * only the instance where an approval was committed publishes the device's retained message.
 */
export function isRemoteEvent(event: GrantEvent): boolean {
  return remoteEvents.has(event);
}

interface WireEvent {
  /** The publishing instance, so an instance skips its own echo on brokers without no-local. */
  origin: string;
  event: GrantEvent;
}

const OUTCOMES = new Set(['approved', 'denied', 'expired']);

/** Strict reading of a wire event: anything else on the topic is dropped, never half-trusted. */
function parseWireEvent(payload: Buffer): WireEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return null;
  }
  const wire = value as Partial<WireEvent> | null;
  const event = wire?.event as Partial<GrantEvent> | undefined;
  if (!wire || typeof wire.origin !== 'string' || !event || typeof event !== 'object') return null;
  const { pushKey, deviceGrantId, at } = event;
  if (typeof pushKey !== 'string' || typeof deviceGrantId !== 'string' || typeof at !== 'number') return null;
  if (event.type === 'closed') return { origin: wire.origin, event: { type: 'closed', pushKey, deviceGrantId, at } };
  const outcome = (event as { outcome?: unknown }).outcome;
  if (event.type === 'outcome' && typeof outcome === 'string' && OUTCOMES.has(outcome)) {
    return { origin: wire.origin, event: { type: 'outcome', pushKey, deviceGrantId, outcome: outcome as 'approved', at } };
  }
  return null;
}

/**
 * A bus shared by several appliance instances through the external MQTT broker (issue 8).
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
  const listeners = new Set<GrantEventListener>();
  const client: MqttClient = await connectApplianceClient({ ...options, role: 'bus' });

  function deliver(event: GrantEvent): void {
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (error) {
        logger.error({ err: error }, 'bus listener failed');
      }
    }
  }

  client.on('message', (_topic, payload) => {
    const wire = parseWireEvent(payload);
    if (!wire) {
      logger.warn('dropped a malformed message on the grant event bus');
      return;
    }
    if (wire.origin === origin) return;
    remoteEvents.add(wire.event);
    deliver(wire.event);
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
      deliver(event);
      const wire: WireEvent = { origin, event };
      // Not awaited: the decision is committed and local devices are told; the broker's PUBACK
      // must not hold up the person's approval. mqtt.js keeps QoS 1 messages across reconnects.
      client.publish(topic, JSON.stringify(wire), { qos: 1 }, (error) => {
        if (error) logger.error({ err: error }, 'grant event bus: publish failed');
      });
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      await client.endAsync();
    },
  };
}
