// Failed passwords from elsewhere cannot lock an account's owner out (docs/security.md
// SIGN-IN-NO-LOCKOUT): a browser that signed in to the account before is counted apart, while a
// guesser, from any browser the account has not seen, is still held back after 5 failures.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { createPageSession, csrfOf, type PageSession } from '../verification-ui/support.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance({ overrides: { trustProxy: true } });
});
after(() => dg.stop());

let nextHost = 1;
const browser = (): PageSession => createPageSession(dg.issuer, { 'x-forwarded-for': `198.51.100.${nextHost++}` });

async function signIn(session: PageSession, username: string, password: string): Promise<number> {
  const page = await session.request('/device/sign-in');
  return (await session.request('/device/sign-in', { form: { csrf: csrfOf(page.text), username, password } })).status;
}

async function signOut(session: PageSession): Promise<void> {
  const devices = await session.request('/device/devices');
  assert.equal((await session.request('/device/sign-out', { form: { csrf: csrfOf(devices.text) } })).status, 303);
}

/** An attacker's wrong passwords, each from a browser and address of its own. */
async function failFromElsewhere(username: string, times: number): Promise<void> {
  for (let attempt = 0; attempt < times; attempt++) await signIn(browser(), username, `wrong-${attempt}`);
}

test("an attacker's failures do not lock the owner out of a browser that signed in before", async () => {
  await dg.addUser('owner', 'owner-password-123');
  const owners = browser();
  assert.equal(await signIn(owners, 'owner', 'owner-password-123'), 303);
  await signOut(owners);
  await failFromElsewhere('owner', 12);
  assert.equal(await signIn(owners, 'owner', 'owner-password-123'), 303, 'the owner signs in again');
});

test('a browser the account has not seen still waits after 5 failures, even with the right password', async () => {
  await dg.addUser('guessed', 'guessed-password-123');
  await failFromElsewhere('guessed', 5);
  assert.equal(await signIn(browser(), 'guessed', 'guessed-password-123'), 429);
});

test("one account's known-browser ticket is no pass for another account", async () => {
  await dg.addUser('first', 'first-password-123');
  await dg.addUser('second', 'second-password-123');
  const session = browser();
  assert.equal(await signIn(session, 'first', 'first-password-123'), 303);
  await signOut(session);
  await failFromElsewhere('second', 5);
  assert.equal(await signIn(session, 'second', 'second-password-123'), 429);
});

test('a known browser guessing is itself held back after 5 failures', async () => {
  await dg.addUser('careless', 'careless-password-123');
  const session = browser();
  assert.equal(await signIn(session, 'careless', 'careless-password-123'), 303);
  await signOut(session);
  const statuses: number[] = [];
  for (let attempt = 0; attempt < 6; attempt++) statuses.push(await signIn(session, 'careless', `wrong-${attempt}`));
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
});
