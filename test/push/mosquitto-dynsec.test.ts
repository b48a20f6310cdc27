// Push through a real mosquitto with the dynamic security plugin (push.mqttAuth = dynsec), started
// with the configuration the repo ships (deploy/mosquitto/dynsec), changed only where a test must:
// loopback ports, a temp dir, a throwaway TLS certificate, logs on stderr.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MQTT_TOPIC_PREFIX } from '@devicegate/protocol';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { mosquittoAvailable } from '../support/mosquitto.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { until } from '../support/until.ts';
import { approve, authorizeDevice, connectMqtt, redeem, WAIT_MS, type PushAuthorization } from './push-client.ts';
import { APPLIANCE_USERNAME, dynsecConfiguration, opensslAvailable, startShippedMosquitto, type ShippedMosquitto } from './shipped-mosquitto.ts';

const pluginPath = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';
const skip =
  skipWithoutRealPart('mosquitto', mosquittoAvailable()) ||
  skipWithoutRealPart('openssl', opensslAvailable()) ||
  skipWithoutRealPart('mosquitto dynamic security plugin', existsSync(pluginPath) && existsSync('/usr/bin/mosquitto_ctrl'));

/**
 * Reads the plugin's file, which it rewrites after every change: the broker clients it holds.
 * Debian's mosquitto truncates and rewrites the file in place, so a read can catch it empty or
 * half written; such a read is retried (bounded), a file that stays unreadable fails the test.
 */
async function brokerClients(mosquitto: ShippedMosquitto): Promise<string[]> {
  const file = path.join(mosquitto.broker.dir, 'dynamic-security.json');
  for (let attempt = 1; ; attempt++) {
    try {
      const config = JSON.parse(readFileSync(file, 'utf8')) as { clients: Array<{ username: string }> };
      return config.clients.map((client) => client.username);
    } catch (error) {
      if (!(error instanceof SyntaxError) || attempt === 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

const versions = [
  { protocolVersion: 4 as const, name: '3.1.1', refused: 0x80 },
  { protocolVersion: 5 as const, name: '5', refused: 0x87 },
];

describe('push through mosquitto with dynamic security (push.mqttAuth = dynsec)', { skip }, () => {
  let mosquitto: ShippedMosquitto;
  let dg: TestAppliance;

  function applianceOverrides() {
    return {
      sweepInterval: 1,
      push: {
        mqttUrl: mosquitto.applianceUrl,
        mqttUsername: APPLIANCE_USERNAME,
        mqttPassword: mosquitto.appliancePassword,
        mqttPublicUrl: mosquitto.deviceUrl,
        mqttAuth: 'dynsec' as const,
        // Generous here so no test depends on the broker's speed; the default is 1 s.
        mqttAuthWait: 10_000,
      },
    };
  }

  /** Bounded wait until the plugin's file shows (or no longer shows) a broker client. */
  function untilBrokerClient(username: string, present: boolean): Promise<void> {
    const what = `the broker client ${username} to be ${present ? 'created' : 'deleted'}`;
    return until(async () => (await brokerClients(mosquitto)).includes(username) === present, WAIT_MS, what);
  }

  function connectDevice(authorization: PushAuthorization, options: { password?: string; protocolVersion?: 4 | 5 } = {}) {
    return connectMqtt(authorization.push.mqtt!.url, {
      username: authorization.push.mqtt!.username,
      password: options.password ?? authorization.device_code,
      protocolVersion: options.protocolVersion ?? 4,
      ca: mosquitto.ca,
    });
  }

  before(async () => {
    mosquitto = await startShippedMosquitto(dynsecConfiguration);
    dg = await startTestAppliance({ overrides: applianceOverrides() });
    await dg.addClient({ clientId: 'short-lived-tv', deviceCodeLifetime: 2 });
  });
  after(async () => {
    await dg?.stop();
    await mosquitto?.broker.stop();
  });

  for (const { protocolVersion, name } of versions) {
    test(`a waiting device learns of the approval over MQTT ${name}, then redeems its code`, async () => {
      const authorization = await authorizeDevice(dg);
      const device = await connectDevice(authorization, { protocolVersion });
      assert.deepEqual(await device.subscribe(authorization.push.mqtt!.topic), [1]);
      await approve(dg, authorization);
      await device.next(authorization.push.mqtt!.topic, 'approved');
      await redeem(dg, authorization);
      await device.end();
    });
  }

  for (const { protocolVersion, name } of versions) {
    test(`a wrong device code is refused at CONNECT (MQTT ${name})`, async () => {
      const authorization = await authorizeDevice(dg);
      // CONNACK 5 "not authorized" (3.1.1) and 0x87 "not authorized" (5).
      const expected = protocolVersion === 4 ? 5 : 0x87;
      await assert.rejects(connectDevice(authorization, { password: 'wrong-device-code', protocolVersion }), (error: Error & { code?: number }) => error.code === expected);
    });
  }

  for (const { protocolVersion, name, refused } of versions) {
    test(`wildcard and foreign-topic subscriptions are refused in SUBACK (MQTT ${name})`, async () => {
      const victim = await authorizeDevice(dg);
      const attacker = await authorizeDevice(dg);
      const device = await connectDevice(attacker, { protocolVersion });
      for (const topic of ['#', `${MQTT_TOPIC_PREFIX}+`, `${MQTT_TOPIC_PREFIX}#`, victim.push.mqtt!.topic]) {
        assert.deepEqual(await device.subscribe(topic), [refused], `subscription to ${topic} is refused`);
      }
      assert.deepEqual(await device.subscribe(attacker.push.mqtt!.topic), [1], 'its own topic is allowed');
      await approve(dg, victim);
      await approve(dg, attacker);
      await device.next(attacker.push.mqtt!.topic, 'approved');
      assert.deepEqual(new Set(device.received.map((message) => message.topic)), new Set([attacker.push.mqtt!.topic]));
      await device.end();
    });
  }

  test('a device may not publish, not even to its own topic', async () => {
    const authorization = await authorizeDevice(dg);
    const forger = await connectDevice(authorization, { protocolVersion: 5 });
    await assert.rejects(
      forger.client.publishAsync(authorization.push.mqtt!.topic, JSON.stringify({ type: 'approved' }), { qos: 1, retain: true }),
      (error: Error & { code?: number }) => error.code === 135,
    );
    await forger.end();
  });

  test('expiry arrives', async () => {
    const authorization = await authorizeDevice(dg, 'short-lived-tv');
    const device = await connectDevice(authorization);
    await device.subscribe(authorization.push.mqtt!.topic);
    await device.next(authorization.push.mqtt!.topic, 'expired');
    await device.end();
  });

  test("the grant's broker client is deleted once the code is redeemed, and the code no longer connects", async () => {
    const authorization = await authorizeDevice(dg);
    assert.ok((await brokerClients(mosquitto)).includes(authorization.push.mqtt!.username!), 'created at device authorization');
    await approve(dg, authorization);
    await redeem(dg, authorization);
    // Deletion is a control message after redemption: bounded wait for the plugin to apply it.
    await untilBrokerClient(authorization.push.mqtt!.username!, false);
    await assert.rejects(connectDevice(authorization), (error: Error & { code?: number }) => error.code === 5);
  });

  test('a broker client left behind by a killed instance goes once its grant has expired; live ones stay', async () => {
    const live = await authorizeDevice(dg);
    // What an instance killed before its grant closed leaves on the broker, the grant long expired,
    // made here as that instance made it (through the plugin's control topic, as its admin).
    const leftover = `leftover${randomBytes(8).toString('hex')}`;
    const admin = await connectMqtt(mosquitto.applianceUrl, { username: APPLIANCE_USERNAME, password: mosquitto.appliancePassword });
    const topic = `${MQTT_TOPIC_PREFIX}${leftover}`;
    await admin.client.publishAsync(
      '$CONTROL/dynamic-security/v1',
      JSON.stringify({
        commands: [
          {
            command: 'createRole',
            rolename: `grant-${leftover}`,
            textdescription: `expires-at:${Date.now() - 60_000}`,
            acls: [{ acltype: 'subscribeLiteral', topic, allow: true }],
          },
          { command: 'createClient', username: leftover, password: randomBytes(16).toString('hex'), roles: [{ rolename: `grant-${leftover}` }] },
        ],
      }),
      { qos: 1 },
    );
    await admin.end();
    await untilBrokerClient(leftover, true);

    // Any instance sweeps the broker when it starts (and every few minutes after).
    const second = await startTestAppliance({ overrides: applianceOverrides() });
    try {
      await untilBrokerClient(leftover, false);
      assert.ok((await brokerClients(mosquitto)).includes(live.push.mqtt!.username!), "a live grant's broker client stays");
    } finally {
      await second.stop();
    }
  });
});
