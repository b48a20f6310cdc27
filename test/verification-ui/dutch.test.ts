// The pages in Dutch: chosen from Accept-Language, and by the switch on the page (remembered).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { chromiumAvailable, launchChromium, newPhoneContext } from '../support/chromium.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { assertIncludes, documentLanguage, heading, mainText, press, signIn } from './browser.ts';
import { assertAccessible, deviceConfig, EN, message, NL, ROOMY_LIMITS, screenshot, startDeviceFlow } from './support.ts';

const DUTCH_SIGN_IN = { username: 'Gebruikersnaam', password: 'Wachtwoord', submit: 'Inloggen' };

describe('Dutch pages in Chromium', { skip: skipWithoutRealPart('chromium', chromiumAvailable()) }, () => {
  let dg: TestAppliance;
  let browser: Browser;
  before(async () => {
    dg = await startTestAppliance({ overrides: { pollInterval: 1, limits: ROOMY_LIMITS } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await dg?.stop();
  });

  async function phone(locale: string): Promise<Page> {
    return (await newPhoneContext(browser, { locale })).newPage();
  }

  test('Accept-Language nl gives Dutch pages from the code to done, scopes included', async () => {
    const flow = await startDeviceFlow(await deviceConfig(dg.issuer), { scope: 'openid profile email offline_access', device_name: 'Woonkamer-tv', device_model: 'Voorbeeld TV 55' });
    const page = await phone('nl-NL');
    await page.goto(flow.authorization.verification_uri_complete!);
    assert.equal(await documentLanguage(page), 'nl');
    assert.equal(await heading(page), message(NL, 'code.title'));
    assert.equal(await page.getByLabel('Code', { exact: true }).inputValue(), flow.authorization.user_code);
    await assertAccessible(page);

    assert.equal(await press(page, 'Doorgaan'), 200);
    assert.equal(await heading(page), 'Inloggen');
    await assertAccessible(page);
    assert.equal(await signIn(page, 'demo', 'fout-wachtwoord', DUTCH_SIGN_IN), 401);
    assertIncludes(await mainText(page), message(NL, 'signIn.failed'));
    assert.equal(await signIn(page, 'demo', DEMO_PASSWORD, DUTCH_SIGN_IN), 200);

    assert.equal(await heading(page), message(NL, 'consent.title'));
    const consent = await mainText(page);
    for (const key of ['scope.openid', 'scope.profile', 'scope.email', 'scope.offline_access', 'consent.warning']) assertIncludes(consent, message(NL, key));
    assertIncludes(consent, 'Woonkamer-tv');
    assert.ok(!consent.includes(message(EN, 'scope.profile')), 'no English left on the page');
    assert.ok(await page.getByRole('button', { name: 'Weigeren', exact: true }).isVisible());
    await assertAccessible(page);
    await screenshot(page, 'nl-consent');

    assert.equal(await press(page, 'Goedkeuren'), 200);
    assertIncludes(await mainText(page), 'Je bent ingelogd op Woonkamer-tv. Je kunt deze pagina sluiten.');
    await assertAccessible(page);
    assert.equal((await flow.outcome).kind, 'tokens');
    await page.context().close();
  });

  test('the language switch turns the pages Dutch and they stay Dutch, until switched back', async () => {
    const page = await phone('en-US');
    await page.goto(`${dg.issuer}/device`);
    assert.equal(await heading(page), message(EN, 'code.title'));
    assert.equal(await press(page, 'Nederlands', 'link'), 200);
    assert.equal(await documentLanguage(page), 'nl');
    assert.equal(await heading(page), message(NL, 'code.title'));
    assert.ok(await page.getByRole('button', { name: 'Doorgaan', exact: true }).isVisible());
    await assertAccessible(page);

    await page.goto(`${dg.issuer}/device/sign-in`);
    assert.equal(await heading(page), 'Inloggen', 'the choice is remembered across pages');
    assert.equal(await press(page, 'English', 'link'), 200);
    assert.equal(await heading(page), 'Sign in');
    await page.goto(`${dg.issuer}/device`);
    assert.equal(await documentLanguage(page), 'en');
    await page.context().close();
  });

  test('the switch keeps the code from the link', async () => {
    const page = await phone('en-US');
    await page.goto(`${dg.issuer}/device?user_code=BCDF-GHJK`);
    await press(page, 'Nederlands', 'link');
    assert.equal(await page.getByLabel('Code', { exact: true }).inputValue(), 'BCDF-GHJK');
    assertIncludes(await mainText(page), message(NL, 'code.introPrefilled'));
    await page.context().close();
  });
});
