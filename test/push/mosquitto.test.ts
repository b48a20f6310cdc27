import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MQTT_TOPIC_PREFIX } from '@devicegate/protocol';
import type { ConfigInput } from '@devicegate/server';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { mosquittoAvailable } from '../support/mosquitto.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { approve, authorizeDevice, connectionClosed, connectMqtt, deny, openWebSocket, redeem, type PushAuthorization } from './push-client.ts';
import { APPLIANCE_USERNAME, opensslAvailable, startShippedMosquitto, type ShippedMosquitto } from './shipped-mosquitto.ts';

const skip = skipWithoutRealPart('mosquitto', mosquittoAvailable()) || skipWithoutRealPart('openssl', opensslAvailable());

function applianceOverrides(mosquitto: ShippedMosquitto): ConfigInput {
  return {
    // The sweeper reports expiry on this path: the appliance does not see subscriptions.
    sweepInterval: 1,
    push: {
      mqttUrl: mosquitto.applianceUrl,
      mqttUsername: APPLIANCE_USERNAME,
      mqttPassword: mosquitto.appliancePassword,
      mqttPublicUrl: mosquitto.deviceUrl,
    },
  };
}

describe('push through mosquitto with the shipped configuration', { skip }, () => {
  let mosquitto: ShippedMosquitto;
  let dg: TestAppliance;

  /** A device as docs/push.md describes it: TLS, username = push.mqtt.username, password = device code. */
  function connectDevice(authorization: PushAuthorization, options: { username?: string; protocolVersion?: 4 | 5; url?: string } = {}) {
    return connectMqtt(options.url ?? authorization.push.mqtt!.url, {
      username: options.username ?? authorization.push.mqtt!.username,
      password: authorization.device_code,
      protocolVersion: options.protocolVersion ?? 4,
      ca: mosquitto.ca,
    });
  }

  before(async () => {
    mosquitto = await startShippedMosquitto();
    dg = await startTestAppliance({ overrides: applianceOverrides(mosquitto) });
    await dg.addClient({ clientId: 'short-lived-tv', deviceCodeLifetime: 2 });
  });
  after(async () => {
    await dg?.stop();
    await mosquitto?.stop();
  });

  test('devices are told the device listener, and the broker runs no embedded copy', async () => {
    const authorization = await authorizeDevice(dg);
    assert.equal(authorization.push.mqtt!.url, mosquitto.deviceUrl);
    assert.equal(authorization.push.mqtt!.topic, `${MQTT_TOPIC_PREFIX}${authorization.push.mqtt!.username}`);
    const metadata = await (await fetch(`${dg.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(metadata.devicegate_push_mqtt_endpoint, mosquitto.deviceUrl);
  });

  for (const protocolVersion of [4, 5] as const) {
    test(`a waiting device learns of the approval over MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}, then redeems its code`, async () => {
      const authorization = await authorizeDevice(dg);
      const device = await connectDevice(authorization, { protocolVersion });
      assert.deepEqual(await device.subscribe(authorization.push.mqtt!.topic), [1]);
      await approve(dg, authorization);
      await device.next(authorization.push.mqtt!.topic, 'approved');
      await redeem(dg, authorization);
      await device.end();
    });
  }

  test('the outcome carries an MQTT 5 message expiry', async () => {
    const authorization = await authorizeDevice(dg);
    await approve(dg, authorization);
    const device = await connectDevice(authorization, { protocolVersion: 5 });
    await device.subscribe(authorization.push.mqtt!.topic);
    await device.next(authorization.push.mqtt!.topic, 'approved');
    const expiry = device.received[0]!.properties?.messageExpiryInterval;
    assert.ok(typeof expiry === 'number' && expiry > 0 && expiry <= authorization.expires_in, `message expiry ${expiry}`);
    assert.equal(device.received[0]!.retain, true);
    await device.end();
  });

  for (const protocolVersion of [4, 5] as const) {
    test(`wildcard and foreign-topic subscriptions deliver nothing of another grant (MQTT ${protocolVersion === 4 ? '3.1.1' : '5'})`, async () => {
      const victim = await authorizeDevice(dg);
      const attacker = await authorizeDevice(dg);
      const device = await connectDevice(attacker, { protocolVersion });
      // mosquitto's acl_file checks reads at delivery, not in SUBACK (docs/push.md): the device
      // subscribes to everything that could match the victim's topic, and to its own.
      for (const topic of ['#', `${MQTT_TOPIC_PREFIX}+`, `${MQTT_TOPIC_PREFIX}#`, victim.push.mqtt!.topic, attacker.push.mqtt!.topic]) {
        await device.subscribe(topic);
      }
      await approve(dg, victim);
      await approve(dg, attacker);
      // One client's messages arrive in publish order: once its own outcome is here, the
      // victim's, published before it, would have been too.
      await device.next(attacker.push.mqtt!.topic, 'approved');
      assert.deepEqual(new Set(device.received.map((message) => message.topic)), new Set([attacker.push.mqtt!.topic]));
      await device.end();
    });
  }

  test('a wrong device code cannot read the grant: its username (push key) names another topic', async () => {
    const authorization = await authorizeDevice(dg);
    const other = await authorizeDevice(dg);
    // Someone with another device code (so another push key) subscribes to this grant's topic.
    const device = await connectDevice(other);
    await device.subscribe(authorization.push.mqtt!.topic);
    await device.subscribe(other.push.mqtt!.topic);
    await approve(dg, authorization);
    await deny(dg, other);
    await device.next(other.push.mqtt!.topic, 'denied');
    assert.deepEqual(device.received.map((message) => message.topic), [other.push.mqtt!.topic]);
    await device.end();
  });

  test('a device cannot use the appliance listener', async () => {
    const authorization = await authorizeDevice(dg);
    await assert.rejects(
      connectMqtt(mosquitto.applianceUrl, { username: authorization.push.mqtt!.username, password: authorization.device_code }),
      (error: Error & { code?: number }) => error.code === 5,
    );
    await assert.rejects(
      connectMqtt(mosquitto.applianceUrl, { username: APPLIANCE_USERNAME, password: authorization.device_code }),
      (error: Error & { code?: number }) => error.code === 5,
    );
  });

  test('a device may not publish, not even to its own topic', async () => {
    const authorization = await authorizeDevice(dg);
    const listener = await connectDevice(authorization);
    await listener.subscribe(authorization.push.mqtt!.topic);
    const forger = await connectDevice(authorization, { protocolVersion: 5 });
    await assert.rejects(
      forger.client.publishAsync(authorization.push.mqtt!.topic, JSON.stringify({ type: 'approved' }), { qos: 1, retain: true }),
      (error: Error & { code?: number }) => error.code === 135, // MQTT 5 PUBACK: not authorized
    );
    await deny(dg, authorization);
    await listener.next(authorization.push.mqtt!.topic, 'denied');
    assert.deepEqual(listener.received.map((message) => message.payload), [JSON.stringify({ type: 'denied' })]);
    await Promise.all([listener.end(), forger.end()]);
  });

  test('a late subscriber gets the retained outcome', async () => {
    const authorization = await authorizeDevice(dg);
    await deny(dg, authorization);
    const device = await connectDevice(authorization);
    await device.subscribe(authorization.push.mqtt!.topic);
    await device.next(authorization.push.mqtt!.topic, 'denied');
    assert.equal(device.received[0]!.retain, true);
    await device.end();
  });

  test('expiry arrives', async () => {
    const authorization = await authorizeDevice(dg, 'short-lived-tv');
    const device = await connectDevice(authorization);
    await device.subscribe(authorization.push.mqtt!.topic);
    await device.next(authorization.push.mqtt!.topic, 'expired');
    await device.end();
  });

  test('a device whose connection drops reconnects and still learns the outcome', async () => {
    const authorization = await authorizeDevice(dg);
    const first = await connectDevice(authorization);
    await first.subscribe(authorization.push.mqtt!.topic);
    first.client.stream.destroy();
    await connectionClosed(first.client);
    await approve(dg, authorization);
    const again = await connectDevice(authorization);
    await again.subscribe(authorization.push.mqtt!.topic);
    await again.next(authorization.push.mqtt!.topic, 'approved');
    await redeem(dg, authorization);
    await again.end();
  });

  test('the retained outcome is cleared once the code is redeemed', async () => {
    const authorization = await authorizeDevice(dg);
    const device = await connectDevice(authorization);
    await device.subscribe(authorization.push.mqtt!.topic);
    await approve(dg, authorization);
    await device.next(authorization.push.mqtt!.topic, 'approved');
    await redeem(dg, authorization);
    assert.equal(await device.nextRaw(authorization.push.mqtt!.topic, (payload) => payload === ''), '');
    await device.end();
  });
});

describe('two appliance instances sharing mosquitto as their bus', { skip }, () => {
  let mosquitto: ShippedMosquitto;
  let dataDir: string;
  let first: TestAppliance;
  let second: TestAppliance;

  before(async () => {
    mosquitto = await startShippedMosquitto();
    // One state (the same SQLite file stands in for PostgreSQL here), two instances, one broker.
    dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-two-'));
    first = await startTestAppliance({ dataDir, overrides: applianceOverrides(mosquitto) });
    second = await startTestAppliance({ dataDir, overrides: applianceOverrides(mosquitto) });
  });
  after(async () => {
    await second?.stop();
    await first?.stop();
    await mosquitto?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('an approval on one instance reaches a WebSocket held by the other, and MQTT once', async () => {
    const authorization = await authorizeDevice(first);
    const onSecond = await openWebSocket(`${second.issuer.replace(/^http/, 'ws')}/push`, { deviceCode: authorization.device_code });
    await onSecond.next('pending');
    const device = await connectMqtt(authorization.push.mqtt!.url, {
      username: authorization.push.mqtt!.username,
      password: authorization.device_code,
      ca: mosquitto.ca,
    });
    await device.subscribe(authorization.push.mqtt!.topic);
    await approve(first, authorization);
    await onSecond.next('approved');
    await device.next(authorization.push.mqtt!.topic, 'approved');
    await redeem(second, authorization);
    // Redemption on the second instance clears the message the first one published.
    await device.nextRaw(authorization.push.mqtt!.topic, (payload) => payload === '');
    const approvals = device.received.filter((message) => message.payload === JSON.stringify({ type: 'approved' }));
    assert.equal(approvals.length, 1, 'only the instance that approved publishes the outcome');
    await device.end();
  });
});
