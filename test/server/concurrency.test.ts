// Single use under concurrency (RFC 8628 §3.5; docs/security.md POLL-SINGLE-USE,
// CODE-ONE-DECISION): a device code is redeemed into one family however many polls arrive together, and a user
// code is decided once however many browsers decide it together.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashSecret } from '../../server/src/secrets.ts';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { deviceAuthorize, pollToken } from './http.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance();
});
after(() => dg.stop());

test('50 concurrent polls of one approved code create exactly one token family, with one live refresh token', async () => {
  const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv', scope: 'openid offline_access' });
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
  const results = await Promise.all(Array.from({ length: 50 }, () => pollToken(dg, 'demo-tv', authorization.device_code)));
  // The same client polling again within the retry window is a retry (docs/security.md
  // REDEEM-RETRY): it gets a fresh set of the one family and the set before it is revoked.
  for (const result of results) {
    if (result.status !== 200) {
      assert.equal(result.status, 400);
      assert.equal(result.body.error, 'invalid_grant');
    }
  }
  assert.ok(results.some((result) => result.status === 200));
  const { store } = dg.appliance.context;
  const grants = (await store.grants.listByUser(dg.demoUserId)).filter((grant) => grant.clientId === 'demo-tv');
  const deviceGrant = await store.deviceGrants.findLiveByUserCode(authorization.user_code.replace('-', ''), Date.now());
  assert.equal(deviceGrant?.status, 'redeemed');
  assert.equal(grants.filter((grant) => grant.id === deviceGrant?.grantId).length, 1);
  const refreshTokens = await Promise.all(
    results.filter((result) => result.status === 200).map((result) => store.refreshTokens.find(hashSecret(result.body.refresh_token))),
  );
  assert.ok(refreshTokens.every((token) => token?.grantId === deviceGrant?.grantId), 'every answer belongs to the one family');
  assert.equal(refreshTokens.filter((token) => token?.revokedAt === null).length, 1, 'one live refresh token');
});

test('approving the same code twice has one winner', async () => {
  const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  const { approval } = dg.appliance.context;
  assert.equal(await approval.approveUserCode(authorization.user_code, dg.demoUserId), true);
  assert.equal(await approval.approveUserCode(authorization.user_code, dg.demoUserId), false);
});

test('approvals from 20 browsers at once have exactly one winner', async () => {
  const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  const { approval } = dg.appliance.context;
  const pending = await approval.findPending(authorization.user_code);
  assert.ok(pending);
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, () => approval.approve({ deviceGrantId: pending.deviceGrant.id, userId: dg.demoUserId })),
  );
  assert.equal(outcomes.filter(Boolean).length, 1);
});

test('an approval racing a denial has exactly one winner, and the device sees that outcome', async () => {
  const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  const { approval } = dg.appliance.context;
  const pending = await approval.findPending(authorization.user_code);
  assert.ok(pending);
  const id = pending.deviceGrant.id;
  const outcomes = await Promise.all([
    approval.deny({ deviceGrantId: id, userId: dg.demoUserId }),
    approval.approve({ deviceGrantId: id, userId: dg.demoUserId }),
    approval.deny({ deviceGrantId: id, userId: dg.demoUserId }),
    approval.approve({ deviceGrantId: id, userId: dg.demoUserId }),
  ]);
  assert.equal(outcomes.filter(Boolean).length, 1);
  const denied = outcomes[0] || outcomes[2];
  const result = await pollToken(dg, 'demo-tv', authorization.device_code);
  if (denied) assert.equal(result.body.error, 'access_denied');
  else assert.equal(result.status, 200);
});

test('a decided user code is dead: it is no longer found as pending', async () => {
  const authorization = await deviceAuthorize(dg, { client_id: 'demo-tv' });
  const { approval } = dg.appliance.context;
  assert.equal(await approval.denyUserCode(authorization.user_code, dg.demoUserId), true);
  assert.equal(await approval.findPending(authorization.user_code), null);
  assert.equal(await approval.approveUserCode(authorization.user_code, dg.demoUserId), false);
});
