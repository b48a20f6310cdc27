// The one expiry scheduler (server/src/device-grants/expiry.ts): at a code's expiresAt it claims
// the grant through the store and publishes what its end means, once, however many instances
// watch it; the sweeper's call is the safety net for grants nobody watched.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createManualClock, createSqliteStore, type Store } from '@devicegate/server';
import { createInProcessBus } from '../../server/src/bus/in-process.ts';
import type { DeviceGrantEvent } from '../../server/src/bus/types.ts';
import { createExpiryScheduler } from '../../server/src/device-grants/expiry.ts';
import { until } from '../support/until.ts';

const T0 = Date.UTC(2026, 0, 1);
const logger = pino({ level: 'silent' });

describe('the expiry scheduler', () => {
  let dir: string;
  let store: Store;
  let sequence = 0;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'devicegate-expiry-'));
    store = createSqliteStore({ filename: path.join(dir, 'store.sqlite'), backgroundCheckpoints: false });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function createGrant(expiresAt: number) {
    const id = `dg-${++sequence}`;
    await store.deviceGrants.create({
      id,
      deviceCodeHash: `hash-${id}`,
      userCode: `BCDFGHJ${'KLMNPQRSTVWXZ'[sequence % 13]}`,
      clientId: 'tv',
      scopes: ['openid'],
      deviceName: null,
      deviceModel: null,
      requestedFrom: null,
      pushKey: `push-${id}`,
      createdAt: T0,
      expiresAt,
      interval: 5,
      resources: [],
    });
    return id;
  }

  function listen(bus: ReturnType<typeof createInProcessBus>): DeviceGrantEvent[] {
    const events: DeviceGrantEvent[] = [];
    bus.subscribe((event) => {
      if (event.type !== 'revoked') events.push(event);
    });
    return events;
  }

  test('publishes expired when a watched code expires, not before, and once', async () => {
    const clock = createManualClock(T0);
    const bus = createInProcessBus();
    const events = listen(bus);
    const expiry = createExpiryScheduler({ store, bus, clock, logger });
    const id = await createGrant(T0 + 10_000);
    expiry.wakeAt(T0 + 10_000);
    clock.set(T0 + 9_000);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(events.length, 0, 'nothing before expiresAt');
    clock.set(T0 + 10_000);
    await until(() => events.length > 0, 30_000, 'the expired event');
    assert.deepEqual(
      events.map((event) => ({ type: event.type, id: event.deviceGrantId, outcome: event.type === 'outcome' ? event.outcome : null })),
      [{ type: 'outcome', id, outcome: 'expired' }],
    );
    assert.equal(await expiry.reportDue(), 0, 'a second report finds nothing left to claim');
    await expiry.stop();
  });

  test('two instances watching one store publish each expiry once between them', async () => {
    const clock = createManualClock(T0 + 100_000);
    const bus = createInProcessBus();
    const events = listen(bus);
    const first = createExpiryScheduler({ store, bus, clock, logger });
    const second = createExpiryScheduler({ store, bus, clock, logger });
    const ids = [await createGrant(T0 + 100_000), await createGrant(T0 + 100_000)];
    await Promise.all([first.reportDue(), second.reportDue(), first.reportDue(), second.reportDue()]);
    await Promise.all([first.reportDue(), second.reportDue()]);
    assert.deepEqual(events.map((event) => event.deviceGrantId).sort(), ids.sort(), 'each grant once');
    await Promise.all([first.stop(), second.stop()]);
  });

  test('a decided grant nobody redeemed is closed at expiry, not told expired', async () => {
    const clock = createManualClock(T0 + 200_000);
    const bus = createInProcessBus();
    const events = listen(bus);
    const expiry = createExpiryScheduler({ store, bus, clock, logger });
    const id = await createGrant(T0 + 200_000 + 5_000);
    assert.ok(await store.deviceGrants.decide(id, { status: 'approved', userId: 'someone', grantedScopes: ['openid'], authTime: T0, amr: [], acr: null }, T0 + 200_000));
    clock.set(T0 + 200_000 + 5_000);
    assert.equal(await expiry.reportDue(), 1);
    assert.deepEqual(events.map((event) => [event.type, event.deviceGrantId]), [['closed', id]]);
    await expiry.stop();
  });
});
