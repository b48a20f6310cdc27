/**
 * The device client against the real appliance (test/support/appliance.ts): a public device
 * client with a 1 s interval, and approval the way a person gives it, through the verification
 * pages in Chromium. Until the pages are mounted by the appliance's default modules, approval goes
 * through the same approval service the pages call, and the test says so in its diagnostics.
 */
import { after } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, newPhoneContext } from '../../support/chromium.ts';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../../support/appliance.ts';
import { requireRealPart } from '../../support/require-real-part.ts';
export { until } from '../../support/until.ts';
import type { ConfigInput } from '@devicegate/server';

export const DEVICE_CLIENT_ID = 'e2e-device';
export const DEVICE_SCOPE = 'openid profile offline_access';

/**
 * Every login of a test file is approved by the demo user from 127.0.0.1 within a few minutes:
 * more code entries and sign-ins than the default limits let one address make (which the security
 * tests prove). Raised here so the device tests never meet them.
 */
const ROOMY_LIMITS = {
  userCodeEntryPerAddress: { points: 1000, duration: 60 },
  userCodeEntryPerSession: { points: 1000, duration: 60 },
  signInPerAddress: { points: 1000, duration: 300 },
};

export async function startDeviceAppliance(
  options: { overrides?: ConfigInput; dataDir?: string; pollInterval?: number; deviceCodeLifetime?: number } = {},
): Promise<TestAppliance> {
  const dg = await startTestAppliance({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    overrides: { ...options.overrides, limits: { ...ROOMY_LIMITS, ...options.overrides?.limits } },
  });
  await dg.addClient({
    clientId: DEVICE_CLIENT_ID,
    name: 'E2E Device',
    pollInterval: options.pollInterval ?? 1,
    ...(options.deviceCodeLifetime ? { deviceCodeLifetime: options.deviceCodeLifetime } : {}),
  });
  return dg;
}

/** Whether the appliance serves the verification pages (GET verification_uri is an HTML page). */
async function pagesMounted(dg: TestAppliance): Promise<boolean> {
  const response = await fetch(`${dg.issuer}/device`).catch(() => null);
  if (!response) return false;
  await response.arrayBuffer();
  return response.ok && (response.headers.get('content-type') ?? '').includes('text/html');
}

let browser: Promise<Browser> | undefined;
// Registered when a test file imports this module, so it runs once after all of that file's tests.
after(async () => {
  if (browser) await (await browser).close();
});
function sharedBrowser(): Promise<Browser> {
  browser ??= launchChromium();
  return browser;
}

/**
 * Marks a promise that is awaited later (a login's wait() while the test approves) as handled
 * now, so its rejection in the meantime is not reported as unhandled. Awaiting it still throws.
 */
export function inBackground<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

export interface Decider {
  skip(message?: string): void;
  diagnostic(message: string): void;
}

/**
 * Approves or denies the login a device shows, as a person: opens verification_uri_complete (what
 * the QR code holds) on a phone, signs in as the demo user, and presses the consent button.
 */
export async function decide(
  dg: TestAppliance,
  shown: { userCode: string; verificationUriComplete?: string; verificationUri: string },
  decision: 'approve' | 'deny',
  t: Decider,
): Promise<void> {
  if (await pagesMounted(dg)) {
    if (!requireRealPart('chromium', chromiumAvailable(), t)) throw new Error('chromium missing');
    const context = await newPhoneContext(await sharedBrowser());
    try {
      const page = await context.newPage();
      await decideOnPages(page, shown.verificationUriComplete ?? shown.verificationUri, shown.userCode, decision);
    } finally {
      await context.close();
    }
    t.diagnostic(`${decision === 'approve' ? 'approved' : 'denied'} through the verification pages in Chromium`);
    return;
  }
  const approval = dg.appliance.context.approval;
  const done =
    decision === 'approve'
      ? await approval.approveUserCode(shown.userCode, dg.demoUserId)
      : await approval.denyUserCode(shown.userCode, dg.demoUserId);
  if (!done) throw new Error(`could not ${decision} ${shown.userCode}`);
  t.diagnostic(`${decision === 'approve' ? 'approved' : 'denied'} through the approval service (verification pages not mounted yet)`);
}

async function decideOnPages(page: Page, url: string, userCode: string, decision: 'approve' | 'deny'): Promise<void> {
  await page.goto(url, { waitUntil: 'load' });
  for (let step = 0; step < 8; step++) {
    const consent = page.locator(`button[name="decision"][value="${decision}"]`);
    if (await consent.count()) {
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), consent.click()]);
      return;
    }
    const password = page.locator('input[name="password"]');
    if (await password.count()) {
      await page.fill('input[name="username"]', 'demo');
      await password.fill(DEMO_PASSWORD);
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.locator('form:has(input[name="password"]) button[type="submit"]').click()]);
      continue;
    }
    const code = page.locator('input[name="user_code"]');
    if (await code.count()) {
      if (!(await code.inputValue())) await code.fill(userCode);
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.locator('form:has(input[name="user_code"]) button[type="submit"]').click()]);
      continue;
    }
    throw new Error(`verification pages: no code, sign-in or consent form at ${page.url()}`);
  }
  throw new Error('verification pages: no consent page after 8 steps');
}

