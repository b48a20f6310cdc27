// Rolling restarts (docs/deploy.md): `devicegate serve` on SIGTERM turns /readyz red at once, keeps
// serving for `drainDelay` seconds so the proxy can take it out of rotation, then stops listening
// and exits cleanly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startChildInstance } from './support.ts';

/** Long enough that the requests below fall well inside it on a loaded machine. */
const DRAIN_DELAY_SECONDS = 3;

test('on SIGTERM /readyz turns 503 while requests are still served, then the instance exits cleanly', async () => {
  const instance = await startChildInstance('draining', { DEVICEGATE_DRAIN_DELAY: String(DRAIN_DELAY_SECONDS) });
  try {
    assert.equal((await fetch(`${instance.url}/readyz`)).status, 200);
    const signalledAt = Date.now();
    process.kill(instance.daemon.pid!, 'SIGTERM');

    // Bounded: the signal reaches the process within moments.
    let readiness = 200;
    for (let attempt = 0; attempt < 100 && readiness === 200; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      readiness = (await fetch(`${instance.url}/readyz`)).status;
    }
    assert.equal(readiness, 503, 'readiness is red');
    const body = await (await fetch(`${instance.url}/readyz`)).json();
    assert.equal(body.draining, true);
    // Still serving what the proxy sends before it notices (a closing server would answer 503 or
    // refuse the connection).
    const discovery = await fetch(`${instance.url}/.well-known/openid-configuration`);
    assert.equal(discovery.status, 200);
    // Each answer while draining closes its connection, so the listener's close never resets a
    // keep-alive connection a client is about to reuse (which failed this test on a busy machine).
    assert.equal(discovery.headers.get('connection'), 'close');
    await discovery.arrayBuffer();

    // The child does not hold the event loop (test/support/daemon.ts): a bounded timer does.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      instance.daemon.closed,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no exit within 30 s')), 30_000))),
    ]);
    clearTimeout(timer);
    assert.equal(instance.daemon.exitStatus(), 'exited with code 0');
    assert.ok(Date.now() - signalledAt >= DRAIN_DELAY_SECONDS * 1000, 'it waited the drain delay before exiting');
    await assert.rejects(fetch(`${instance.url}/readyz`), 'the listener is closed');
  } finally {
    await instance.kill();
  }
});
