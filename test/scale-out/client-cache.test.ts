// Each instance on PostgreSQL keeps its clients in memory (store/postgres/clients.ts), so a
// request does not read the client from the database; a change made anywhere else must still
// be seen at once: by `devicegate clients update` in another process (which has no bus), by SQL,
// and also when the instance's listening connection was lost meanwhile (docs/security.md
// CLIENT-CACHE).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { postForm } from '../server/http.ts';
import { runCli } from '../cli/run-cli.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { startRoundTripProxy, type RoundTripProxy } from '../support/postgres-round-trips.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { until } from '../support/until.ts';

describe('the client cache of an instance on PostgreSQL', { skip: skipWithoutRealPart('postgresql', postgresAvailable()) }, () => {
  let server: Postgres;
  let proxy: RoundTripProxy;
  let dg: TestAppliance;
  let sql: pg.Client;

  const authorize = (scope: string) => postForm(dg.issuer, '/oauth/device_authorization', { client_id: 'demo-tv', scope });
  const readsOfClients = async (work: () => Promise<unknown>) => {
    await proxy.quiet(100);
    const mark = proxy.mark();
    await work();
    const counts = await proxy.since(mark, { quietMs: 100 });
    return counts.trips.filter((trip) => trip.sql.some((text) => /FROM clients/.test(text))).length;
  };

  before(async () => {
    server = await startPostgres();
    proxy = await startRoundTripProxy(server.port);
    dg = await startTestAppliance({
      overrides: {
        databaseUrl: proxy.urlFor(server.url),
        // No outbox poll among the counted round trips; the waits below authorize many times.
        webhooks: { pollInterval: 60_000 },
        limits: { deviceAuthorizationPerClientAndAddress: { points: 1000, duration: 60 } },
      },
    });
    sql = new pg.Client({ connectionString: server.url });
    await sql.connect();
  });
  after(async () => {
    await sql?.end();
    await dg?.stop();
    await proxy?.close();
    await server?.stop();
  });

  test('a request reads the client from memory; `clients update` in another process is seen by the next request', async () => {
    assert.equal((await authorize('openid profile')).status, 200);
    assert.equal(await readsOfClients(() => authorize('openid profile')), 0, 'the second request used the cached client');

    const updated = await runCli(['clients', 'update', 'demo-tv', '--scopes', 'openid', '--data-dir', dg.dataDir], {
      env: { DEVICEGATE_DATABASE_URL: server.url },
    });
    assert.equal(updated.code, 0, updated.stderr);
    // The NOTIFY of the table's trigger goes out with the commit: milliseconds, not a cache lifetime.
    await until(async () => (await authorize('openid profile')).status === 400, 5000, 'the update seen');
    const refused = await authorize('openid profile');
    assert.equal(refused.body.error, 'invalid_scope');
    assert.equal((await authorize('openid')).status, 200);
  });

  test('a change made while the listening connection was down is not hidden by the cache', async () => {
    await sql.query(`UPDATE clients SET scopes = '{openid,profile,offline_access}' WHERE client_id = 'demo-tv'`);
    await until(async () => (await authorize('openid profile')).status === 200, 10_000, 'the first change');
    assert.equal(await readsOfClients(() => authorize('openid profile')), 0, 'cached again');

    // The instance's listening connection dies (a failover, a proxy cutting idle lines); the
    // change made meanwhile sends a notification nobody hears.
    const killed = await sql.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'devicegate-listen' AND datname = current_database()`,
    );
    assert.equal(killed.rowCount, 1);
    await sql.query(`UPDATE clients SET scopes = '{openid}' WHERE client_id = 'demo-tv'`);
    // Listening again (reconnected), the cache is used again, and what it serves is the change.
    await until(async () => (await readsOfClients(() => authorize('openid'))) === 0, 10_000, 'the cache in use again');
    const after = await authorize('openid profile');
    assert.equal(after.status, 400, `served from a stale cache: ${JSON.stringify(after.body)}`);
  });
});
