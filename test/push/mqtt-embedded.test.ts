import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { MQTT_TOPIC_PREFIX } from '@devicegate/protocol';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { approve, authorizeDevice, connectionClosed, connectMqtt, deny, redeem, type PushAuthorization } from './push-client.ts';

/** A device on the embedded broker: username = the push key given in the response, password = its code. */
function connectDevice(authorization: PushAuthorization, overrides: { username?: string; password?: string; protocolVersion?: 4 | 5 } = {}) {
  return connectMqtt(authorization.push.mqtt!.url, {
    username: overrides.username ?? authorization.push.mqtt!.username,
    password: overrides.password ?? authorization.device_code,
    protocolVersion: overrides.protocolVersion ?? 4,
  });
}

describe('push over the embedded MQTT broker', () => {
  let dg: TestAppliance;
  before(async () => {
    dg = await startTestAppliance();
    await dg.addClient({ clientId: 'short-lived-tv', deviceCodeLifetime: 2 });
  });
  after(() => dg.stop());

  test('the device authorization response and discovery name the broker and the grant topic', async () => {
    const authorization = await authorizeDevice(dg);
    const mqtt = authorization.push.mqtt!;
    assert.equal(mqtt.url, `mqtt://127.0.0.1:${dg.appliance.context.config.push.mqttPort}`);
    assert.ok(mqtt.topic.startsWith(MQTT_TOPIC_PREFIX));
    assert.equal(mqtt.topic, `${MQTT_TOPIC_PREFIX}${mqtt.username}`);
    assert.ok(!mqtt.topic.includes(authorization.device_code), 'the topic does not reveal the device code');
    const metadata = await (await fetch(`${dg.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(metadata.devicegate_push_mqtt_endpoint, mqtt.url);
  });

  test('a waiting device learns of the approval over MQTT 3.1.1 without polling, then redeems its code', async () => {
    const authorization = await authorizeDevice(dg);
    const device = await connectDevice(authorization);
    assert.deepEqual(await device.subscribe(authorization.push.mqtt!.topic), [1]);
    await approve(dg, authorization);
    await device.next(authorization.push.mqtt!.topic, 'approved');
    await redeem(dg, authorization);
    await device.end();
  });

  test('a device may also authenticate with its client_id as username (docs/push.md)', async () => {
    const authorization = await authorizeDevice(dg);
    const device = await connectDevice(authorization, { username: 'demo-tv' });
    assert.deepEqual(await device.subscribe(authorization.push.mqtt!.topic), [1]);
    await approve(dg, authorization);
    await device.next(authorization.push.mqtt!.topic, 'approved');
    await device.end();
  });

  test('a wrong device code is refused at CONNECT', async () => {
    const authorization = await authorizeDevice(dg);
    await assert.rejects(connectDevice(authorization, { password: 'wrong-device-code' }), (error: Error & { code?: number }) => error.code === 4);
  });

  test("another grant's push key or client with a right code is refused at CONNECT", async () => {
    const mine = await authorizeDevice(dg);
    const other = await authorizeDevice(dg);
    await assert.rejects(connectDevice(mine, { username: other.push.mqtt!.username }), (error: Error & { code?: number }) => error.code === 4);
    await assert.rejects(connectDevice(mine, { username: 'short-lived-tv' }), (error: Error & { code?: number }) => error.code === 4);
  });

  test('wildcard and foreign-topic subscriptions are refused in SUBACK', async () => {
    const mine = await authorizeDevice(dg);
    const other = await authorizeDevice(dg);
    const device = await connectDevice(mine);
    for (const topic of ['#', `${MQTT_TOPIC_PREFIX}+`, `${MQTT_TOPIC_PREFIX}#`, other.push.mqtt!.topic, '$SYS/#']) {
      assert.deepEqual(await device.subscribe(topic), [128], `subscription to ${topic} is refused`);
    }
    assert.deepEqual(await device.subscribe(mine.push.mqtt!.topic), [1], 'its own topic is still allowed');
    // The foreign grant's approval never reaches this device; its own does, after it.
    await approve(dg, other);
    await approve(dg, mine);
    await device.next(mine.push.mqtt!.topic, 'approved');
    assert.deepEqual(device.received.map((message) => message.topic), [mine.push.mqtt!.topic]);
    await device.end();
  });

  test('a device may not publish, not even to its own topic', async () => {
    const authorization = await authorizeDevice(dg);
    const listener = await connectDevice(authorization);
    await listener.subscribe(authorization.push.mqtt!.topic);
    const publisher = await connectDevice(authorization);
    const closed = connectionClosed(publisher.client);
    publisher.client.publish(authorization.push.mqtt!.topic, JSON.stringify({ type: 'approved' }), { qos: 1, retain: true });
    await closed;
    // The forged outcome reached nobody: the first message the listener gets is the real one.
    await deny(dg, authorization);
    await listener.next(authorization.push.mqtt!.topic, 'denied');
    assert.deepEqual(listener.received.map((message) => message.payload), [JSON.stringify({ type: 'denied' })]);
    await listener.end();
  });

  test('a late subscriber gets the retained outcome at once', async () => {
    const authorization = await authorizeDevice(dg);
    await approve(dg, authorization);
    const device = await connectDevice(authorization);
    await device.subscribe(authorization.push.mqtt!.topic);
    await device.next(authorization.push.mqtt!.topic, 'approved');
    assert.equal(device.received[0]!.retain, true);
    await device.end();
  });

  test('a denial arrives', async () => {
    const authorization = await authorizeDevice(dg);
    const device = await connectDevice(authorization);
    await device.subscribe(authorization.push.mqtt!.topic);
    await deny(dg, authorization);
    await device.next(authorization.push.mqtt!.topic, 'denied');
    await device.end();
  });

  test('expiry arrives when the code expires', async () => {
    const authorization = await authorizeDevice(dg, 'short-lived-tv');
    const device = await connectDevice(authorization);
    await device.subscribe(authorization.push.mqtt!.topic);
    await device.next(authorization.push.mqtt!.topic, 'expired');
    await device.end();
  });

  test('a device that subscribes after expiry is told expired', async () => {
    const authorization = await authorizeDevice(dg, 'short-lived-tv');
    await delay(authorization.expires_in * 1000 + 100);
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

  test('the retained outcome is cleared once the code is redeemed, and the code no longer connects', async () => {
    const authorization = await authorizeDevice(dg);
    const device = await connectDevice(authorization);
    await device.subscribe(authorization.push.mqtt!.topic);
    await approve(dg, authorization);
    await device.next(authorization.push.mqtt!.topic, 'approved');
    await redeem(dg, authorization);
    // An empty retained message removes the retained one (MQTT 3.1.1 §3.3.1.3).
    assert.equal(await device.nextRaw(authorization.push.mqtt!.topic, (payload) => payload === ''), '');
    await device.end();
    await assert.rejects(connectDevice(authorization), (error: Error & { code?: number }) => error.code === 5);
  });

  test('MQTT 5 is refused by the embedded broker (aedes 1.x speaks 3.1 and 3.1.1)', async () => {
    const authorization = await authorizeDevice(dg);
    await assert.rejects(connectDevice(authorization, { protocolVersion: 5 }));
  });
});
