// Consent is bound to the browser flow that typed the user code (docs/security.md CONSENT-BOUND):
// another signed-in account that learns the request id (from the consent form, the done page's
// URL, a log) cannot approve the request as itself, which would skip code entry's guess limits
// and its audit.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { createPageSession, csrfOf, reachConsent, requestIdOf, type PageSession } from '../verification-ui/support.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance({ overrides: { trustProxy: true } });
  await dg.addUser('mallory', 'mallory-password');
});
after(() => dg.stop());

let nextHost = 1;
const person = (): PageSession => createPageSession(dg.issuer, { 'x-forwarded-for': `198.51.100.${nextHost++}` });

async function deviceAuthorization(): Promise<{ device_code: string; user_code: string }> {
  const response = await fetch(`${dg.issuer}/oauth/device_authorization`, {
    method: 'POST',
    headers: { 'x-forwarded-for': '198.51.100.200' },
    body: new URLSearchParams({ client_id: 'demo-tv', scope: 'openid profile' }),
  });
  assert.equal(response.status, 200);
  return (await response.json()) as { device_code: string; user_code: string };
}

/** Signs a browser in without entering any code; returns a page with its CSRF token. */
async function signedIn(session: PageSession, username: string, password: string): Promise<string> {
  const signInPage = await session.request('/device/sign-in');
  const signed = await session.request('/device/sign-in', { form: { csrf: csrfOf(signInPage.text), next: 'devices', username, password } });
  assert.equal(signed.status, 303);
  return csrfOf((await session.request('/device/devices')).text);
}

const statusOf = async (id: string) => (await dg.appliance.context.store.deviceGrants.findById(id))?.status;

test('another signed-in account that knows the request id cannot approve it', async () => {
  const authorization = await deviceAuthorization();
  const victim = person();
  const consent = await reachConsent(victim, authorization.user_code, { username: 'demo', password: DEMO_PASSWORD });
  const requestId = requestIdOf(consent.text);

  const mallory = person();
  const csrf = await signedIn(mallory, 'mallory', 'mallory-password');
  const bare = await mallory.request('/device/consent', { form: { csrf, request: requestId, decision: 'approve' } });
  assert.notEqual(bare.status, 303);
  assert.equal(await statusOf(requestId), 'pending');

  // Nor by planting the request id, or a made-up ticket for it, as the flow cookie.
  for (const planted of [requestId, `${requestId}.${'A'.repeat(43)}`]) {
    mallory.jar.set('devicegate-flow', planted);
    assert.equal((await mallory.request('/device/consent')).status === 200, false, 'no consent page for a planted flow');
    const decided = await mallory.request('/device/consent', { form: { csrf, request: requestId, decision: 'approve' } });
    assert.notEqual(decided.status, 303);
    assert.equal(await statusOf(requestId), 'pending');
  }

  // The person who typed the code still decides.
  const approved = await victim.request('/device/consent', { form: { csrf: csrfOf(consent.text), request: requestId, decision: 'approve' } });
  assert.equal(approved.status, 303);
  assert.equal((await dg.appliance.context.store.deviceGrants.findById(requestId))?.userId, dg.demoUserId);
});

test('a browser whose flow names another request cannot decide this one by its id', async () => {
  const first = await deviceAuthorization();
  const second = await deviceAuthorization();
  const session = person();
  const firstConsent = await reachConsent(session, first.user_code, { username: 'demo', password: DEMO_PASSWORD });
  const firstId = requestIdOf(firstConsent.text);
  // The same browser then types the second code (another tab): its flow now names the second request.
  const codePage = await session.request('/device');
  assert.equal((await session.request('/device', { form: { csrf: csrfOf(codePage.text), user_code: second.user_code } })).status, 303);
  const stale = await session.request('/device/consent', { form: { csrf: csrfOf(firstConsent.text), request: firstId, decision: 'approve' } });
  assert.notEqual(stale.status, 303);
  assert.equal(await statusOf(firstId), 'pending');
});
