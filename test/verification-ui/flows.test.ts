// A person approves (or denies) a device on the real pages in headless Chromium on a phone-sized
// screen, while the device, openid-client, waits on the token endpoint. Every page is scanned by
// axe-core; the README's screenshots are taken here.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { chromiumAvailable, launchChromium, newPhoneContext } from '../support/chromium.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { assertIncludes, documentLanguage, heading, mainText, press, signIn, tabTo } from './browser.ts';
import { alertText, assertAccessible, deviceConfig, EN, message, ROOMY_LIMITS, screenshot, startDeviceFlow, type Outcome } from './support.ts';

describe('verification pages in Chromium', { skip: skipWithoutRealPart('chromium', chromiumAvailable()) }, () => {
  let dg: TestAppliance;
  let browser: Browser;
  let device: client.Configuration;

  before(async () => {
    // pollInterval 1: openid-client honours `interval`, and 5 s per poll would only slow the suite.
    dg = await startTestAppliance({ overrides: { pollInterval: 1, limits: ROOMY_LIMITS } });
    browser = await launchChromium();
    device = await deviceConfig(dg.issuer);
  });
  after(async () => {
    await browser?.close();
    await dg?.stop();
  });

  async function phone(options: { javaScriptEnabled?: boolean } = {}): Promise<Page> {
    const context = await newPhoneContext(browser, options);
    return context.newPage();
  }

  function tokensOf(outcome: Outcome) {
    assert.equal(outcome.kind, 'tokens', outcome.kind === 'error' ? `the device got ${outcome.error}` : '');
    return (outcome as Extract<Outcome, { kind: 'tokens' }>).tokens;
  }

  test('QR path: the link fills in the code, the person confirms it, signs in and approves; the device gets its tokens', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid profile offline_access', device_name: 'Living room TV', device_model: 'Example TV 55' });
    const page = await phone();
    await page.goto(flow.authorization.verification_uri_complete!);
    assert.equal(await documentLanguage(page), 'en');
    assert.equal(await heading(page), message(EN, 'code.title'));
    assert.equal(await page.getByLabel('Code', { exact: true }).inputValue(), flow.authorization.user_code);
    assertIncludes(await mainText(page), message(EN, 'code.introPrefilled'));
    await assertAccessible(page);
    await screenshot(page, 'enter-code');

    assert.equal(await press(page, 'Continue'), 200);
    assert.equal(await heading(page), 'Sign in');
    await assertAccessible(page);
    await screenshot(page, 'sign-in');

    assert.equal(await signIn(page, 'demo', DEMO_PASSWORD), 200);
    assert.equal(await heading(page), message(EN, 'consent.title'));
    const consent = await mainText(page);
    for (const part of ['Demo TV', 'Living room TV', 'Example TV 55', flow.authorization.user_code, '127.0.0.1', message(EN, 'scope.openid'), message(EN, 'scope.profile'), message(EN, 'scope.offline_access'), message(EN, 'consent.warning')]) {
      assertIncludes(consent, part);
    }
    await assertAccessible(page);
    await screenshot(page, 'consent');

    assert.equal(await press(page, 'Approve'), 200);
    assert.equal(await mainText(page), `${message(EN, 'done.approvedTitle')} ${message(EN, 'done.approved', { device: 'Living room TV' })} ${message(EN, 'done.myDevices')}`);
    assertIncludes(await mainText(page), "You're signed in on Living room TV. You can close this page.");
    await assertAccessible(page);
    await screenshot(page, 'done');

    const tokens = tokensOf(await flow.outcome);
    assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
    assert.deepEqual(tokens.scope?.split(' ').sort(), ['offline_access', 'openid', 'profile']);
    await page.context().close();
  });

  test('typed path: the code in lower case without the dash is formatted as typed and accepted; an unticked scope is not granted', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid profile email offline_access', device_name: 'Bedroom TV' });
    const page = await phone();
    await page.goto(flow.authorization.verification_uri);
    assert.equal(await page.getByLabel('Code', { exact: true }).inputValue(), '');
    await page.getByLabel('Code', { exact: true }).pressSequentially(flow.authorization.user_code.replace('-', '').toLowerCase());
    assert.equal(await page.getByLabel('Code', { exact: true }).inputValue(), flow.authorization.user_code, 'the script formats the code as the device shows it');
    await assertAccessible(page);
    await press(page, 'Continue');
    await signIn(page, 'demo', DEMO_PASSWORD);
    assert.equal(await heading(page), message(EN, 'consent.title'));
    await page.getByLabel(message(EN, 'scope.email')).uncheck();
    assert.equal(await page.getByLabel(message(EN, 'scope.openid')).isDisabled(), true, 'openid cannot be unticked');
    await press(page, 'Approve');
    assertIncludes(await mainText(page), message(EN, 'done.approved', { device: 'Bedroom TV' }));
    const tokens = tokensOf(await flow.outcome);
    assert.deepEqual(tokens.scope?.split(' ').sort(), ['offline_access', 'openid', 'profile']);
    await page.context().close();
  });

  test('with JavaScript off, the whole path works: lower-case code without the dash, sign-in, consent, done', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid offline_access', device_name: 'Meeting room note-taker', device_model: 'Pi 5' });
    const page = await phone({ javaScriptEnabled: false });
    await page.goto(flow.authorization.verification_uri);
    const typed = flow.authorization.user_code.replace('-', '').toLowerCase();
    await page.getByLabel('Code', { exact: true }).fill(typed);
    assert.equal(await page.getByLabel('Code', { exact: true }).inputValue(), typed, 'no script ran: the server does the normalizing');
    await assertAccessible(page);
    assert.equal(await press(page, 'Continue'), 200);
    await assertAccessible(page);
    assert.equal(await signIn(page, 'demo', DEMO_PASSWORD), 200);
    await assertAccessible(page);
    assert.equal(await press(page, 'Approve'), 200);
    assertIncludes(await mainText(page), message(EN, 'done.approved', { device: 'Meeting room note-taker' }));
    await assertAccessible(page);
    tokensOf(await flow.outcome);
    await page.context().close();
  });

  test('deny: the page says sign-in was denied and the device is told access_denied', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid profile', device_name: 'Unknown TV' });
    const page = await phone();
    await page.goto(flow.authorization.verification_uri_complete!);
    await press(page, 'Continue');
    await signIn(page, 'demo', DEMO_PASSWORD);
    assert.equal(await press(page, 'Deny'), 200);
    assert.equal(await heading(page), message(EN, 'done.deniedTitle'));
    assertIncludes(await mainText(page), 'Sign-in was denied.');
    await assertAccessible(page);
    await screenshot(page, 'denied');
    assert.deepEqual(await flow.outcome, { kind: 'error', error: 'access_denied' });
    await page.context().close();
  });

  test('wrong password: a clear message and 401, then the right one goes on to consent', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid', device_name: 'Hall TV' });
    const page = await phone();
    await page.goto(flow.authorization.verification_uri_complete!);
    await press(page, 'Continue');
    assert.equal(await signIn(page, 'demo', 'not-the-password'), 401);
    assert.equal(await heading(page), 'Sign in');
    assert.equal(await alertText(page), message(EN, 'signIn.failed'));
    assert.equal(await page.getByLabel('Username', { exact: true }).inputValue(), 'demo');
    await assertAccessible(page);
    assert.equal(await signIn(page, 'demo', DEMO_PASSWORD), 200);
    assert.equal(await heading(page), message(EN, 'consent.title'));
    flow.abort();
    await flow.outcome;
    await page.context().close();
  });

  test('a used code gets the same message as any unknown code', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid', device_name: 'Office TV' });
    const first = await phone();
    await first.goto(flow.authorization.verification_uri_complete!);
    await press(first, 'Continue');
    await signIn(first, 'demo', DEMO_PASSWORD);
    await press(first, 'Approve');
    tokensOf(await flow.outcome);

    const second = await phone();
    await second.goto(flow.authorization.verification_uri_complete!);
    assert.equal(await press(second, 'Continue'), 400);
    assert.equal(await alertText(second), message(EN, 'code.invalid'));
    assert.equal(await heading(second), message(EN, 'code.title'));
    await assertAccessible(second);
    await first.context().close();
    await second.context().close();
  });

  test('My devices: signing out one device revokes its refresh and access tokens at once; the other keeps working', async () => {
    await dg.addUser('alice', 'alice-password-123');
    const page = await phone();
    const approve = async (deviceName: string, deviceModel: string) => {
      const flow = await startDeviceFlow(device, { scope: 'openid profile offline_access', device_name: deviceName, device_model: deviceModel });
      await page.goto(flow.authorization.verification_uri_complete!);
      await press(page, 'Continue');
      if ((await heading(page)) === 'Sign in') await signIn(page, 'alice', 'alice-password-123');
      await press(page, 'Approve');
      return tokensOf(await flow.outcome);
    };
    const tv = await approve('Living room TV', 'Example TV 55');
    const translator = await approve('Kitchen translator', 'Pi 5');

    assert.equal(await press(page, message(EN, 'done.myDevices'), 'link'), 200);
    assert.equal(await heading(page), 'My devices');
    const listed = await mainText(page);
    for (const part of ['Living room TV', 'Example TV 55', 'Kitchen translator', 'Pi 5', 'Demo TV', 'Approved', 'Last used']) assertIncludes(listed, part);
    await assertAccessible(page);
    await screenshot(page, 'my-devices');

    assert.equal(await press(page, 'Sign out Kitchen translator'), 200);
    const after = await mainText(page);
    assertIncludes(after, message(EN, 'devices.signedOut'));
    assert.ok(!after.includes('Kitchen translator'), 'the signed-out device is no longer listed');
    assertIncludes(after, 'Living room TV');
    await assertAccessible(page);

    await assert.rejects(client.refreshTokenGrant(device, translator.refresh_token!), (error: { error?: string }) => error.error === 'invalid_grant');
    const userinfo = await fetch(`${dg.issuer}/oauth/userinfo`, { headers: { authorization: `Bearer ${translator.access_token}` } });
    assert.equal(userinfo.status, 401, 'the access token is revoked with it');
    const stillSignedIn = await client.refreshTokenGrant(device, tv.refresh_token!);
    assert.ok(stillSignedIn.access_token, 'the other device keeps working');
    await page.context().close();
  });

  test('signing out of the pages: the header button ends the session', async () => {
    const page = await phone();
    await page.goto(`${dg.issuer}/device/devices`);
    assert.equal(await heading(page), 'Sign in');
    await signIn(page, 'demo', DEMO_PASSWORD);
    assert.equal(await heading(page), 'My devices');
    assert.equal(await press(page, 'Sign out'), 200);
    assert.equal(await heading(page), message(EN, 'code.title'));
    assertIncludes(await mainText(page), message(EN, 'notice.signedOut'));
    await assertAccessible(page);
    await page.goto(`${dg.issuer}/device/devices`);
    assert.equal(await heading(page), 'Sign in');
    await page.context().close();
  });
  test('keyboard only: Tab and Enter take a person from the code to done, and the skip link shows when focused', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid profile', device_name: 'Study TV' });
    const page = await phone();
    await page.goto(flow.authorization.verification_uri_complete!);
    await page.keyboard.press('Tab');
    const skip = page.getByRole('link', { name: message(EN, 'layout.skip'), exact: true });
    assert.ok(await skip.evaluate((element) => element === document.activeElement));
    assert.ok(await skip.isVisible(), 'the focused skip link is on screen');
    await tabTo(page, 'button', 'Continue');
    await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
    assert.equal(await heading(page), 'Sign in');
    await tabTo(page, 'textbox', 'Username');
    await page.keyboard.type('demo');
    await page.keyboard.press('Tab');
    await page.keyboard.type(DEMO_PASSWORD);
    await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
    assert.equal(await heading(page), message(EN, 'consent.title'));
    await tabTo(page, 'checkbox', message(EN, 'scope.profile'));
    await page.keyboard.press('Space');
    assert.equal(await page.getByLabel(message(EN, 'scope.profile')).isChecked(), false);
    await tabTo(page, 'button', 'Approve');
    await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
    assertIncludes(await mainText(page), message(EN, 'done.approved', { device: 'Study TV' }));
    assert.deepEqual(tokensOf(await flow.outcome).scope?.split(' '), ['openid']);
    await page.context().close();
  });

  test('in the dark colour scheme the pages pass the same accessibility scan', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid profile', device_name: 'Night TV' });
    const context = await newPhoneContext(browser, { colorScheme: 'dark' });
    const page = await context.newPage();
    await page.goto(flow.authorization.verification_uri);
    await page.getByLabel('Code', { exact: true }).fill('BCDF-GHJK');
    await press(page, 'Continue');
    assert.equal(await alertText(page), message(EN, 'code.invalid'));
    await assertAccessible(page);
    await page.getByLabel('Code', { exact: true }).fill(flow.authorization.user_code);
    await press(page, 'Continue');
    await signIn(page, 'demo', 'wrong-password');
    await assertAccessible(page);
    await signIn(page, 'demo', DEMO_PASSWORD);
    await assertAccessible(page);
    await press(page, 'Approve');
    await assertAccessible(page);
    await press(page, message(EN, 'done.myDevices'), 'link');
    await assertAccessible(page);
    tokensOf(await flow.outcome);
    await context.close();
  });
});
