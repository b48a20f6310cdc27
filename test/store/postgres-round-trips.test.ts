// How many times the appliance waits for PostgreSQL per request, counted on the wire by a real
// proxy (test/support/postgres-round-trips.ts) between the appliance and a real server: every
// round trip is CPU on both sides and latency under load (docs/performance.md). With the
// configuration several instances run with (databaseUrl: shared store, rate-limit counters and
// bus), a device authorization is at most 2 round trips and a pending poll at most 1, audit rows
// and limits included.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { startRoundTripProxy, type RoundTripCounts, type RoundTripProxy } from '../support/postgres-round-trips.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { deviceAuthorize, pollToken } from '../server/http.ts';

const describeTrips = (counts: RoundTripCounts) =>
  counts.trips.map((trip, index) => `  ${index + 1}. ${trip.sql.map((sql) => sql.replace(/\s+/g, ' ').slice(0, 120)).join(' | ')}`).join('\n');

describe('round trips to PostgreSQL per request', { skip: skipWithoutRealPart('postgresql', postgresAvailable()) }, () => {
  let server: Postgres;
  let proxy: RoundTripProxy;
  let dg: TestAppliance;

  before(async () => {
    server = await startPostgres();
    proxy = await startRoundTripProxy(server.port);
    // The webhook outbox is polled every pollInterval whatever the requests: its longest interval
    // keeps that poll out of the requests' counts.
    dg = await startTestAppliance({ overrides: { databaseUrl: proxy.urlFor(server.url), webhooks: { pollInterval: 60_000 } } });
    // Warm: the pools hold their connections and what is cached once per process is cached.
    const warm = await deviceAuthorize(dg, { client_id: 'demo-tv', scope: 'openid' });
    await pollToken(dg, 'demo-tv', warm.device_code);
    await proxy.quiet(200);
  });
  after(async () => {
    await dg?.stop();
    await proxy?.close();
    await server?.stop();
  });

  test('the proxy counts what it forwards: one simple query is one round trip', async () => {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: proxy.urlFor(server.url) });
    await client.connect();
    try {
      const mark = proxy.mark();
      await client.query('SELECT 1; SELECT 2');
      await client.query('SELECT $1::int AS n', [3]);
      const counts = await proxy.since(mark, { quietMs: 50 });
      assert.equal(counts.roundTrips, 2, describeTrips(counts));
    } finally {
      await client.end();
    }
  });

  test('a device authorization is at most 2 round trips, and a pending poll at most 1', async (t) => {
    let mark = proxy.mark();
    const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv', scope: 'openid profile' });
    const authorized = await proxy.since(mark, { quietMs: 200 });
    assert.equal(authorized.connections, 0, 'the pools were warm');

    mark = proxy.mark();
    const pending = await pollToken(dg, 'demo-tv', authorization.device_code);
    assert.equal(pending.body.error, 'authorization_pending');
    const polled = await proxy.since(mark, { quietMs: 200 });

    t.diagnostic(`device authorization: ${authorized.roundTrips} round trips; pending poll: ${polled.roundTrips}`);
    assert.ok(
      authorized.roundTrips <= 2 && polled.roundTrips <= 1,
      `device authorization: ${authorized.roundTrips} round trips\n${describeTrips(authorized)}\npending poll: ${polled.roundTrips}\n${describeTrips(polled)}`,
    );
  });
});
