// The grant event bus over PostgreSQL LISTEN/NOTIFY (push.bus = 'postgres'): first the bus alone
// against a real PostgreSQL (delivery between instances, order, own echo, malformed payloads,
// reconnection), then three appliance instances sharing it with no MQTT broker at all, where a
// WebSocket push crosses instances.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import type { GrantEvent } from '../../server/src/bus/types.ts';
import { BUS_CHANNEL, createPostgresBus } from '../../server/src/bus/postgres-bus.ts';
import { isRemoteEvent } from '../../server/src/bus/wire.ts';
import type { EventBus } from '../../server/src/bus/types.ts';
import { openWebSocket } from '../push/push-client.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { freePort } from '../support/ports.ts';
import { createDatabase, postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { approveThroughPages, deviceAuthorizeAt, newMasterKey, personAt, pollAt, sharedIssuer, startAll, type Instance } from './support.ts';

const skip = skipWithoutRealPart('postgresql', postgresAvailable());
const silent = pino({ level: 'silent' });
/** Every wait ends: a missing event fails the test instead of hanging it. */
const WAIT_MS = 10_000;

function outcome(n: number): GrantEvent {
  return { type: 'outcome', pushKey: `push-key-${n}`, deviceGrantId: `grant-${n}`, outcome: 'approved', at: 1_700_000_000_000 + n };
}

/** Listens on a bus and lets a test wait (bounded) for what arrives. */
function record(bus: EventBus) {
  const events: GrantEvent[] = [];
  const waiting = new Set<() => void>();
  bus.subscribe((event) => {
    events.push(event);
    for (const wake of [...waiting]) wake();
  });
  return {
    events,
    until(count: number): Promise<GrantEvent[]> {
      if (events.length >= count) return Promise.resolve(events);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(check);
          reject(new Error(`expected ${count} events, got ${JSON.stringify(events)}`));
        }, WAIT_MS);
        const check = () => {
          if (events.length < count) return;
          clearTimeout(timer);
          waiting.delete(check);
          resolve(events);
        };
        waiting.add(check);
      });
    },
  };
}

describe('the PostgreSQL grant event bus', { skip }, () => {
  let server: Postgres;
  let databaseNumber = 0;
  const opened: EventBus[] = [];
  /** A fresh database per test, so one test's notifications never reach another's listeners. */
  const freshDatabase = () => createDatabase(server.url, `bus_${++databaseNumber}`);
  const open = async (connectionString: string, options: Partial<Parameters<typeof createPostgresBus>[0]> = {}) => {
    const bus = await createPostgresBus({ connectionString, logger: silent, ...options });
    opened.push(bus);
    return bus;
  };

  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    for (const bus of opened) await bus.close();
    await server?.stop();
  });

  test('an event published on one instance reaches the others, marked remote, and is not echoed back', async () => {
    const url = await freshDatabase();
    const [first, second, third] = [await open(url), await open(url), await open(url)];
    const [atFirst, atSecond, atThird] = [record(first), record(second), record(third)];
    await first.publish(outcome(1));
    assert.deepEqual(await atSecond.until(1), [outcome(1)]);
    assert.deepEqual(await atThird.until(1), [outcome(1)]);
    assert.equal(isRemoteEvent(atSecond.events[0]!), true);
    // The publisher's own listeners heard it at once, as a local event; a marker event published
    // after it proves no echo of the first arrived in between.
    await second.publish(outcome(2));
    await atFirst.until(2);
    assert.deepEqual(atFirst.events, [outcome(1), outcome(2)]);
    assert.equal(isRemoteEvent(atFirst.events[0]!), false);
    assert.equal(isRemoteEvent(atFirst.events[1]!), true);
  });

  test('events of one instance arrive elsewhere in the order they were published', async () => {
    const url = await freshDatabase();
    const [publisher, subscriber] = [await open(url), await open(url)];
    const received = record(subscriber);
    const sent = Array.from({ length: 40 }, (_, n) => outcome(n));
    // Published back to back without waiting, as the approval service and the token endpoint do.
    await Promise.all(sent.map((event) => publisher.publish(event)));
    assert.deepEqual(await received.until(sent.length), sent);
  });

  test('a malformed notification on the channel is dropped and the next good one delivered', async () => {
    const url = await freshDatabase();
    const [publisher, subscriber] = [await open(url), await open(url)];
    const received = record(subscriber);
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      for (const payload of ['not json', '{"origin":"x","event":{"type":"outcome","pushKey":"k"}}', '{"origin":"x","event":{"type":"outcome","pushKey":"k","deviceGrantId":"g","outcome":"stolen","at":1}}']) {
        await raw.query('SELECT pg_notify($1, $2)', [BUS_CHANNEL, payload]);
      }
    } finally {
      await raw.end();
    }
    await publisher.publish(outcome(7));
    assert.deepEqual(await received.until(1), [outcome(7)]);
  });

  test('a listener whose connection is cut reconnects and hears events again', async () => {
    const url = await freshDatabase();
    const publisher = await open(url);
    const subscriber = await open(url, { reconnectDelayMs: { min: 20, max: 200 } });
    const received = record(subscriber);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const cut = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`,
      );
      assert.equal(cut.rowCount, 2, 'both buses were listening');
    } finally {
      await admin.end();
    }
    // Events sent while it is away are not replayed (polling is the fallback); keep publishing,
    // a bounded number of times, until one arrives over the new connection.
    for (let attempt = 0; attempt < 100 && received.events.length === 0; attempt++) {
      await publisher.publish(outcome(attempt));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(received.events.length > 0, 'an event arrived after the reconnect');
  });

  test('opening fails with the reason when the database does not answer', async () => {
    const closedPort = await freePort();
    await assert.rejects(createPostgresBus({ connectionString: `postgres://devicegate@127.0.0.1:${closedPort}/none`, logger: silent }), /ECONNREFUSED|connect/);
  });

  test('close ends the bus connections and may be called twice', async () => {
    const url = await freshDatabase();
    const bus = await createPostgresBus({ connectionString: url, logger: silent });
    await bus.publish(outcome(1)); // opens the publishing connection
    await bus.close();
    await bus.close();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // A backend leaves pg_stat_activity a moment after its client said goodbye: look a bounded
      // number of times.
      let left = -1;
      for (let attempt = 0; attempt < 100 && left !== 0; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 20));
        const rows = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
        left = rows.rows[0].n as number;
      }
      assert.equal(left, 0);
    } finally {
      await admin.end();
    }
  });
});

describe('three instances sharing events through PostgreSQL, with no MQTT broker', { skip }, () => {
  let server: Postgres;
  let instances: TestAppliance[] = [];
  let A: Instance, B: Instance, C: Instance;

  before(async () => {
    server = await startPostgres({ maxConnections: 100 });
    const { issuer, port } = await sharedIssuer();
    const shared = { databaseUrl: server.url, masterKey: newMasterKey(), issuer };
    const push = { mqttEmbedded: false };
    instances = await startAll([
      startTestAppliance({ overrides: { ...shared, port, push: { ...push, bus: 'postgres' } } }),
      startTestAppliance({ overrides: { ...shared, push: { ...push, bus: 'postgres' } } }),
      // 'auto' picks PostgreSQL when there is a database and no external broker.
      startTestAppliance({ overrides: { ...shared, push: { ...push, bus: 'auto' } } }),
    ]);
    [A, B, C] = instances.map((dg, index) => ({ name: 'ABC'[index]!, url: dg.appliance.url }));
  });
  after(async () => {
    await Promise.all(instances.map((dg) => dg.stop()));
    await server?.stop();
  });

  test('authorized on A, approved on the pages of B, told on a WebSocket at C, redeemed on A', async () => {
    const authorization = await deviceAuthorizeAt(A);
    const onC = await openWebSocket(`${C.url.replace(/^http/, 'ws')}/push`, { deviceCode: authorization.device_code });
    await onC.next('pending');
    await approveThroughPages(personAt(B), authorization.user_code);
    await onC.next('approved');
    assert.deepEqual((await onC.closed()).code, 1000);
    const redeemed = await pollAt(A, authorization.device_code);
    assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
  });

  test('a denial on C reaches a WebSocket held by A', async () => {
    const authorization = await deviceAuthorizeAt(B);
    const onA = await openWebSocket(`${A.url.replace(/^http/, 'ws')}/push`, { deviceCode: authorization.device_code });
    await onA.next('pending');
    const c = instances[2]!;
    assert.equal(await c.appliance.context.approval.denyUserCode(authorization.user_code, c.demoUserId), true);
    await onA.next('denied');
    const polled = await pollAt(B, authorization.device_code);
    assert.equal(polled.body.error, 'access_denied');
  });
});
