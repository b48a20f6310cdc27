// The whole flow as people and devices live it: a person approves on the real verification pages
// in headless Chromium while the device waits on a push channel (never polling), learns of the
// approval, and redeems its code once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { chromiumAvailable, launchChromium, newPhoneContext } from '../support/chromium.ts';
import { mosquittoAvailable } from '../support/mosquitto.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { press, signIn } from '../verification-ui/browser.ts';
import { authorizeDevice, connectMqtt, openWebSocket, redeem, type PushAuthorization } from './push-client.ts';
import { APPLIANCE_USERNAME, opensslAvailable, startShippedMosquitto, type ShippedMosquitto } from './shipped-mosquitto.ts';

/** The person's part: open the link from the QR code, confirm the code, sign in, approve. */
async function approveInBrowser(browser: Browser, authorization: PushAuthorization): Promise<void> {
  const context = await newPhoneContext(browser);
  try {
    const page = await context.newPage();
    await page.goto(authorization.verification_uri_complete);
    assert.equal(await page.getByLabel('Code', { exact: true }).inputValue(), authorization.user_code);
    assert.equal(await press(page, 'Continue'), 200);
    assert.equal(await signIn(page, 'demo', DEMO_PASSWORD), 200);
    assert.equal(await press(page, 'Approve'), 200);
  } finally {
    await context.close();
  }
}

describe('push end to end with the verification pages in Chromium', { skip: skipWithoutRealPart('chromium', chromiumAvailable()) }, () => {
  let dg: TestAppliance;
  let browser: Browser;
  before(async () => {
    dg = await startTestAppliance();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await dg?.stop();
  });

  test('a device waiting on WebSocket and on the embedded MQTT broker learns of the approval, then redeems', async () => {
    const authorization = await authorizeDevice(dg);
    const websocket = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await websocket.next('pending');
    const mqtt = await connectMqtt(authorization.push.mqtt!.url, { username: authorization.push.mqtt!.username, password: authorization.device_code });
    await mqtt.subscribe(authorization.push.mqtt!.topic);

    await approveInBrowser(browser, authorization);

    await websocket.next('approved');
    await mqtt.next(authorization.push.mqtt!.topic, 'approved');
    assert.equal((await websocket.closed()).code, 1000);
    await redeem(dg, authorization);
    await mqtt.end();
  });
});

describe('push end to end through mosquitto with the pages in Chromium', {
  skip: skipWithoutRealPart('chromium', chromiumAvailable()) || skipWithoutRealPart('mosquitto', mosquittoAvailable()) || skipWithoutRealPart('openssl', opensslAvailable()),
}, () => {
  let mosquitto: ShippedMosquitto;
  let dg: TestAppliance;
  let browser: Browser;
  before(async () => {
    mosquitto = await startShippedMosquitto();
    dg = await startTestAppliance({
      overrides: {
        push: { mqttUrl: mosquitto.applianceUrl, mqttUsername: APPLIANCE_USERNAME, mqttPassword: mosquitto.appliancePassword, mqttPublicUrl: mosquitto.deviceUrl },
      },
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await dg?.stop();
    await mosquitto?.stop();
  });

  test('a device waiting on mosquitto (shipped ACL configuration) learns of the approval, then redeems', async () => {
    const authorization = await authorizeDevice(dg);
    const mqtt = await connectMqtt(authorization.push.mqtt!.url, {
      username: authorization.push.mqtt!.username,
      password: authorization.device_code,
      ca: mosquitto.ca,
    });
    await mqtt.subscribe(authorization.push.mqtt!.topic);

    await approveInBrowser(browser, authorization);

    await mqtt.next(authorization.push.mqtt!.topic, 'approved');
    await redeem(dg, authorization);
    await mqtt.end();
  });
});
