// Passkeys in headless Chromium with a virtual authenticator (the DevTools protocol's WebAuthn
// domain through playwright-core): a person signs in with their password, adds a passkey on My
// devices, and next time, in a new browser session holding that passkey, signs in with it alone
// and approves a device that openid-client is polling for. Without JavaScript the passkey parts
// are absent and the password path is whole; the CSP stays strict; a used assertion is refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { chromiumAvailable, launchChromium, newPhoneContext } from '../support/chromium.ts';
import { freePort } from '../support/ports.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { assertIncludes, heading, mainText, press, signIn } from './browser.ts';
import { assertAccessible, deviceConfig, EN, message, NL, ROOMY_LIMITS, startDeviceFlow, type Outcome } from './support.ts';

/** A platform authenticator with user verification (a phone's screen lock), that says yes at once. */
async function addAuthenticator(page: Page): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp, authenticatorId };
}

describe('passkeys in Chromium', { skip: skipWithoutRealPart('chromium', chromiumAvailable()) }, () => {
  let dg: TestAppliance;
  let browser: Browser;
  let device: client.Configuration;
  const contexts: BrowserContext[] = [];

  before(async () => {
    // WebAuthn needs a domain as relying party ID, not an IP address: the issuer is localhost.
    const port = await freePort();
    dg = await startTestAppliance({ overrides: { port, issuer: `http://localhost:${port}`, pollInterval: 1, limits: ROOMY_LIMITS } });
    browser = await launchChromium({ args: ['--host-resolver-rules=MAP localhost 127.0.0.1'] });
    device = await deviceConfig(dg.issuer);
  });
  after(async () => {
    await browser?.close();
    await dg?.stop();
  });

  async function phone(options: { javaScriptEnabled?: boolean; locale?: string } = {}): Promise<Page> {
    const context = await newPhoneContext(browser, options);
    contexts.push(context);
    return context.newPage();
  }

  function tokensOf(outcome: Outcome) {
    assert.equal(outcome.kind, 'tokens', outcome.kind === 'error' ? `the device got ${outcome.error}` : '');
    return (outcome as Extract<Outcome, { kind: 'tokens' }>).tokens;
  }

  async function auditEvents(name: string) {
    await dg.appliance.context.audit.flush?.();
    return (await dg.appliance.context.store.auditEvents.list({ limit: 10_000 })).filter((event) => event.event === name);
  }

  test('a passkey added on My devices signs the person in on a new session, with no password, and they approve a device', async () => {
    // First visit: the password, then "Add a passkey".
    const first = await phone();
    const { cdp, authenticatorId } = await addAuthenticator(first);
    await first.goto(`${dg.issuer}/device/sign-in?next=devices`);
    assert.equal(await signIn(first, 'demo', DEMO_PASSWORD), 200);
    assert.equal(await heading(first), message(EN, 'devices.title'));
    assertIncludes(await mainText(first), message(EN, 'passkey.none'));
    assert.equal(await press(first, message(EN, 'passkey.add')), 200);
    assertIncludes(await mainText(first), message(EN, 'passkey.addedNotice'));
    assertIncludes(await mainText(first), message(EN, 'passkey.label', { number: '1' }));
    await assertAccessible(first);
    const passkeys = await dg.appliance.context.store.passkeys.listByUser(dg.demoUserId);
    assert.equal(passkeys.length, 1);
    assert.equal((await auditEvents('passkey_registered')).length, 1);

    // The authenticator holds a discoverable credential for this relying party.
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]!.isResidentCredential, true);
    assert.equal(credentials[0]!.rpId, 'localhost');

    // Next time: a new browser session (no cookies) on the same phone, and a TV waiting.
    const flow = await startDeviceFlow(device, { scope: 'openid profile offline_access', device_name: 'Living room TV' });
    const second = await phone();
    const { cdp: secondCdp, authenticatorId: secondAuthenticator } = await addAuthenticator(second);
    await secondCdp.send('WebAuthn.addCredential', { authenticatorId: secondAuthenticator, credential: credentials[0]! });
    const signInPost = second.waitForRequest((request) => request.method() === 'POST' && request.url().endsWith('/device/passkeys/sign-in'));
    await second.goto(flow.authorization.verification_uri_complete!);
    assert.equal(await press(second, 'Continue'), 200);
    assert.equal(await heading(second), message(EN, 'signIn.title'));
    await assertAccessible(second);
    // PASSKEY-PHISHING: the options name the issuer's host as relying party and ask for user verification.
    const signInOptions = JSON.parse((await second.locator('form[data-passkey-form="sign-in"]').getAttribute('data-options'))!) as Record<string, unknown>;
    assert.equal(signInOptions.rpId, 'localhost');
    assert.equal(signInOptions.userVerification, 'required');
    assert.equal(await press(second, message(EN, 'passkey.signIn')), 200);
    assert.equal(await heading(second), message(EN, 'consent.title'));
    assertIncludes(await mainText(second), 'Living room TV');
    assert.equal(await press(second, 'Approve'), 200);
    assertIncludes(await mainText(second), message(EN, 'done.approved', { device: 'Living room TV' }));

    const tokens = tokensOf(await flow.outcome);
    assert.equal(decodeJwt(tokens.id_token!).sub, dg.demoUserId);
    const signedIn = (await auditEvents('sign_in_succeeded')).filter((event) => event.fields.method === 'passkey');
    assert.equal(signedIn.length, 1);
    assert.equal(signedIn[0]!.fields.userId, dg.demoUserId);
    assert.ok(((await dg.appliance.context.store.passkeys.get(passkeys[0]!.id))?.lastUsedAt ?? 0) > 0);

    // The same assertion posted again, with the same cookie and CSRF token: its challenge is used.
    const used = await signInPost;
    const replay = await fetch(used.url(), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: (await used.allHeaders()).cookie ?? '' },
      body: used.postData() ?? '',
      redirect: 'manual',
    });
    assert.equal(replay.status, 401);
    assert.equal((await auditEvents('sign_in_failed')).filter((event) => event.fields.method === 'passkey').length, 1);
  });

  test('a passkey answer made for another browser is refused: the challenge is bound to the cookie it was shown with', async () => {
    const page = await phone();
    await addAuthenticator(page);
    await page.goto(`${dg.issuer}/device/sign-in?next=devices`);
    await signIn(page, 'demo', DEMO_PASSWORD);
    // The registration answer is taken before it is posted, then posted from a second browser
    // session signed in to the same account.
    await page.route('**/device/passkeys/register', (route) => route.abort());
    const captured = page.waitForRequest((request) => request.url().endsWith('/device/passkeys/register'));
    await page.getByRole('button', { name: message(EN, 'passkey.add'), exact: true }).click();
    const response = new URLSearchParams((await captured).postData() ?? '').get('response')!;
    const other = await phone();
    await other.goto(`${dg.issuer}/device/sign-in?next=devices`);
    await signIn(other, 'demo', DEMO_PASSWORD);
    const before = (await dg.appliance.context.store.passkeys.listByUser(dg.demoUserId)).length;
    // From outside the page: its CSP (default-src 'none') lets no script of ours fetch.
    const cookie = (await other.context().cookies()).map((entry) => `${entry.name}=${entry.value}`).join('; ');
    const csrf = await other.locator('form[data-passkey-form="register"] input[name="csrf"]').getAttribute('value');
    const answer = await fetch(`${dg.issuer}/device/passkeys/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ csrf: csrf!, response }),
      redirect: 'manual',
    });
    assert.equal(answer.status, 303);
    const posted = answer.headers.get('location') ?? '';
    assert.match(posted, /notice=passkey-failed/);
    assert.equal((await dg.appliance.context.store.passkeys.listByUser(dg.demoUserId)).length, before);
  });

  test('without JavaScript the passkey parts are absent, the password path works and a passkey can be removed; the CSP allows no inline script', async () => {
    const page = await phone({ javaScriptEnabled: false });
    const shown = await page.goto(`${dg.issuer}/device/sign-in?next=devices`);
    const csp = shown!.headers()['content-security-policy']!;
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(await page.getByRole('button', { name: message(EN, 'passkey.signIn') }).count(), 0);
    assert.equal(await page.locator('script:not([src])').count(), 0, 'no inline script');
    assert.equal(await signIn(page, 'demo', DEMO_PASSWORD), 200);
    assert.equal(await heading(page), message(EN, 'devices.title'));
    assert.equal(await page.getByRole('button', { name: message(EN, 'passkey.add') }).count(), 0);
    await assertAccessible(page);

    // The passkey the first test added is listed, and removing it needs no script.
    const label = message(EN, 'passkey.label', { number: '1' });
    assert.equal(await press(page, message(EN, 'passkey.removeWhich', { passkey: label })), 200);
    assertIncludes(await mainText(page), message(EN, 'passkey.removedNotice'));
    assertIncludes(await mainText(page), message(EN, 'passkey.none'));
    assert.deepEqual(await dg.appliance.context.store.passkeys.listByUser(dg.demoUserId), []);
    assert.equal((await auditEvents('passkey_removed')).length, 1);

    // The library is served by devicegate itself, as a file.
    const sources = await page.locator('script[src]').evaluateAll((scripts) => scripts.map((script) => (script as HTMLScriptElement).src));
    const library = sources.find((source) => source.includes('/assets/webauthn.js'));
    assert.ok(library && library.startsWith(dg.issuer), `scripts: ${sources.join(', ')}`);
    const served = await fetch(library);
    assert.equal(served.status, 200);
    assert.match(served.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(await served.text(), /SimpleWebAuthnBrowser/);
  });

  test('in Dutch the passkey button speaks Dutch', async () => {
    const page = await phone({ locale: 'nl-NL' });
    await page.goto(`${dg.issuer}/device/sign-in?next=devices`);
    assert.equal(await heading(page), message(NL, 'signIn.title'));
    assert.equal(await page.getByRole('button', { name: message(NL, 'passkey.signIn'), exact: true }).count(), 1);
  });
});
