// RFC 8628 §5.1 (docs/security.md CODE-GUESSING): user code guessing is stopped, driven over HTTP
// through the real verification pages (form posts with CSRF tokens and cookies). One guesser is
// stopped by the per-address and per-session limits; a botnet that stays under them trips the
// global alarm (audit event user_code_guess_alarm, error-level log), which then tightens code entry
// for all.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../server/src/logger.ts';
import { DEMO_PASSWORD, startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { logLines as captureLogLines } from '../support/log-lines.ts';
import { deviceAuthorize, pollToken } from '../server/http.ts';
import { approveThroughPages, Browser } from './support/browser.ts';

const BASE = '/device';
/** Well-formed codes from the RFC 8628 alphabet that no device holds (20^8 space, a few live codes). */
const wrongCode = (i: number) => {
  const alphabet = 'BCDFGHJKLMNPQRSTVWXZ';
  let code = '';
  for (let n = i + 1000, k = 0; k < 8; k++, n = Math.floor(n / 20)) code += alphabet[n % 20];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
};

async function enterCode(browser: Browser, userCode: string) {
  return browser.submit(BASE, { user_code: userCode });
}

async function audit(dg: TestAppliance, event: string) {
  await dg.appliance.context.audit.flush?.();
  return (await dg.appliance.context.store.auditEvents.list({ limit: 100_000 })).filter((entry) => entry.event === event);
}

describe('one guesser', () => {
  let dg: TestAppliance;
  before(async () => {
    dg = await startTestAppliance({ overrides: { trustProxy: true } });
  });
  after(() => dg.stop());

  test('is refused with 429 and Retry-After after the per-address limit, even for a right code', async () => {
    const { points } = dg.appliance.context.config.limits.userCodeEntryPerAddress;
    const guesser = new Browser(dg.issuer, '203.0.113.66');
    const statuses: number[] = [];
    for (let i = 0; i < points + 3; i++) statuses.push((await enterCode(guesser, wrongCode(i))).status);
    assert.deepEqual(statuses, [...Array(points).fill(400), 429, 429, 429]);
    const real = await deviceAuthorize(dg, { client_id: 'demo-tv' });
    const refused = await enterCode(guesser, real.user_code);
    assert.equal(refused.status, 429, 'a hit is no use to a throttled guesser');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.text.includes(real.user_code), true, 'the page shows what was typed back, nothing else');

    // A person elsewhere enters the same code and is sent on to sign in.
    const person = await enterCode(new Browser(dg.issuer, '198.51.100.23'), real.user_code);
    assert.equal(person.status, 303);
    assert.equal(person.location, `${BASE}/sign-in?next=consent`);
  });

  test('a new address does not help one browser session: the session has its own limit', async () => {
    const { points } = dg.appliance.context.config.limits.userCodeEntryPerSession;
    const guesser = new Browser(dg.issuer, '203.0.113.80');
    for (let i = 0; i < points; i++) assert.equal((await enterCode(guesser, wrongCode(100 + i))).status, 400);
    const moved = new Browser(dg.issuer, '203.0.113.81');
    for (const [name, value] of guesser.cookies) moved.cookies.set(name, value);
    assert.equal((await enterCode(moved, wrongCode(200))).status, 429);
  });

  test('every miss is in the audit log with the address only, never the typed code; the refusals too', async () => {
    const rejected = await audit(dg, 'user_code_rejected');
    assert.ok(rejected.length >= 20);
    for (const entry of rejected) assert.deepEqual(Object.keys(entry.fields), ['address']);
    const limited = await audit(dg, 'rate_limited');
    assert.ok(limited.some((entry) => entry.fields.limit === 'userCodeEntryPerAddress' && entry.fields.key === '203.0.113.66'));
    const perSession = limited.find((entry) => entry.fields.limit === 'userCodeEntryPerSession');
    assert.ok(perSession, 'the session limit refusal is recorded');
    assert.match(String(perSession.fields.key), /^[A-Za-z0-9_-]{16}$/, 'a session key is recorded only as a digest');
  });
});

describe('a botnet under the per-address limits', () => {
  const THRESHOLD = 30;
  let dg: TestAppliance;
  const { sink, lines: logLines } = captureLogLines();
  before(async () => {
    dg = await startTestAppliance({
      overrides: { trustProxy: true, limits: { userCodeGuessAlarm: { threshold: THRESHOLD, duration: 600, tightenFactor: 5 } } },
      deps: { logger: createLogger('warn', sink) },
    });
  });
  after(() => dg.stop());

  test('trips the global alarm once: audit event user_code_guess_alarm and an error-level log line', async () => {
    // 11 addresses, at most 3 guesses each (well under 10 a minute per address): THRESHOLD + 1 misses.
    let guess = 0;
    for (let bot = 0; guess <= THRESHOLD; bot++) {
      const browser = new Browser(dg.issuer, `198.18.${bot}.${10 + bot}`);
      for (let i = 0; i < 3 && guess <= THRESHOLD; i++) assert.equal((await enterCode(browser, wrongCode(5000 + guess++))).status, 400);
    }
    assert.equal((await audit(dg, 'user_code_rejected')).length, THRESHOLD + 1);
    const alarms = await audit(dg, 'user_code_guess_alarm');
    assert.equal(alarms.length, 1, 'one alarm for the window, not one per guess');
    assert.equal(alarms[0]!.fields.threshold, THRESHOLD);
    assert.equal(alarms[0]!.fields.failures, THRESHOLD + 1);
    const errors = logLines.filter((line) => line.event === 'user_code_guess_alarm' && line.level === 50);
    assert.ok(errors.length >= 1, 'logged at error level');
  });

  test('while the alarm lasts, code entry is tightened for every address: a fresh bot gets two tries, not ten', async () => {
    const fresh = new Browser(dg.issuer, '198.18.200.1');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await enterCode(fresh, wrongCode(9000 + i))).status);
    assert.deepEqual(statuses, [400, 400, 429, 429]);
  });

  test('a person with a real code still gets through during the alarm, and the device gets its tokens', async () => {
    const device = await deviceAuthorize(dg, { client_id: 'demo-tv' });
    const phone = new Browser(dg.issuer, '198.51.100.77');
    assert.equal(await approveThroughPages(phone, BASE, device.user_code, { username: 'demo', password: DEMO_PASSWORD }), true);
    const tokens = await pollToken(dg, 'demo-tv', device.device_code);
    assert.equal(tokens.status, 200);
  });
});

describe('the cap on the total', () => {
  const THRESHOLD = 4;
  const MAX_FAILURES = 8;
  let dg: TestAppliance;
  before(async () => {
    dg = await startTestAppliance({
      overrides: { trustProxy: true, limits: { userCodeGuessAlarm: { threshold: THRESHOLD, duration: 600, tightenFactor: 1, maxFailures: MAX_FAILURES } } },
    });
  });
  after(() => dg.stop());

  test('once a window holds maxFailures failed codes, code entry is closed for every address, a right code too', async () => {
    // One guess from each of MAX_FAILURES addresses: each far under its own limit.
    for (let bot = 0; bot < MAX_FAILURES; bot++) {
      assert.equal((await enterCode(new Browser(dg.issuer, `198.18.50.${bot + 1}`), wrongCode(7000 + bot))).status, 400);
    }
    const freshBot = await enterCode(new Browser(dg.issuer, '198.18.51.1'), wrongCode(7100));
    assert.equal(freshBot.status, 429, 'no more guesses this window, however many addresses');
    assert.ok(Number(freshBot.headers.get('retry-after')) >= 1);
    const device = await deviceAuthorize(dg, { client_id: 'demo-tv' });
    assert.equal((await enterCode(new Browser(dg.issuer, '198.51.100.90'), device.user_code)).status, 429);
    assert.equal((await audit(dg, 'user_code_rejected')).length, MAX_FAILURES, 'the refused entries were never looked up');
    assert.equal((await audit(dg, 'user_code_entry_closed')).length, 1);
  });
});

describe('IPv6 addresses', () => {
  let dg: TestAppliance;
  before(async () => {
    dg = await startTestAppliance({ overrides: { trustProxy: true } });
  });
  after(() => dg.stop());

  test('one /64 is one address for the limits: hopping within it gains no guesses', async () => {
    const { points } = dg.appliance.context.config.limits.userCodeEntryPerAddress;
    const statuses: number[] = [];
    // A fresh browser session and a fresh address of the same /64 for every guess.
    for (let i = 0; i <= points; i++) statuses.push((await enterCode(new Browser(dg.issuer, `2001:db8:5:7::${(i + 1).toString(16)}`), wrongCode(8000 + i))).status);
    assert.deepEqual(statuses, [...Array(points).fill(400), 429]);
    // Another /64 (another site) has its own budget; so does each IPv4 address.
    assert.equal((await enterCode(new Browser(dg.issuer, '2001:db8:5:8::1'), wrongCode(8100))).status, 400);
    assert.equal((await enterCode(new Browser(dg.issuer, '192.0.2.201'), wrongCode(8101))).status, 400);
  });
});
