// The guess limit and an expired code, in Chromium. Each gets an appliance of its own: the guess
// limit needs the default limits untouched by other tests, and expiry needs a clock the test can
// move forward (the appliance's clock runs `skew` ahead of real time, so polling still paces
// itself, and nothing waits for ten real minutes).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { chromiumAvailable, launchChromium, newPhoneContext } from '../support/chromium.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { heading, mainText, press, signIn, assertIncludes } from './browser.ts';
import { alertText, assertAccessible, deviceConfig, EN, message, startDeviceFlow } from './support.ts';

/** A live-format code that differs from `userCode` in its first letter. */
function anotherCode(userCode: string): string {
  return `${userCode[0] === 'B' ? 'C' : 'B'}${userCode.slice(1)}`;
}

describe('limits and expiry in Chromium', { skip: skipWithoutRealPart('chromium', chromiumAvailable()) }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  async function phone(): Promise<Page> {
    return (await newPhoneContext(browser)).newPage();
  }

  describe('guess limit', () => {
    let dg: TestAppliance;
    before(async () => {
      dg = await startTestAppliance({ overrides: { pollInterval: 1 } });
    });
    after(() => dg?.stop());

    test('after 10 wrong codes in a minute the page says to wait (429), and even the right code waits', async () => {
      const flow = await startDeviceFlow(await deviceConfig(dg.issuer), { scope: 'openid', device_name: 'Lobby TV' });
      const page = await phone();
      await page.goto(flow.authorization.verification_uri);
      const wrong = anotherCode(flow.authorization.user_code);
      for (let attempt = 0; attempt < 10; attempt++) {
        await page.getByLabel('Code', { exact: true }).fill(wrong);
        assert.equal(await press(page, 'Continue'), 400, `attempt ${attempt + 1}`);
        assert.equal(await alertText(page), message(EN, 'code.invalid'));
      }
      await page.getByLabel('Code', { exact: true }).fill(flow.authorization.user_code);
      assert.equal(await press(page, 'Continue'), 429);
      assert.match((await alertText(page)) ?? '', /^Too many codes tried\. For your safety, wait and try again in \d+ seconds\.$/);
      assert.equal(await heading(page), message(EN, 'code.title'));
      await assertAccessible(page);
      flow.abort();
      await flow.outcome;
      await page.context().close();
    });
  });

  describe('expiry', () => {
    let dg: TestAppliance;
    let skew = 0;
    before(async () => {
      dg = await startTestAppliance({ overrides: { pollInterval: 1 }, deps: { clock: { now: () => Date.now() + skew } } });
    });
    after(() => dg?.stop());

    test('an expired code gets the same message as an unknown one, and the device is told expired_token', async () => {
      const flow = await startDeviceFlow(await deviceConfig(dg.issuer), { scope: 'openid', device_name: 'Garage TV' });
      const page = await phone();
      await page.goto(flow.authorization.verification_uri_complete!);
      assert.equal(await page.getByLabel('Code', { exact: true }).inputValue(), flow.authorization.user_code);
      skew += (flow.authorization.expires_in + 1) * 1000;
      assert.equal(await press(page, 'Continue'), 400);
      assert.equal(await alertText(page), message(EN, 'code.invalid'));
      await assertAccessible(page);
      assert.deepEqual(await flow.outcome, { kind: 'error', error: 'expired_token' });
      await page.context().close();
    });

    test('a code that expires while the consent page is open cannot be approved, and the page says so', async () => {
      const flow = await startDeviceFlow(await deviceConfig(dg.issuer), { scope: 'openid', device_name: 'Attic TV' });
      const page = await phone();
      await page.goto(flow.authorization.verification_uri_complete!);
      await press(page, 'Continue');
      await signIn(page, 'demo', DEMO_PASSWORD);
      assert.equal(await heading(page), message(EN, 'consent.title'));
      skew += (flow.authorization.expires_in + 1) * 1000;
      assert.equal(await press(page, 'Approve'), 410);
      assert.equal(await heading(page), message(EN, 'consent.usedTitle'));
      assertIncludes(await mainText(page), message(EN, 'consent.used'));
      await assertAccessible(page);
      assert.deepEqual(await flow.outcome, { kind: 'error', error: 'expired_token' });
      await page.context().close();
    });
  });
});
