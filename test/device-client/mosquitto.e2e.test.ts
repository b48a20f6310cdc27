/**
 * The device client waiting on a real mosquitto with the configuration the repo ships
 * (deploy/mosquitto): TLS on the device listener, and an ACL that lets a device read only the
 * topic its username names (`pattern read devicegate/grants/%u`). The username must be the grant's
 * push key (`push.mqtt.username`); with any other the broker grants the subscription and delivers
 * nothing, so these tests would only see the approval at the 30 s poll.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MQTT_TOPIC_PREFIX } from '@devicegate/protocol';
import { startLogin, type LoginEvent } from '@devicegate/device-client';
import type { TestAppliance } from '../support/appliance.ts';
import { mosquittoAvailable } from '../support/mosquitto.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { APPLIANCE_USERNAME, opensslAvailable, startShippedMosquitto, type ShippedMosquitto } from '../push/shipped-mosquitto.ts';
import { jsonLogin } from './support/cli-login.ts';
import { decide, DEVICE_SCOPE, inBackground, startDeviceAppliance, until } from './support/e2e.ts';
import { deviceEnv, tempDir } from './support/temp.ts';

const skip = skipWithoutRealPart('mosquitto', mosquittoAvailable()) || skipWithoutRealPart('openssl', opensslAvailable());

/** A long interval: a login that ends well within it heard of the approval by push. */
const PUSH_CLIENT_ID = 'e2e-mosquitto-device';
const PUSH_CLIENT_INTERVAL = 30;

describe('the device client on mosquitto with the shipped configuration', { skip }, () => {
  let mosquitto: ShippedMosquitto;
  let dg: TestAppliance;

  before(async () => {
    mosquitto = await startShippedMosquitto();
    dg = await startDeviceAppliance({
      overrides: {
        push: {
          mqttUrl: mosquitto.applianceUrl,
          mqttUsername: APPLIANCE_USERNAME,
          mqttPassword: mosquitto.appliancePassword,
          mqttPublicUrl: mosquitto.deviceUrl,
        },
      },
    });
    await dg.addClient({ clientId: PUSH_CLIENT_ID, pollInterval: PUSH_CLIENT_INTERVAL });
  });
  after(async () => {
    await dg?.stop();
    await mosquitto?.stop();
  });

  test('the library learns of the approval over MQTTS as the push key, then makes one token request', async (t) => {
    const events: LoginEvent[] = [];
    const started = Date.now();
    const login = await startLogin({
      issuer: dg.issuer,
      clientId: PUSH_CLIENT_ID,
      scope: DEVICE_SCOPE,
      channel: 'mqtt',
      pushTls: { ca: mosquitto.ca },
      onEvent: (event) => events.push(event),
      signal: t.signal,
    });
    assert.equal(login.push?.mqtt?.url, mosquitto.deviceUrl);
    assert.ok(login.push?.mqtt?.username, 'the appliance names the MQTT username');
    assert.equal(login.push.mqtt.topic, `${MQTT_TOPIC_PREFIX}${login.push.mqtt.username}`);
    const waiting = inBackground(login.wait());
    await until(() => events.some((event) => event.type === 'channel' && event.state === 'subscribed'), 30_000, 'the MQTT subscription');
    await decide(dg, login, 'approve', t);
    const tokens = await waiting;

    assert.ok(tokens.accessToken);
    assert.deepEqual(events.filter((event) => event.type === 'approved'), [{ type: 'approved', via: 'push' }]);
    assert.deepEqual(events.filter((event) => event.type === 'poll').map((event) => event.reason), ['push']);
    assert.ok(Date.now() - started < PUSH_CLIENT_INTERVAL * 1000, 'well before the first poll was due');
    assert.ok(events.every((event) => event.type !== 'error'), 'no connection failures');
  });

  test('a late subscriber gets the retained outcome from mosquitto', async (t) => {
    const events: LoginEvent[] = [];
    const started = Date.now();
    const login = await startLogin({
      issuer: dg.issuer,
      clientId: PUSH_CLIENT_ID,
      scope: DEVICE_SCOPE,
      channel: 'mqtt',
      pushTls: { ca: mosquitto.ca },
      onEvent: (event) => events.push(event),
      signal: t.signal,
    });
    await decide(dg, login, 'approve', t);
    assert.ok((await login.wait()).accessToken);
    assert.deepEqual(events.filter((event) => event.type === 'approved'), [{ type: 'approved', via: 'push' }]);
    assert.ok(Date.now() - started < PUSH_CLIENT_INTERVAL * 1000, 'well before the first poll was due');
  });

  test('the CLI (trusting the broker through NODE_EXTRA_CA_CERTS) signs in over MQTTS before its first poll', async (t) => {
    const dir = tempDir();
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, mosquitto.ca);
    const env = { ...deviceEnv(dir), NODE_EXTRA_CA_CERTS: caFile };
    const started = Date.now();
    const login = await jsonLogin(dg, ['--client-id', PUSH_CLIENT_ID, '--scope', DEVICE_SCOPE, '--channel', 'mqtt'], env, 'approve', t);
    assert.equal(login.code, 0, login.stderr);
    assert.deepEqual(login.events.map((event) => event.event), ['code', 'approved', 'stored']);
    assert.ok(Date.now() - started < PUSH_CLIENT_INTERVAL * 1000, 'well before the first poll was due');
  });
});
