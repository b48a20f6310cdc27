// Shared pieces of the verification page tests: the device side (openid-client, a third-party
// certified client), the person's side over plain HTTP (a cookie jar and the CSRF field), the
// catalogs the pages must speak from, accessibility checks and the README's screenshots.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { formatAxeViolations, runAxe } from '../support/chromium.ts';

type Catalog = Record<string, string>;
const localesDirectory = new URL('../../verification-ui/src/locales/', import.meta.url);
export const EN = JSON.parse(readFileSync(new URL('en.json', localesDirectory), 'utf8')) as Catalog;
export const NL = JSON.parse(readFileSync(new URL('nl.json', localesDirectory), 'utf8')) as Catalog;

/** A catalog message with its placeholders filled, as the page shows it. */
export function message(catalog: Catalog, key: string, params: Record<string, string> = {}): string {
  const text = catalog[key];
  assert.ok(text !== undefined, `no message ${key}`);
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => params[name] ?? whole);
}

/** Limits high enough that the many flows of one test file from 127.0.0.1 never meet them. */
export const ROOMY_LIMITS = {
  userCodeEntryPerAddress: { points: 1000, duration: 60 },
  userCodeEntryPerSession: { points: 1000, duration: 60 },
  signInPerAddress: { points: 1000, duration: 300 },
};

// ---------------------------------------------------------------- the device (openid-client)

export function deviceConfig(issuer: string, clientId = 'demo-tv'): Promise<client.Configuration> {
  return client.discovery(new URL(issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
}

export type Outcome =
  | { kind: 'tokens'; tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers }
  | { kind: 'error'; error: string };

export interface DeviceFlow {
  authorization: client.DeviceAuthorizationResponse;
  /** Settles when the device's polling ends: tokens, or the OAuth error that stopped it. */
  outcome: Promise<Outcome>;
  /** Stops polling (for flows the test never finishes). */
  abort(): void;
}

/**
 * A device starts signing in and polls the token endpoint as RFC 8628 §3.4-3.5 says (openid-client
 * honours `interval` and slow_down), in the background while the test plays the person.
 */
export async function startDeviceFlow(
  config: client.Configuration,
  parameters: { scope: string; device_name?: string; device_model?: string },
): Promise<DeviceFlow> {
  const authorization = await client.initiateDeviceAuthorization(config, parameters);
  const controller = new AbortController();
  const outcome: Promise<Outcome> = client
    .pollDeviceAuthorizationGrant(config, authorization, undefined, { signal: controller.signal })
    .then(
      (tokens) => ({ kind: 'tokens' as const, tokens }),
      (error: unknown) => ({ kind: 'error' as const, error: (error as { error?: string; name?: string }).error ?? String((error as Error).name) }),
    );
  return { authorization, outcome, abort: () => controller.abort() };
}

// ---------------------------------------------------------------- the person, in Chromium

/** axe-core finds no serious or critical violation on the page as it is now. */
export async function assertAccessible(page: Page): Promise<void> {
  const violations = await runAxe(page);
  assert.deepEqual(violations.length, 0, `axe on ${page.url()}:\n${formatAxeViolations(violations)}`);
}

const screenshotDirectory = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));

/** A phone-sized, full-page screenshot for the README (overwritten on every run). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDirectory, { recursive: true });
  await page.screenshot({ path: `${screenshotDirectory}${name}.png`, fullPage: true, animations: 'disabled' });
}

/** Text of the page's error box (role=alert), or null when there is none. */
export async function alertText(page: Page): Promise<string | null> {
  const alert = page.getByRole('alert');
  return (await alert.count()) > 0 ? (await alert.first().innerText()).trim() : null;
}

// ---------------------------------------------------------------- the person, over plain HTTP

export interface PageResponse {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
  setCookies: string[];
}

/**
 * A browser reduced to what the pages need: a cookie jar, no redirects followed (so tests see
 * every 303), forms posted as application/x-www-form-urlencoded.
 */
export function createPageSession(origin: string, defaultHeaders: Record<string, string> = {}) {
  const jar = new Map<string, string>();
  async function request(
    path: string,
    init: { method?: string; form?: URLSearchParams | Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<PageResponse> {
    const headers: Record<string, string> = { ...defaultHeaders, ...init.headers };
    if (jar.size > 0) headers.cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      body = (init.form instanceof URLSearchParams ? init.form : new URLSearchParams(init.form)).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const response = await fetch(new URL(path, origin), { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    const setCookies = response.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      const gone = value === '' || attributes.some((attribute) => /^max-age=0$/i.test(attribute) || /^expires=thu, 01 jan 1970/i.test(attribute));
      if (gone) jar.delete(name);
      else jar.set(name, value);
    }
    return { status: response.status, headers: response.headers, text: await response.text(), location: response.headers.get('location'), setCookies };
  }
  return { request, jar };
}

export type PageSession = ReturnType<typeof createPageSession>;

/** The CSRF token of the first form on a page. */
export function csrfOf(html: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  assert.ok(match, 'the page has a CSRF field');
  return match[1]!;
}

/** Enters a code and signs in through the real forms; returns the consent page's response. */
export async function reachConsent(session: PageSession, userCode: string, credentials: { username: string; password: string }): Promise<PageResponse> {
  const codePage = await session.request('/device');
  const entered = await session.request('/device', { form: { csrf: csrfOf(codePage.text), user_code: userCode } });
  assert.equal(entered.status, 303, `code accepted (got ${entered.status})`);
  if (entered.location?.includes('/sign-in')) {
    const signInPage = await session.request(entered.location);
    const signedIn = await session.request('/device/sign-in', {
      form: { csrf: csrfOf(signInPage.text), next: 'consent', username: credentials.username, password: credentials.password },
    });
    assert.equal(signedIn.status, 303, `signed in (got ${signedIn.status})`);
    assert.equal(signedIn.location, '/device/consent');
  }
  const consent = await session.request('/device/consent');
  assert.equal(consent.status, 200);
  return consent;
}

/** The hidden device request id of a consent page. */
export function requestIdOf(html: string): string {
  const match = /name="request" value="([^"]+)"/.exec(html);
  assert.ok(match, 'the consent page names its request');
  return match[1]!;
}
