// WebSocket keepalive: every waiting device is pinged each push.pingInterval seconds (in slices,
// one a second); one that does not answer is cut, one that answers stays as long as it waits.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { authorizeDevice, WAIT_MS } from './push-client.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance({ overrides: { push: { pingInterval: 1 } } });
});
after(() => dg.stop());

/** A device waiting on the WebSocket channel; `answersPings: false` leaves the server's pings unanswered. */
async function waitingDevice(answersPings: boolean) {
  const authorization = await authorizeDevice(dg);
  const socket = new WebSocket(authorization.push.websocket!, { perMessageDeflate: false, autoPong: answersPings });
  const pending = new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('message', () => resolve());
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'subscribe', device_code: authorization.device_code }));
  await pending;
  let pings = 0;
  socket.on('ping', () => pings++);
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  return { socket, closed, pings: () => pings };
}

test('a waiting device that never answers a ping is cut; one that answers stays', async () => {
  const silent = await waitingDevice(false);
  const answering = await waitingDevice(true);
  const cut = await Promise.race([
    silent.closed,
    new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), WAIT_MS)),
  ]);
  assert.notEqual(cut, 'timeout', 'the silent device was never cut');
  assert.equal(cut, 1006, 'cut without a closing handshake');
  assert.ok(silent.pings() >= 1, 'it was pinged before being cut');
  // By now the answering device has been pinged in the same rounds, and answered.
  assert.equal(answering.socket.readyState, WebSocket.OPEN);
  assert.ok(answering.pings() >= 1);
  answering.socket.close();
});
