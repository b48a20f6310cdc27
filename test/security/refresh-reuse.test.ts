// RFC 9700 §4.14.2 (docs/security.md REFRESH-ROTATE, REFRESH-REUSE): a refresh token presented
// again after it was rotated means a copy is in someone else's hands. The whole grant is revoked
// (the legitimate holder's new tokens too) and the event is in the audit log.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { addIntrospector, introspect, refresh, signInDevice } from '../server/http.ts';

let dg: TestAppliance;
let introspector: { clientId: string; secret: string };
before(async () => {
  dg = await startTestAppliance();
  introspector = await addIntrospector(dg);
});
after(() => dg.stop());

test('a refresh token reused after rotation revokes the grant and writes refresh_token_reuse_detected', async () => {
  const { tokens } = await signInDevice(dg);
  const rotated = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(rotated.status, 200);
  const successor = rotated.body as { access_token: string; refresh_token: string };
  assert.notEqual(successor.refresh_token, tokens.refresh_token);

  // The device uses its successor; then the attacker's copy of the old token arrives (while the
  // successor is unused, the old token would be the device's own retry: REFRESH-RETRY).
  const used = await refresh(dg, 'demo-tv', successor.refresh_token);
  assert.equal(used.status, 200);
  const reuse = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(reuse.status, 400);
  assert.equal(reuse.body.error, 'invalid_grant');

  // The whole family is dead: the successor refresh token and every access token.
  const afterReuse = await refresh(dg, 'demo-tv', used.body.refresh_token);
  assert.equal(afterReuse.status, 400);
  assert.equal(afterReuse.body.error, 'invalid_grant');
  for (const token of [used.body.access_token, successor.access_token, tokens.access_token, used.body.refresh_token]) {
    const result = await introspect(dg, token, introspector);
    assert.equal(result.status, 200);
    assert.deepEqual(result.body, { active: false });
  }

  await dg.appliance.context.audit.flush?.();
  const events = await dg.appliance.context.store.auditEvents.list({ limit: 10_000 });
  const reused = events.filter((entry) => entry.event === 'refresh_token_reuse_detected');
  assert.equal(reused.length, 1);
  const grantId = reused[0]!.fields.grantId as string;
  assert.equal(reused[0]!.fields.clientId, 'demo-tv');
  assert.equal(reused[0]!.fields.userId, dg.demoUserId);
  const grant = await dg.appliance.context.store.grants.get(grantId);
  assert.ok(grant?.revokedAt, 'the grant named in the event is revoked');
  assert.equal(grant.revokedReason, 'refresh_token_reuse');
});

test('a copy of the old token played within the retry window wins nothing lasting: the device\'s next refresh revokes the family', async () => {
  const { tokens } = await signInDevice(dg);
  const device = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(device.status, 200);
  // The copy arrives before the device has used its successor: it looks like the device's retry.
  const attacker = await refresh(dg, 'demo-tv', tokens.refresh_token!);
  assert.equal(attacker.status, 200);
  // The device refreshes with the successor it holds, which the retry superseded: that is reuse.
  const next = await refresh(dg, 'demo-tv', device.body.refresh_token);
  assert.equal(next.body.error, 'invalid_grant');
  for (const token of [attacker.body.refresh_token, attacker.body.access_token]) {
    assert.deepEqual((await introspect(dg, token, introspector)).body, { active: false });
  }
});
