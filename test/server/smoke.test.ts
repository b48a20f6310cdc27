import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance();
});
after(() => dg.stop());

const form = (values: Record<string, string>) => new URLSearchParams(values);

test('a device signs in: authorize, pending, approve, tokens, refresh rotates', async () => {
  const authorization = await fetch(`${dg.issuer}/oauth/device_authorization`, {
    method: 'POST',
    body: form({ client_id: 'demo-tv', scope: 'openid profile offline_access' }),
  }).then((r) => r.json() as Promise<Record<string, string>>);
  const poll = () =>
    fetch(`${dg.issuer}/oauth/token`, {
      method: 'POST',
      body: form({ client_id: 'demo-tv', grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: authorization.device_code! }),
    });
  assert.equal(((await (await poll()).json()) as { error: string }).error, 'authorization_pending');
  assert.equal(await dg.appliance.context.approval.approveUserCode(authorization.user_code!, dg.demoUserId), true);
  const tokenResponse = await poll();
  assert.equal(tokenResponse.status, 200);
  const tokens = (await tokenResponse.json()) as Record<string, string>;
  assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
  const refreshed = await fetch(`${dg.issuer}/oauth/token`, {
    method: 'POST',
    body: form({ client_id: 'demo-tv', grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
  });
  assert.equal(refreshed.status, 200);
  // Once the successor is used, the rotated token is spent (before that, within the retry window,
  // presenting it again is the device's own retry: docs/security.md REFRESH-RETRY).
  const successor = (await refreshed.json()) as Record<string, string>;
  const next = await fetch(`${dg.issuer}/oauth/token`, {
    method: 'POST',
    body: form({ client_id: 'demo-tv', grant_type: 'refresh_token', refresh_token: successor.refresh_token! }),
  });
  assert.equal(next.status, 200);
  const again = await fetch(`${dg.issuer}/oauth/token`, {
    method: 'POST',
    body: form({ client_id: 'demo-tv', grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
  });
  assert.equal(again.status, 400);
});
