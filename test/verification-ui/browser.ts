// Driving the verification pages in Chromium the way a person does: by labels, button names and
// link texts (what a screen reader announces), never by CSS selectors.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

/**
 * Presses a button (or follows a link) that loads a new page, and returns the HTTP status of the
 * page that ends up shown (after any 303 of Post/Redirect/Get). Waits for that page's load event,
 * which fires with JavaScript off too.
 */
export async function press(page: Page, name: string, role: 'button' | 'link' = 'button'): Promise<number> {
  const shown = page.waitForResponse(
    (response) => response.request().isNavigationRequest() && response.request().frame() === page.mainFrame() && (response.status() < 300 || response.status() >= 400),
  );
  const loaded = page.waitForEvent('load');
  await page.getByRole(role, { name, exact: true }).click();
  const [response] = await Promise.all([shown, loaded]);
  return response.status();
}

export async function heading(page: Page): Promise<string> {
  return (await page.getByRole('heading', { level: 1 }).innerText()).trim();
}

export async function mainText(page: Page): Promise<string> {
  return (await page.locator('main').innerText()).replace(/\s+/g, ' ').trim();
}

export async function documentLanguage(page: Page): Promise<string | null> {
  return page.locator('html').getAttribute('lang');
}

/** Signs in through the form (the page must be the sign-in page). */
export async function signIn(page: Page, username: string, password: string, labels = { username: 'Username', password: 'Password', submit: 'Sign in' }): Promise<number> {
  await page.getByLabel(labels.username, { exact: true }).fill(username);
  await page.getByLabel(labels.password, { exact: true }).fill(password);
  return press(page, labels.submit);
}

export function assertIncludes(text: string, part: string): void {
  assert.ok(text.includes(part), `expected the page to say ${JSON.stringify(part)}; it says:\n${text}`);
}

/**
 * Presses Tab until the control with this role and name has the focus (at most `limit` times),
 * as a keyboard user would; fails when the control cannot be reached.
 */
export async function tabTo(page: Page, role: 'button' | 'link' | 'textbox' | 'checkbox', name: string, limit = 20): Promise<void> {
  const target = page.getByRole(role, { name, exact: true });
  for (let presses = 0; presses < limit; presses++) {
    await page.keyboard.press('Tab');
    if (await target.evaluate((element) => element === document.activeElement)) return;
  }
  assert.fail(`${role} "${name}" was not reached with ${limit} presses of Tab`);
}
