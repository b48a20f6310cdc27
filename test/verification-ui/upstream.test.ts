// Signing in through an upstream OpenID provider, end to end: a real provider (oidc-provider,
// test/support/upstream-provider.ts) with its own login page, devicegate's pages, both driven in
// headless Chromium, and a device that waits on the token endpoint (openid-client, and the real
// device client). Two providers are configured (one with a client secret, one with
// private_key_jwt), and a third that is down. Every failure path shows a page, never a 5xx, and
// the same device flow is finished afterwards. docs/security.md UPSTREAM-*.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startLogin } from '@devicegate/device-client';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { chromiumAvailable, launchChromium, newPhoneContext } from '../support/chromium.ts';
import { freePort } from '../support/ports.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { startUpstreamProvider, type UpstreamProvider } from '../support/upstream-provider.ts';
import { assertIncludes, heading, mainText, press } from './browser.ts';
import { assertAccessible, deviceConfig, EN, message, ROOMY_LIMITS, screenshot, startDeviceFlow, type Outcome } from './support.ts';

const ICON = `data:image/svg+xml;base64,${Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 20 20"><circle cx="10" cy="10" r="9" fill="#c2410c"/></svg>').toString('base64')}`;
const SECRET = 'upstream-client-secret-for-tests';

const ada = {
  login: 'ada',
  claims: { sub: 'ada-0001', preferred_username: 'ada', name: 'Ada Lovelace', email: 'ada@example.com', email_verified: true, groups: ['tv-users'] },
};
/** Signs in at the provider, but is not in the group devicegate admits. */
const eve = { login: 'eve', claims: { sub: 'eve-0002', preferred_username: 'eve', name: 'Eve', email: 'eve@example.com', email_verified: true, groups: ['guests'] } };
/** The same `sub` as ada, at the other provider: another person (linked by issuer and subject). */
const partnerAda = { login: 'ada', claims: { sub: 'ada-0001', name: 'Ada at Partner', email: 'ada@partner.example', email_verified: true } };

describe('upstream OpenID sign-in in Chromium', { skip: skipWithoutRealPart('chromium', chromiumAvailable()) }, () => {
  let example: UpstreamProvider;
  let partner: UpstreamProvider;
  let dg: TestAppliance;
  let browser: Browser;
  let device: client.Configuration;
  let skew = 0;

  before(async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const callback = (id: string) => `${issuer}/device/sign-in/${id}/callback`;
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = path.join(mkdtempSync(path.join(tmpdir(), 'devicegate-upstream-')), 'partner.pem');
    writeFileSync(keyFile, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));

    example = await startUpstreamProvider({
      accounts: [ada, eve],
      amr: ['pwd', 'mfa'],
      acr: 'urn:example:loa:2',
      clients: [{ client_id: 'devicegate', client_secret: SECRET, redirect_uris: [callback('example')], require_auth_time: true }],
    });
    partner = await startUpstreamProvider({
      accounts: [partnerAda],
      claimsInIdToken: true,
      clients: [
        {
          client_id: 'devicegate-jwt',
          redirect_uris: [callback('partner')],
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_signing_alg: 'ES256',
          jwks: { keys: [{ ...keys.publicKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256' }] },
        },
      ],
    });
    const down = `http://127.0.0.1:${await freePort()}`;
    const logoFile = path.join(path.dirname(keyFile), 'acme.svg');
    writeFileSync(logoFile, '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#c2410c"/><path d="M9 23 16 8l7 15z" fill="#fff"/></svg>');
    dg = await startTestAppliance({
      overrides: {
        port,
        pollInterval: 1,
        limits: ROOMY_LIMITS,
        branding: { productName: 'Acme TV', logoFile, primaryColor: '#9a3412', onPrimaryColor: '#ffffff', headerColor: '#fff7ed' },
        signIn: {
          providers: [
            {
              id: 'example',
              issuer: example.issuer,
              clientId: 'devicegate',
              clientSecret: SECRET,
              label: 'Example Corp',
              icon: ICON,
              scopes: ['openid', 'profile', 'email', 'groups'],
              requiredClaim: { name: 'groups', values: ['tv-users'] },
            },
            {
              id: 'partner',
              issuer: partner.issuer,
              clientId: 'devicegate-jwt',
              privateKeyFile: keyFile,
              label: 'Partner',
              allowedEmailDomains: ['partner.example'],
              userinfo: false,
              claims: { username: 'email' },
            },
            { id: 'down', issuer: down, clientId: 'devicegate', clientSecret: SECRET, label: 'Down Inc' },
          ],
          // The shortest allowed, so the expiry test's clock move stays far inside the device code's lifetime.
          flowLifetime: 60,
        },
      },
      deps: { clock: { now: () => Date.now() + skew } },
    });
    await dg.addClient({ clientId: 'acme-tv', name: 'Acme TV app', logoUri: ICON.replace('%23c2410c', '%239a3412') });
    browser = await launchChromium();
    device = await deviceConfig(dg.issuer);
  });
  after(async () => {
    await browser?.close();
    await dg?.stop();
    await example?.stop();
    await partner?.stop();
  });

  async function phone(): Promise<Page> {
    return (await newPhoneContext(browser)).newPage();
  }

  function tokensOf(outcome: Outcome) {
    assert.equal(outcome.kind, 'tokens', outcome.kind === 'error' ? `the device got ${outcome.error}` : '');
    return (outcome as Extract<Outcome, { kind: 'tokens' }>).tokens;
  }

  /** On the provider's own login page: types the account and signs in; returns the status devicegate's page ends with. */
  async function upstreamLogin(page: Page, login: string): Promise<number> {
    assert.equal(await heading(page), 'Sign in to the upstream');
    await page.getByLabel('Account', { exact: true }).fill(login);
    return press(page, 'Sign in');
  }

  /** From devicegate's sign-in page: the provider's button, its login page, back on devicegate. */
  async function signInWith(page: Page, label: string, login: string): Promise<number> {
    assert.equal(await press(page, `Continue with ${label}`), 200);
    return upstreamLogin(page, login);
  }

  /** The device's code entered from its QR link: the page ends on devicegate's sign-in page. */
  async function enterCode(page: Page, link: string): Promise<void> {
    await page.goto(link);
    assert.equal(await press(page, 'Continue'), 200);
    assert.equal(await heading(page), message(EN, 'signIn.title'));
  }

  async function approve(page: Page, deviceName: string): Promise<void> {
    assert.equal(await heading(page), message(EN, 'consent.title'));
    assertIncludes(await mainText(page), deviceName);
    assert.equal(await press(page, 'Approve'), 200);
    assertIncludes(await mainText(page), message(EN, 'done.approved', { device: deviceName }));
  }

  /**
   * Signs in at the provider; returns the callback URL it sends this browser to, stopped before
   * devicegate sees it. Through the DevTools protocol's Fetch domain, which (unlike page.route)
   * also pauses the requests a redirect leads to, as this one is.
   */
  async function captureCallback(page: Page, id: string): Promise<string> {
    const cdp = await page.context().newCDPSession(page);
    const captured = new Promise<string>((resolve) => {
      cdp.on('Fetch.requestPaused', (event: { requestId: string; request: { url: string } }) => {
        resolve(event.request.url);
        void cdp.send('Fetch.failRequest', { requestId: event.requestId, errorReason: 'Aborted' });
      });
    });
    await cdp.send('Fetch.enable', { patterns: [{ urlPattern: `*/device/sign-in/${id}/callback*`, requestStage: 'Request' }] });
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const url = await captured;
    await cdp.send('Fetch.disable');
    await cdp.detach();
    return url;
  }

  test('a person signs in at the provider and approves; the ID token carries the mapped claims and amr; three sign-ins make one user', async () => {
    const idTokens: Record<string, unknown>[] = [];
    for (const round of [1, 2]) {
      const flow = await startDeviceFlow(device, { scope: 'openid profile email offline_access', device_name: `TV ${round}` });
      const page = await phone();
      await enterCode(page, flow.authorization.verification_uri_complete!);
      if (round === 1) {
        await assertAccessible(page);
        await screenshot(page, 'sign-in-providers');
      }
      assert.equal(await signInWith(page, 'Example Corp', 'ada'), 200);
      await approve(page, `TV ${round}`);
      const tokens = tokensOf(await flow.outcome);
      idTokens.push(tokens.claims()!);
      await page.context().close();
    }

    // The third time through the real device client, polling.
    const login = await startLogin({ issuer: dg.issuer, clientId: 'demo-tv', scope: 'openid profile email', deviceName: 'TV 3', channel: 'poll' });
    const waiting = login.wait();
    const page = await phone();
    await enterCode(page, login.verificationUriComplete!);
    await signInWith(page, 'Example Corp', 'ada');
    await approve(page, 'TV 3');
    const third = await waiting;
    idTokens.push(decodeJwt(third.idToken!));
    await page.context().close();

    for (const claims of idTokens) {
      assert.equal(claims.iss, dg.issuer);
      assert.equal(claims.name, 'Ada Lovelace');
      assert.equal(claims.email, 'ada@example.com');
      assert.equal(claims.email_verified, true);
      assert.equal(claims.preferred_username, 'ada');
      // How the person signed in: through a federated provider, which did password and MFA.
      assert.deepEqual(claims.amr, ['fed', 'pwd', 'mfa']);
      assert.equal(claims.acr, 'urn:example:loa:2');
      assert.equal(typeof claims.auth_time, 'number');
    }
    assert.equal(new Set(idTokens.map((claims) => claims.sub)).size, 1, 'one subject for three sign-ins');
    const users = (await dg.appliance.context.store.users.list()).filter((user) => user.email === 'ada@example.com');
    assert.equal(users.length, 1, 'the user exists once');
    assert.equal(users[0]!.id, idTokens[0]!.sub);
  });

  test('branding: product name, logo and colours on every page, the client\'s name and logo on consent, the CSP as strict as ever', async () => {
    const acme = await deviceConfig(dg.issuer, 'acme-tv');
    const flow = await startDeviceFlow(acme, { scope: 'openid profile', device_name: 'Lounge TV' });
    const page = await phone();
    await page.goto(flow.authorization.verification_uri_complete!);
    assert.match(await page.title(), / · Acme TV$/);
    const logo = page.locator('header .brand img');
    assert.equal(await logo.evaluate((image: HTMLImageElement) => image.complete && image.naturalWidth > 0), true, 'the logo devicegate serves has loaded');
    const accent = await page.getByRole('button', { name: 'Continue', exact: true }).evaluate((button) => getComputedStyle(button).backgroundColor);
    assert.equal(accent, 'rgb(154, 52, 18)', 'the primary colour from the generated stylesheet');
    assert.equal(await press(page, 'Continue'), 200);
    await assertAccessible(page);
    await screenshot(page, 'branded-sign-in');
    assert.equal(await signInWith(page, 'Example Corp', 'ada'), 200);
    assertIncludes(await mainText(page), 'Acme TV app');
    const clientLogo = page.locator('main .client img');
    assert.equal(await clientLogo.evaluate((image: HTMLImageElement) => image.complete && image.naturalWidth > 0), true, "the client's logo has loaded");
    await assertAccessible(page);
    await screenshot(page, 'branded-consent');
    const response = await page.reload();
    const policy = response?.headers()['content-security-policy'] ?? '';
    assert.ok(!policy.includes('unsafe-inline') && !policy.includes('*'), policy);
    assert.match(policy, /script-src 'self'; style-src 'self'; img-src 'self' data:;/);
    await approve(page, 'Lounge TV');
    tokensOf(await flow.outcome);
    await page.context().close();
  });

  test('a second provider (private_key_jwt, claims from the ID token) signs in the same sub as another person', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid profile email', device_name: 'Partner TV' });
    const page = await phone();
    await enterCode(page, flow.authorization.verification_uri_complete!);
    assert.equal(await signInWith(page, 'Partner', 'ada'), 200);
    await approve(page, 'Partner TV');
    const claims = tokensOf(await flow.outcome).claims()!;
    assert.equal(claims.email, 'ada@partner.example');
    assert.equal(claims.preferred_username, 'ada@partner.example');
    assert.deepEqual(claims.amr, ['fed', 'pwd']);
    const exampleAda = await dg.appliance.context.store.users.findByIdentity({ issuer: example.issuer, subject: 'ada-0001' });
    assert.ok(exampleAda);
    assert.notEqual(claims.sub, exampleAda.id, 'the same sub at another issuer is another user, never merged');
    await page.context().close();
  });

  test('the person cancels at the provider: a page says so (no 5xx), and the same device is approved after signing in again', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid', device_name: 'Cancelled TV' });
    const page = await phone();
    await enterCode(page, flow.authorization.verification_uri_complete!);
    assert.equal(await press(page, 'Continue with Example Corp'), 200);
    assert.equal(await press(page, 'Cancel'), 403);
    assert.equal(await heading(page), message(EN, 'upstream.deniedTitle'));
    await assertAccessible(page);
    assert.equal(await press(page, message(EN, 'upstream.tryAgain'), 'link'), 200);
    assert.equal(await signInWith(page, 'Example Corp', 'ada'), 200);
    await approve(page, 'Cancelled TV');
    tokensOf(await flow.outcome);
    await page.context().close();
  });

  test('a person not on the allow-list is told so, and another account finishes the same flow', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid', device_name: 'Guest TV' });
    const page = await phone();
    await enterCode(page, flow.authorization.verification_uri_complete!);
    assert.equal(await signInWith(page, 'Example Corp', 'eve'), 403);
    assert.equal(await heading(page), message(EN, 'upstream.notAllowedTitle'));
    assertIncludes(await mainText(page), message(EN, 'upstream.notAllowed', { provider: 'Example Corp' }));
    assert.equal(await dg.appliance.context.store.users.findByIdentity({ issuer: example.issuer, subject: eve.claims.sub }), null, 'no account was made');
    await press(page, message(EN, 'upstream.tryAgain'), 'link');
    // The provider remembers eve's session; it asks for a login again only after it ends. Partner admits ada.
    assert.equal(await signInWith(page, 'Partner', 'ada'), 200);
    await approve(page, 'Guest TV');
    tokensOf(await flow.outcome);
    await page.context().close();
  });

  test('a provider that is down: a page says so (424, not 5xx), and another provider finishes the flow', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid', device_name: 'Patient TV' });
    const page = await phone();
    await enterCode(page, flow.authorization.verification_uri_complete!);
    assert.equal(await press(page, 'Continue with Down Inc'), 424);
    assert.equal(await heading(page), message(EN, 'upstream.unavailableTitle'));
    await press(page, message(EN, 'upstream.tryAgain'), 'link');
    assert.equal(await signInWith(page, 'Example Corp', 'ada'), 200);
    await approve(page, 'Patient TV');
    tokensOf(await flow.outcome);
    await page.context().close();
  });

  test('a forwarded callback link does not sign anyone in elsewhere; in the browser that started it, it still does', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid', device_name: 'Forwarded TV' });
    const page = await phone();
    await enterCode(page, flow.authorization.verification_uri_complete!);
    await press(page, 'Continue with Example Corp');
    await page.getByLabel('Account', { exact: true }).fill('ada');
    const callbackUrl = await captureCallback(page, 'example');

    const other = await phone();
    const response = await other.goto(callbackUrl);
    assert.equal(response?.status(), 400);
    assert.equal(await heading(other), message(EN, 'upstream.mismatchTitle'));
    await assertAccessible(other);
    assert.equal(await other.goto(`${dg.issuer}/device/devices`).then(() => heading(other)), message(EN, 'signIn.title'), 'the other browser is not signed in');
    await other.context().close();

    assert.equal((await page.goto(callbackUrl))?.status(), 200);
    await approve(page, 'Forwarded TV');
    tokensOf(await flow.outcome);
    await page.context().close();
  });

  test('a replayed callback shows a page and signs nobody in again; the provider refuses the used code too', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid', device_name: 'Replayed TV' });
    const page = await phone();
    await enterCode(page, flow.authorization.verification_uri_complete!);
    await press(page, 'Continue with Example Corp');
    await page.getByLabel('Account', { exact: true }).fill('ada');
    const callbackUrl = await captureCallback(page, 'example');
    assert.equal((await page.goto(callbackUrl))?.status(), 200);
    assert.equal(await heading(page), message(EN, 'consent.title'));
    // Replayed in the same browser: its flow was spent by the first use.
    assert.equal((await page.goto(callbackUrl))?.status(), 400);
    assert.equal(await heading(page), message(EN, 'upstream.mismatchTitle'));
    // The flow is still there to finish.
    await page.goto(`${dg.issuer}/device/consent`);
    await approve(page, 'Replayed TV');
    tokensOf(await flow.outcome);
    await page.context().close();
  });

  test('a state that does not match, and a nonce that does not match, each show a page; the flow is finished afterwards', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid', device_name: 'Tampered TV' });
    const page = await phone();
    await enterCode(page, flow.authorization.verification_uri_complete!);
    await press(page, 'Continue with Example Corp');
    await page.getByLabel('Account', { exact: true }).fill('ada');
    const callbackUrl = new URL(await captureCallback(page, 'example'));
    callbackUrl.searchParams.set('state', 'x'.repeat(43));
    assert.equal((await page.goto(callbackUrl.href))?.status(), 400);
    assert.equal(await heading(page), message(EN, 'upstream.mismatchTitle'));

    // The nonce: the authorization request is changed on its way to the provider, which then puts
    // another nonce in its ID token than the one this browser's flow expects.
    await page.goto(`${dg.issuer}/device/sign-in?next=consent`);
    const cdp = await page.context().newCDPSession(page);
    cdp.on('Fetch.requestPaused', (event: { requestId: string; request: { url: string } }) => {
      const url = new URL(event.request.url);
      url.searchParams.set('nonce', 'a-nonce-of-someone-else');
      void cdp.send('Fetch.continueRequest', { requestId: event.requestId, url: url.href });
    });
    await cdp.send('Fetch.enable', { patterns: [{ urlPattern: `${example.issuer}/auth?*`, requestStage: 'Request' }] });
    assert.equal(await press(page, 'Continue with Example Corp'), 400);
    await cdp.send('Fetch.disable');
    await cdp.detach();
    assert.equal(await heading(page), message(EN, 'upstream.mismatchTitle'));

    await page.goto(`${dg.issuer}/device/sign-in?next=consent`);
    assert.equal(await press(page, 'Continue with Example Corp'), 200);
    await approve(page, 'Tampered TV');
    tokensOf(await flow.outcome);
    await page.context().close();
  });

  test('a round trip that outlives signIn.flowLifetime shows a page; a new one finishes the flow', async () => {
    const flow = await startDeviceFlow(device, { scope: 'openid', device_name: 'Slow TV' });
    const page = await phone();
    await enterCode(page, flow.authorization.verification_uri_complete!);
    await press(page, 'Continue with Example Corp');
    await page.getByLabel('Account', { exact: true }).fill('ada');
    const callbackUrl = await captureCallback(page, 'example');
    // devicegate's clock moves past the 60 s flow lifetime (the device code lives 600 s by the
    // same clock, so it is still pending).
    skew = 61_000;
    try {
      // The browser would have dropped the cookie by now (its Max-Age); devicegate checks the start time too.
      assert.equal((await page.goto(callbackUrl))?.status(), 400);
      assert.equal(await heading(page), message(EN, 'upstream.expiredTitle'));
    } finally {
      skew = 0;
    }
    await page.goto(`${dg.issuer}/device/sign-in?next=consent`);
    assert.equal(await press(page, 'Continue with Example Corp'), 200);
    await approve(page, 'Slow TV');
    tokensOf(await flow.outcome);
    await page.context().close();
  });
});
