// The whole appliance on PostgreSQL (config `databaseUrl`): openStore picks the PostgreSQL store,
// the demo client and user are bootstrapped into it, and a device signs in end to end. The
// single-use guarantee then rests on PostgreSQL's row locks: 50 concurrent polls of one approved
// code give exactly one token response.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { hashSecret } from '../../server/src/secrets.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { postgresAvailable, startPostgres, type Postgres } from '../support/postgres.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { deviceAuthorize, pollToken, refresh } from '../server/http.ts';

describe('the appliance on PostgreSQL', { skip: skipWithoutRealPart('postgresql', postgresAvailable()) }, () => {
  let server: Postgres;
  let dg: TestAppliance;

  before(async () => {
    server = await startPostgres();
    dg = await startTestAppliance({ overrides: { databaseUrl: server.url } });
  });
  const familiesOfDemo = async () =>
    (await dg.appliance.context.store.grants.listByUser(dg.demoUserId)).filter((grant) => grant.clientId === 'demo-tv');

  after(async () => {
    await dg?.stop();
    await server?.stop();
  });

  test('the configured database is PostgreSQL, with the demo client and user in it', async () => {
    const ready = await fetch(`${dg.issuer}/readyz`);
    assert.equal(ready.status, 200);
    // The bootstrap went to PostgreSQL: its tables hold the demo client (SQLite would leave them empty).
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const clients = await client.query("SELECT client_id FROM clients WHERE client_id = 'demo-tv'");
      assert.equal(clients.rowCount, 1);
      const users = await client.query('SELECT id FROM users WHERE id = $1', [dg.demoUserId]);
      assert.equal(users.rowCount, 1);
    } finally {
      await client.end();
    }
  });

  test('a device signs in: authorize, pending, approve, redeem, refresh rotates, the old refresh token is refused', async () => {
    const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv', scope: 'openid profile offline_access' });
    const pending = await pollToken(dg, 'demo-tv', authorization.device_code);
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, 'authorization_pending');

    assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
    const redeemed = await pollToken(dg, 'demo-tv', authorization.device_code);
    assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
    assert.ok(redeemed.body.access_token && redeemed.body.refresh_token && redeemed.body.id_token);

    // docs/security.md REDEEM-RETRY: the same client again, within the window, gets a fresh set.
    const again = await pollToken(dg, 'demo-tv', authorization.device_code);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.notEqual(again.body.refresh_token, redeemed.body.refresh_token);

    const rotated = await refresh(dg, 'demo-tv', again.body.refresh_token);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    assert.notEqual(rotated.body.refresh_token, again.body.refresh_token);
    // Once the family's refresh token was used, the code is spent.
    const spent = await pollToken(dg, 'demo-tv', authorization.device_code);
    assert.equal(spent.status, 400);
    assert.equal(spent.body.error, 'invalid_grant');
    const used = await refresh(dg, 'demo-tv', rotated.body.refresh_token);
    assert.equal(used.status, 200, JSON.stringify(used.body));
    // The predecessor of a used successor is reuse (RFC 9700 §4.14.2; REFRESH-RETRY)...
    const reused = await refresh(dg, 'demo-tv', again.body.refresh_token);
    assert.equal(reused.status, 400);
    assert.equal(reused.body.error, 'invalid_grant');
    // ...which revoked the whole grant, so the newest token is dead too.
    const successor = await refresh(dg, 'demo-tv', used.body.refresh_token);
    assert.equal(successor.status, 400);
  });

  test('50 concurrent polls of one approved code create exactly one token family, with one live refresh token', async () => {
    const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv', scope: 'openid offline_access' });
    assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
    const familiesBefore = await familiesOfDemo();
    const results = await Promise.all(Array.from({ length: 50 }, () => pollToken(dg, 'demo-tv', authorization.device_code)));
    // Polls after the first redemption are retries of the same client (REDEEM-RETRY): each gets
    // a fresh set of the one family and revokes the set before it.
    const granted = results.filter((result) => result.status === 200);
    assert.ok(granted.length >= 1);
    for (const result of results.filter((result) => result.status !== 200)) {
      assert.equal(result.status, 400);
      assert.equal(result.body.error, 'invalid_grant');
    }
    const { store } = dg.appliance.context;
    const familiesAfter = await familiesOfDemo();
    assert.equal(familiesAfter.length, familiesBefore.length + 1);
    const redeemed = await store.deviceGrants.findLiveByUserCode(authorization.user_code.replace('-', ''), Date.now());
    assert.equal(redeemed?.status, 'redeemed');
    assert.ok(familiesAfter.some((grant) => grant.id === redeemed?.grantId));
    const refreshTokens = await Promise.all(granted.map((result) => store.refreshTokens.find(hashSecret(result.body.refresh_token))));
    assert.ok(refreshTokens.every((token) => token?.grantId === redeemed?.grantId));
    assert.equal(refreshTokens.filter((token) => token?.revokedAt === null).length, 1, 'one live refresh token');
  });
});
