// examples/tv-web in headless Chromium, as a TV web app on its own origin: signed in end to end
// with the remote's keys only (arrows and OK) while a phone approves on devicegate's pages, then
// the example API called with the DPoP-bound token. The same app from an origin the client does
// not list reads nothing, and leaves the code it tried usable by the right app. The browser
// bundle it runs is built here by the build script that refuses Node built-ins.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createExampleApi } from '../../examples/api/server.ts';
import { chromiumAvailable, launchChromium, newPhoneContext } from '../support/chromium.ts';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { freePort } from '../support/ports.ts';
import { skipWithoutRealPart } from '../support/require-real-part.ts';
import { press, signIn } from '../verification-ui/browser.ts';
import { ROOMY_LIMITS } from '../verification-ui/support.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const exampleDirectory = path.join(root, 'examples/tv-web');
const buildScript = path.join(root, 'device-client/scripts/build-browser.mjs');
const screenshotFile = path.join(root, 'docs/screenshots/tv-sign-in.png');
const WAIT = { timeout: 30_000 };

const CONTENT_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json' };

/** Any static server will do (the example has no server side): this one serves two directories. */
async function staticServer(files: (name: string) => string | undefined): Promise<{ server: Server; origin: string }> {
  const server = createServer((request, response) => {
    const name = decodeURIComponent((request.url ?? '/').split('?', 1)[0]!).replace(/^\/$/, '/index.html').slice(1);
    const file = /^[\w.-]+$/.test(name) ? files(name) : undefined;
    if (!file) {
      response.statusCode = 404;
      return response.end();
    }
    response.setHeader('content-type', CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream');
    response.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function build(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [buildScript, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('the browser bundle', () => {
  test('builds as one ES module without Node built-ins, and the build fails on one', () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'devicegate-bundle-'));
    try {
      const built = build(['--outfile', path.join(directory, 'bundle.js'), '--json']);
      assert.equal(built.status, 0, built.stderr);
      const report = JSON.parse(built.stdout) as { bytes: number; gzipBytes: number; inputs: string[] };
      assert.ok(report.inputs.some((input) => input.includes('device-client/src/core/')), 'the bundle is made from the shared core');
      assert.ok(!report.inputs.some((input) => /node:|device-client\/src\/(store|push|cli)\//.test(input)), `Node-only modules in the bundle: ${report.inputs.join(', ')}`);
      assert.ok(report.gzipBytes < 40 * 1024, `the bundle is ${report.gzipBytes} bytes gzipped`);
      const entry = path.join(directory, 'uses-fs.ts');
      writeFileSync(entry, "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n");
      const refused = build(['--entry', entry, '--outfile', path.join(directory, 'refused.js')]);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /Node built-in "node:fs" imported by/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('examples/tv-web in Chromium', { skip: skipWithoutRealPart('chromium', chromiumAvailable()) }, () => {
  let dg: TestAppliance;
  let browser: Browser;
  let bundleDirectory: string;
  let tv: { server: Server; origin: string };
  let unlisted: { server: Server; origin: string };
  let api: Server;
  let apiUrl: string;
  let shortAddress: string;

  before(async () => {
    bundleDirectory = mkdtempSync(path.join(tmpdir(), 'devicegate-tv-web-'));
    const built = build(['--outfile', path.join(bundleDirectory, 'devicegate-device-client.js')]);
    assert.equal(built.status, 0, built.stderr);
    const files = (name: string) =>
      name === 'devicegate-device-client.js' || name === 'config.json' ? path.join(bundleDirectory, name) : ['index.html', 'app.js', 'style.css'].includes(name) ? path.join(exampleDirectory, name) : undefined;
    tv = await staticServer(files);
    unlisted = await staticServer(files);
    // RFC 8628 §3.5 pacing stays on; a 1 s interval only keeps the test short.
    // The short address a TV shows (config verificationUri): "localhost" stands in for another host.
    const port = await freePort();
    shortAddress = `http://localhost:${port}/tv`;
    dg = await startTestAppliance({ overrides: { port, verificationUri: shortAddress, pollInterval: 1, limits: ROOMY_LIMITS } });
    await dg.addClient({ clientId: 'tv-web', name: 'Living room TV', allowedOrigins: [tv.origin], scopes: ['openid', 'profile', 'offline_access'] });
    api = createExampleApi({ issuer: dg.issuer, audience: dg.issuer, clientIds: ['tv-web'], allowedOrigins: [tv.origin] });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    writeFileSync(path.join(bundleDirectory, 'config.json'), JSON.stringify({ issuer: dg.issuer, clientId: 'tv-web', scope: 'openid profile offline_access', api: apiUrl }));
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await dg?.stop();
    // A before hook that failed half way leaves some undefined: close what was started.
    for (const server of [api, tv?.server, unlisted?.server]) if (server) await new Promise((resolve) => server.close(resolve));
    rmSync(bundleDirectory, { recursive: true, force: true });
  });

  const tvContext = (): Promise<BrowserContext> => browser.newContext({ viewport: { width: 1920, height: 1080 }, screen: { width: 1920, height: 1080 }, locale: 'en-US' });
  async function openApp(context: BrowserContext, origin: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.locator('body[data-ready="true"]').waitFor(WAIT);
    return page;
  }
  const focused = (page: Page) => page.evaluate(() => document.activeElement?.textContent?.trim());

  /**
   * What IndexedDB holds, as text: strings, and the bytes of every buffer; and its private keys.
   * A string, not a function: tsx would wrap named functions in a helper the page lacks.
   */
  const databaseText = (page: Page): Promise<{ text: string; privateKeys: string[]; exportable: boolean[] }> =>
    page.evaluate(`(async () => {
      const db = await new Promise((resolve, reject) => {
        const open = indexedDB.open('devicegate-device-client');
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const all = (store) => new Promise((resolve, reject) => {
        const request = db.transaction(store).objectStore(store).getAll();
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      const text = (value) => {
        if (value instanceof ArrayBuffer) return new TextDecoder('latin1').decode(value);
        if (ArrayBuffer.isView(value)) return new TextDecoder('latin1').decode(value);
        if (value instanceof CryptoKey) return 'CryptoKey(' + value.type + ', extractable=' + value.extractable + ')';
        if (value && typeof value === 'object') return Object.values(value).map(text).join('\\n');
        return String(value);
      };
      const keys = await all('keys');
      const privateKeys = keys.flatMap((value) => value instanceof CryptoKey ? [value] : Object.values(value).filter((key) => key instanceof CryptoKey && key.type !== 'public'));
      const exportable = await Promise.all(privateKeys.map((key) => crypto.subtle.exportKey('jwk', key).then(() => true, () => false)));
      return { text: [...keys, ...(await all('tokens'))].map(text).join('\\n'), privateKeys: privateKeys.map((key) => key.algorithm.name + ':' + key.extractable), exportable };
    })()`);

  test('signs in with arrow keys and OK only while a phone approves, calls the API with the DPoP-bound token, and stays signed in across a reload with nothing readable at rest', async () => {
    const context = await tvContext();
    const page = await openApp(context, tv.origin);
    assert.equal(await focused(page), 'Sign in', 'the first control has the focus: no mouse needed');
    await page.keyboard.press('Enter');
    const code = page.locator('#code [data-user-code]');
    await code.waitFor(WAIT);
    const firstCode = (await code.innerText()).trim();
    assert.match(firstCode, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    assert.equal(await page.locator('#code [data-address]').innerText(), shortAddress.replace(/^http:\/\//, ''));
    assert.equal(await focused(page), 'Get a new code');
    await page.keyboard.press('Enter');
    await page.locator('#code [data-user-code]', { hasNotText: firstCode }).waitFor(WAIT);
    const userCode = (await code.innerText()).trim();
    await page.locator('#code [data-qr] svg').waitFor(WAIT);
    await page.locator('#code [data-countdown]', { hasText: /expires in \d+:\d\d/ }).waitFor(WAIT);
    assert.equal(await focused(page), 'Get a new code');
    await page.screenshot({ path: screenshotFile, animations: 'disabled' });

    const phone = await (await newPhoneContext(browser)).newPage();
    // As the QR code says: the short address, which redirects to the pages.
    await phone.goto(`${shortAddress}?user_code=${encodeURIComponent(userCode)}`);
    assert.equal(new URL(phone.url()).origin, dg.issuer);
    await press(phone, 'Continue');
    await signIn(phone, 'demo', DEMO_PASSWORD);
    await press(phone, 'Approve');
    await phone.context().close();

    await page.locator('#signed-in:not([hidden])').waitFor(WAIT);
    assert.equal(await focused(page), 'Show my notes');
    await page.keyboard.press('ArrowRight');
    assert.equal(await focused(page), 'Sign out', 'the focus moves with the arrows');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await focused(page), 'Show my notes');
    await page.keyboard.press('Enter');
    await page.locator('#signed-in [data-notes] li', { hasText: 'Sign-in on the TV worked.' }).waitFor(WAIT);
    assert.match(await page.locator('#signed-in [data-status]').innerText(), /DPoP-bound/);

    // What the app holds: a DPoP-bound token, and the key it is bound to, both in IndexedDB.
    const held = await page.evaluate(async (config) => {
      const { createBrowserDeviceClient } = await import(`${location.origin}/devicegate-device-client.js`);
      const client = createBrowserDeviceClient(config);
      return { tokens: await client.tokens(), thumbprint: await client.dpopThumbprint() };
    }, { issuer: dg.issuer, clientId: 'tv-web' });
    assert.equal(held.tokens.tokenType, 'DPoP');
    const stored = await databaseText(page);
    for (const secret of [held.tokens.accessToken, held.tokens.refreshToken]) {
      assert.ok(secret && !stored.text.includes(secret), 'a token is readable in IndexedDB');
      assert.ok(!stored.text.includes(secret.slice(20, 60)), 'part of a token is readable in IndexedDB');
    }
    assert.deepEqual(stored.privateKeys.sort(), ['AES-GCM:false', 'ECDSA:false']);
    assert.deepEqual(stored.exportable, [false, false], 'the private keys cannot be exported');

    await page.reload();
    await page.locator('body[data-ready="true"]').waitFor(WAIT);
    await page.locator('#signed-in:not([hidden])').waitFor(WAIT);
    await page.keyboard.press('Enter');
    await page.locator('#signed-in [data-notes] li', { hasText: 'Sign-in on the TV worked.' }).waitFor(WAIT);
    const reloaded = await page.evaluate(async (config) => {
      const { createBrowserDeviceClient } = await import(`${location.origin}/devicegate-device-client.js`);
      return createBrowserDeviceClient(config).dpopThumbprint();
    }, { issuer: dg.issuer, clientId: 'tv-web' });
    assert.equal(reloaded, held.thumbprint, 'the same DPoP key after the reload');
    await context.close();
  });

  test('from an origin the client does not list the app reads no answer, and the code it tried is still usable by the right app', async () => {
    const context = await tvContext();
    const rightApp = await openApp(context, tv.origin);
    const wrongApp = await openApp(context, unlisted.origin);
    await wrongApp.keyboard.press('Enter');
    await wrongApp.locator('#welcome [data-status]', { hasText: 'Sign-in is not available' }).waitFor(WAIT);
    assert.equal(await wrongApp.locator('#code').isHidden(), true, 'no code was shown');

    const endpoints = { authorization: `${dg.issuer}/oauth/device_authorization`, token: `${dg.issuer}/oauth/token` };
    const authorization = await rightApp.evaluate(async (url) => (await fetch(url, { method: 'POST', body: new URLSearchParams({ client_id: 'tv-web', scope: 'openid' }) })).json(), endpoints.authorization);
    assert.ok(await dg.appliance.context.approval.approveUserCode(authorization.user_code, dg.demoUserId));
    const redeem = (page: Page) =>
      page.evaluate(
        async ({ url, deviceCode }) => {
          try {
            const response = await fetch(url, { method: 'POST', body: new URLSearchParams({ client_id: 'tv-web', grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode }) });
            return { status: response.status, body: await response.json() };
          } catch (error) {
            return { failed: String(error) };
          }
        },
        { url: endpoints.token, deviceCode: authorization.device_code as string },
      );
    const wrong = await redeem(wrongApp);
    assert.match(String((wrong as { failed?: string }).failed), /TypeError/, 'the answer is unreadable to the unlisted origin');
    const right = (await redeem(rightApp)) as { status: number; body: Record<string, string> };
    assert.equal(right.status, 200, JSON.stringify(right));
    assert.ok(right.body.access_token, 'the code was not spent by the refused request');
    await context.close();
  });
});
