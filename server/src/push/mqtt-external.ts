import type { MqttClient } from 'mqtt';
import { isRemoteEvent } from '../bus/wire.ts';
import { connectApplianceClient, redactUrl } from '../bus/mqtt-connect.ts';
import type { AppContext } from '../context.ts';
import type { ApplianceModule } from '../modules.ts';
import { mqttDeviceUrl, mqttEndpoint } from './endpoints.ts';
import { createDynsecAccounts } from './mqtt-dynsec.ts';
import { createMqttOutcomes, type BrokerPublisher } from './mqtt-outcomes.ts';

/**
 * Push through an external broker (mosquitto, EMQX, HiveMQ) instead of the embedded one. The
 * appliance connects as its privileged publisher (push.mqttUsername / push.mqttPassword) and
 * publishes each outcome retained, QoS 1, with an MQTT 5 message expiry; the broker's own ACL
 * keeps each device to its grant's topic (deploy/mosquitto). Only the instance where an event
 * happened publishes it: the broker is shared, so one retained message serves every device.
 */
export function createExternalMqttModule(context: AppContext): ApplianceModule {
  const { store, clock, bus, logger, config } = context;
  const url = config.push.mqttUrl!;
  let client: MqttClient | undefined;
  let unsubscribe: (() => void) | undefined;

  const publisher: BrokerPublisher = {
    async publishRetained(topic, payload, expirySeconds) {
      await client?.publishAsync(topic, payload, { qos: 1, retain: true, properties: { messageExpiryInterval: expirySeconds } });
    },
    async clearRetained(topic) {
      await client?.publishAsync(topic, '', { qos: 1, retain: true });
    },
  };
  const outcomes = createMqttOutcomes({ publisher, store, clock, logger, expiredRetentionSeconds: config.sweepRetention, metrics: context.metrics, channel: 'mqtt-external' });
  const deviceUrl = mqttDeviceUrl(config);
  // push.mqttAuth = dynsec: a broker client per grant on mosquitto's dynamic security plugin.
  const accounts =
    config.push.mqttAuth === 'dynsec' ? createDynsecAccounts({ client: () => client, clock, logger, waitMs: config.push.mqttAuthWait }) : undefined;

  return {
    name: 'push-mqtt-external',
    metadata: () => ({ devicegate_push_mqtt_endpoint: deviceUrl }),
    pushEndpoints: (pushKey) => ({ mqtt: mqttEndpoint(deviceUrl, pushKey) }),
    // The grant's broker account exists before the device is told where to connect.
    ...(accounts ? { onDeviceAuthorized: (grant) => accounts.addGrant(grant.pushKey, grant.deviceCode, grant.expiresAt) } : {}),
    async start() {
      client = await connectApplianceClient({ url, username: config.push.mqttUsername, password: config.push.mqttPassword, role: 'push' });
      client.on('error', (error) => logger.error({ err: error, broker: redactUrl(url) }, 'push broker error'));
      if (accounts) {
        await accounts.attach(client);
        await accounts.prepareBroker();
        accounts.start();
      }
      unsubscribe = bus.subscribe((event) => {
        if (isRemoteEvent(event)) return;
        void outcomes.handle(event);
        // Redeemed, or decided and expired unredeemed (the expiry scheduler closes those): the
        // grant's broker client goes; a pending one that expired goes once its device is told.
        if (accounts && event.type === 'closed') {
          void accounts.removeGrant(event.pushKey).catch((error: unknown) => logger.error({ err: error }, 'deleting a grant broker client failed'));
        }
        if (accounts && event.type === 'outcome' && event.outcome === 'expired') accounts.removeGrantSoon(event.pushKey);
      });
      outcomes.start();
    },
    // Devices are told to wait on this broker: while the appliance cannot publish there, it is
    // not serving (mqtt.js reconnects on its own).
    ready: () => client?.connected === true,
    async stop() {
      unsubscribe?.();
      outcomes.stop();
      accounts?.stop();
      await client?.endAsync();
    },
  };
}
