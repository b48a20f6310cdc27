// signIn.localPasswords off (docs/security.md UPSTREAM-PASSWORDS-OFF): the sign-in page offers only
// the upstream providers, and a password POST is refused, even with the right password, by the
// page and by the port behind it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createVerificationPort } from '@devicegate/server';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { freePort } from '../support/ports.ts';
import { createPageSession, csrfOf, EN, message } from './support.ts';

let dg: TestAppliance;
before(async () => {
  // The provider is never reached here: the page lists it from the configuration alone.
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  dg = await startTestAppliance({
    overrides: {
      signIn: {
        localPasswords: false,
        providers: [
          { id: 'corp', issuer: nowhere, clientId: 'devicegate', clientSecret: 'a-client-secret-for-tests', label: 'Corp' },
          { id: 'partner', issuer: nowhere, clientId: 'devicegate', clientSecret: 'a-client-secret-for-tests', label: 'Partner' },
        ],
      },
    },
  });
});
after(() => dg.stop());

test('the sign-in page offers only the providers: one button each, no password form', async () => {
  const person = createPageSession(dg.issuer);
  const page = await person.request('/device/sign-in');
  assert.equal(page.status, 200);
  assert.ok(page.text.includes(message(EN, 'signIn.withProvider', { provider: 'Corp' })));
  assert.ok(page.text.includes(message(EN, 'signIn.withProvider', { provider: 'Partner' })));
  assert.ok(!page.text.includes('name="password"'), 'no password field');
  assert.ok(!page.text.includes(message(EN, 'signIn.or')));
});

test('a password POST is refused with 403 even with the right password, and nobody is signed in', async () => {
  const person = createPageSession(dg.issuer);
  const page = await person.request('/device/sign-in');
  const refused = await person.request('/device/sign-in', { form: { csrf: csrfOf(page.text), next: 'devices', username: 'demo', password: DEMO_PASSWORD } });
  assert.equal(refused.status, 403);
  assert.ok(refused.text.includes(message(EN, 'signIn.passwordsOff')));
  const devices = await person.request('/device/devices');
  assert.equal(devices.status, 303, 'still signed out');
  assert.match(devices.location ?? '', /\/device\/sign-in/);
});

test('the port refuses a password sign-in too, for any other front end', async () => {
  const port = createVerificationPort(dg.appliance.context);
  assert.deepEqual(await port.signInWithPassword({ username: 'demo', password: DEMO_PASSWORD, address: '127.0.0.1' }), { kind: 'disabled' });
});

test('the page CSP lets the forms reach the providers and nothing else', async () => {
  const page = await createPageSession(dg.issuer).request('/device/sign-in');
  const policy = page.headers.get('content-security-policy') ?? '';
  assert.match(policy, /form-action 'self' http:\/\/127\.0\.0\.1:\d+(;|$)/);
  assert.match(policy, /script-src 'self';/);
  assert.match(policy, /style-src 'self';/);
});
