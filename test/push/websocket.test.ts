import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { approve, authorizeDevice, deny, openWebSocket, redeem, upgradeStatus } from './push-client.ts';

describe('push over WebSocket', () => {
  let dg: TestAppliance;
  before(async () => {
    dg = await startTestAppliance({ overrides: { push: { subscribeTimeout: 1, maxConnectionsPerAddress: 50 } } });
    // A client whose codes live two seconds, for expiry without a fake clock (timers are real).
    await dg.addClient({ clientId: 'short-lived-tv', deviceCodeLifetime: 2 });
  });
  after(() => dg.stop());

  test('the device authorization response and discovery name the WebSocket endpoint', async () => {
    const authorization = await authorizeDevice(dg);
    assert.equal(authorization.push.websocket, `${dg.issuer.replace(/^http/, 'ws')}/push`);
    const metadata = await (await fetch(`${dg.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(metadata.devicegate_push_websocket_endpoint, authorization.push.websocket);
  });

  test('a waiting device learns of the approval without polling, then redeems its code', async () => {
    const authorization = await authorizeDevice(dg);
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    const pending = await device.next('pending');
    assert.ok(pending.type === 'pending' && pending.expires_in > 0 && pending.expires_in <= authorization.expires_in);
    await approve(dg, authorization);
    await device.next('approved');
    assert.deepEqual((await device.closed()).code, 1000);
    assert.deepEqual(device.messages, [pending, { type: 'approved' }], 'pending, then exactly one outcome');
    await redeem(dg, authorization);
  });

  test('a denial arrives and the connection closes normally', async () => {
    const authorization = await authorizeDevice(dg);
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await device.next('pending');
    await deny(dg, authorization);
    await device.next('denied');
    assert.equal((await device.closed()).code, 1000);
  });

  test('expiry arrives when the code expires, without waiting for the sweeper', async () => {
    const authorization = await authorizeDevice(dg, 'short-lived-tv');
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await device.next('pending');
    await device.next('expired');
    assert.equal((await device.closed()).code, 1000);
  });

  test('a device that subscribes after the approval gets it at once', async () => {
    const authorization = await authorizeDevice(dg);
    await approve(dg, authorization);
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await device.next('approved');
    assert.equal((await device.closed()).code, 1000);
    assert.deepEqual(device.messages, [{ type: 'approved' }]);
  });

  test('a device that subscribes after the denial gets it at once', async () => {
    const authorization = await authorizeDevice(dg);
    await deny(dg, authorization);
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await device.next('denied');
    assert.deepEqual(device.messages, [{ type: 'denied' }]);
  });

  test('a device that subscribes after expiry is told expired', async () => {
    const authorization = await authorizeDevice(dg, 'short-lived-tv');
    // Bounded wait for the two-second lifetime to pass.
    await delay(authorization.expires_in * 1000 + 100);
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await device.next('expired');
    assert.deepEqual(device.messages, [{ type: 'expired' }]);
  });

  test('a code already redeemed is refused like at the token endpoint', async () => {
    const authorization = await authorizeDevice(dg);
    await approve(dg, authorization);
    await redeem(dg, authorization);
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    const error = await device.next('error');
    assert.equal(error.type === 'error' && error.error, 'invalid_grant');
    assert.equal((await device.closed()).code, 1008);
  });

  test('a device whose connection drops reconnects and still learns the outcome', async () => {
    const authorization = await authorizeDevice(dg);
    const first = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await first.next('pending');
    first.socket.terminate();
    await first.closed();
    await approve(dg, authorization);
    const again = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await again.next('approved');
    await redeem(dg, authorization);
  });

  test('two connections waiting on one grant are both told', async () => {
    const authorization = await authorizeDevice(dg);
    const one = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    const two = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await Promise.all([one.next('pending'), two.next('pending')]);
    await approve(dg, authorization);
    await Promise.all([one.next('approved'), two.next('approved')]);
  });

  test('one device code holds at most push.maxSubscribersPerDeviceCode waiting connections; the next is refused (PUSH-BOUNDED)', async () => {
    const authorization = await authorizeDevice(dg);
    const { maxSubscribersPerDeviceCode } = dg.appliance.context.config.push;
    const admitted = [];
    for (let index = 0; index < maxSubscribersPerDeviceCode; index++) {
      const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
      await device.next('pending');
      admitted.push(device);
    }
    const extra = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    const error = await extra.next('error');
    assert.equal(error.type === 'error' && error.error, 'slow_down');
    assert.equal((await extra.closed()).code, 1008);
    // Once one of them leaves, a reconnecting device is admitted again, and every waiting one is told.
    const leaving = admitted.shift()!;
    leaving.socket.close();
    await leaving.closed();
    const reconnected = await waitUntilAdmitted(authorization.push.websocket!, authorization.device_code);
    await approve(dg, authorization);
    await Promise.all([reconnected, ...admitted].map((device) => device.next('approved')));
  });

  test('an unknown device code gets an error and a policy close', async () => {
    const authorization = await authorizeDevice(dg);
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: 'not-a-device-code' });
    const error = await device.next('error');
    assert.equal(error.type === 'error' && error.error, 'invalid_grant');
    assert.equal((await device.closed()).code, 1008);
  });

  for (const [name, frame] of [
    ['not JSON', 'subscribe please'],
    ['JSON without a device code', JSON.stringify({ type: 'subscribe' })],
    ['another message type', JSON.stringify({ type: 'hello', device_code: 'x' })],
    ['a device code that is not a string', JSON.stringify({ type: 'subscribe', device_code: 42 })],
    ['a binary frame', Buffer.from(JSON.stringify({ type: 'subscribe', device_code: 'x' }))],
  ] as const) {
    test(`a malformed first frame (${name}) gets invalid_request and a policy close`, async () => {
      const device = await openWebSocket(`${dg.issuer.replace(/^http/, 'ws')}/push`, frame);
      const error = await device.next('error');
      assert.equal(error.type === 'error' && error.error, 'invalid_request');
      assert.equal((await device.closed()).code, 1008);
    });
  }

  test('a second message after the subscription is a protocol error', async () => {
    const authorization = await authorizeDevice(dg);
    const device = await openWebSocket(authorization.push.websocket!, { deviceCode: authorization.device_code });
    await device.next('pending');
    device.socket.send(JSON.stringify({ type: 'subscribe', device_code: authorization.device_code }));
    const error = await device.next('error');
    assert.equal(error.type === 'error' && error.error, 'invalid_request');
    assert.equal((await device.closed()).code, 1008);
  });

  test('a client that never subscribes is dropped after the subscribe timeout', async () => {
    const device = await openWebSocket(`${dg.issuer.replace(/^http/, 'ws')}/push`);
    const error = await device.next('error');
    assert.equal(error.type === 'error' && error.error, 'invalid_request');
    assert.equal((await device.closed()).code, 1008);
  });

  test('a frame larger than 4 KiB closes the connection (1009)', async () => {
    const device = await openWebSocket(`${dg.issuer.replace(/^http/, 'ws')}/push`, 'x'.repeat(5000));
    assert.equal((await device.closed()).code, 1009);
  });

  test('another path is not upgraded', async () => {
    assert.equal(await upgradeStatus(`${dg.issuer.replace(/^http/, 'ws')}/elsewhere`), 404);
  });
});

/** Subscribes until a slot is free: the server counts a closed connection out a moment after the client closed it. */
async function waitUntilAdmitted(url: string, deviceCode: string) {
  for (let attempt = 1; ; attempt++) {
    const device = await openWebSocket(url, { deviceCode });
    const first = await Promise.race([device.next('pending'), device.next('error')]);
    if (first.type === 'pending') return device;
    await device.closed();
    if (attempt >= 50) throw new Error('never admitted');
    await delay(20);
  }
}

/** Opens a connection, retrying while the server has not yet counted a just-closed one out. */
async function openWhenAdmitted(url: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await openWebSocket(url);
    } catch (error) {
      if (attempt >= 50 || !/429/.test((error as Error).message)) throw error;
      await delay(20);
    }
  }
}

describe('WebSocket connection limits', () => {
  let dg: TestAppliance;
  before(async () => {
    dg = await startTestAppliance({ overrides: { push: { maxConnectionsPerAddress: 2 } } });
  });
  after(() => dg.stop());

  test('an address over its limit is refused with 429, and served again once it closes one', async () => {
    const url = `${dg.issuer.replace(/^http/, 'ws')}/push`;
    const first = await openWebSocket(url);
    const second = await openWebSocket(url);
    assert.equal(await upgradeStatus(url), 429);
    first.socket.close();
    await first.closed();
    const third = await openWhenAdmitted(url);
    third.socket.close();
    second.socket.close();
    await Promise.all([third.closed(), second.closed()]);
  });
});

describe('WebSocket total connection limit', () => {
  let dg: TestAppliance;
  before(async () => {
    dg = await startTestAppliance({ overrides: { push: { maxConnectionsPerAddress: 2, maxConnections: 3 } } });
  });
  after(() => dg.stop());

  test('over the total limit every address is refused with 503', async () => {
    const url = `${dg.issuer.replace(/^http/, 'ws')}/push`;
    // Loopback is 127.0.0.0/8: three source addresses, each within its own limit.
    const open = [await openWebSocket(url, undefined, '127.0.0.1'), await openWebSocket(url, undefined, '127.0.0.2'), await openWebSocket(url, undefined, '127.0.0.3')];
    assert.equal(await upgradeStatus(url, '127.0.0.4'), 503);
    for (const device of open) device.socket.close();
    await Promise.all(open.map((device) => device.closed()));
  });
});
