// Debian's Chromium driven by playwright-core. Never a downloaded browser: this machine has no
// network beyond the package registries, and CI must test what a fresh machine can install.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type LaunchOptions, type Page } from 'playwright-core';
import type { ImpactValue, Result as AxeResult } from 'axe-core';

const chromiumPath = process.env.DEVICEGATE_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(chromiumPath);
}

/**
 * Flags for a closed network and a root user: without the background-networking ones Chromium
 * keeps dialing Google's hosts and gets refused; as root it needs --no-sandbox.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--disable-dev-shm-usage', // /dev/shm may be small in containers
];

/** Headless Debian Chromium; options.args are added to ours, other options override. */
export function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const { args = [], ...rest } = options;
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    timeout: 60_000, // a cold start on a busy 2-core machine
    ...rest,
    args: [...CHROMIUM_ARGS, ...args],
  });
}

export interface PhoneContextOptions extends BrowserContextOptions {
  /** false checks the no-JavaScript path of a page (default true). */
  javaScriptEnabled?: boolean;
  /** Sets navigator.language and Accept-Language, e.g. 'de-DE' (default 'en-US'). */
  locale?: string;
}

/** Contexts made with JavaScript off, where runAxe must stand in for the page's timers. */
const scriptlessContexts = new WeakSet<BrowserContext>();

/**
 * A small phone: where a user most often opens the verification URI after scanning the QR code.
 * 360x740 CSS pixels, touch, mobile viewport meta honoured.
 */
export async function newPhoneContext(browser: Browser, options: PhoneContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 },
    screen: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'en-US',
    javaScriptEnabled: true,
    ...options,
  });
  if (options.javaScriptEnabled === false) scriptlessContexts.add(context);
  return context;
}

export type AxeViolation = AxeResult;

let axeSource: string | undefined;

function loadAxe(): string {
  // From node_modules, never a CDN: the page under test may be offline and so are we.
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  return axeSource;
}

const BLOCKING_IMPACTS: ReadonlySet<ImpactValue> = new Set<ImpactValue>(['serious', 'critical']);

export interface RunAxeOptions {
  /** Say false for a page in a JavaScript-off context not made by newPhoneContext. */
  javaScriptEnabled?: boolean;
  /** Bound on the whole run; axe on a small page takes well under a second. */
  timeoutMs?: number;
}

/**
 * Runs axe-core on the page as it is now and returns the serious and critical violations (an
 * empty array is a pass). axe is evaluated through the DevTools protocol, not a <script> tag, so
 * the page's Content-Security-Policy does not block it.
 */
export async function runAxe(page: Page, options: RunAxeOptions = {}): Promise<AxeViolation[]> {
  const scriptless = options.javaScriptEnabled === false || scriptlessContexts.has(page.context());
  const violations = await withTimeout(evaluateAxe(page, scriptless), options.timeoutMs ?? 60_000, 'runAxe');
  return violations.filter((violation) => violation.impact != null && BLOCKING_IMPACTS.has(violation.impact));
}

async function evaluateAxe(page: Page, scriptless: boolean): Promise<AxeViolation[]> {
  const loaded = await page.evaluate(() => 'axe' in globalThis);
  // A string is evaluated as a script by the protocol itself, which CSP does not govern; an eval()
  // inside the page would be. The trailing undefined keeps Playwright from serialising axe.
  if (!loaded) await page.evaluate(`${loadAxe()}\n;undefined`);
  // Plain JavaScript, passed as a string: a function here would be compiled by tsx, whose helper
  // calls (__name) do not exist in the page.
  return (await page.evaluate(`(${RUN_AXE_IN_PAGE})(${JSON.stringify(scriptless)})`)) as AxeViolation[];
}

/**
 * With JavaScript off, evaluate still runs and so do promise reactions, but timers (and
 * queueMicrotask) never fire, and axe yields between rules with setTimeout(0): it would hang. For
 * the run, zero-delay timers become promise reactions and longer ones (cache expiry, preload and frame deadlines) never fire, as no
 * time passes for a page without scripts. Preloading stylesheets and asking iframes (which cannot
 * run axe there) are turned off, as nothing would answer them.
 */
const RUN_AXE_IN_PAGE = `async function runAxeInPage(scriptless) {
  if (!scriptless) return (await axe.run(document, { resultTypes: ['violations'] })).violations;
  const names = ['setTimeout', 'clearTimeout', 'requestAnimationFrame', 'requestIdleCallback'];
  const saved = names.map((name) => globalThis[name]);
  const cancelled = new Set();
  let nextId = 1;
  function soon(callback, delay) {
    const id = nextId++;
    if (!(delay > 1)) Promise.resolve().then(() => cancelled.has(id) || callback());
    return id;
  }
  globalThis.setTimeout = (callback, delay, ...args) => soon(() => callback(...args), delay);
  globalThis.clearTimeout = (id) => cancelled.add(id);
  globalThis.requestAnimationFrame = (callback) => soon(() => callback(performance.now()), 0);
  globalThis.requestIdleCallback = (callback) => soon(() => callback({ didTimeout: false, timeRemaining: () => 50 }), 0);
  try {
    return (await axe.run(document, { resultTypes: ['violations'], preload: false, iframes: false })).violations;
  } finally {
    names.forEach((name, index) => { globalThis[name] = saved[index]; });
  }
}`;

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One readable line per violation and node, for an assertion message. */
export function formatAxeViolations(violations: AxeViolation[]): string {
  return violations
    .flatMap((violation) =>
      violation.nodes.map((node) => `${violation.impact} ${violation.id}: ${violation.help} at ${node.target.join(' ')}`),
    )
    .join('\n');
}
