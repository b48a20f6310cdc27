// The verification pages over plain HTTP: headers, cookies, CSRF, escaping, code normalization,
// one-time approval, the abuse limits and the network warning. The appliance trusts
// X-Forwarded-For here, so each test speaks from addresses of its own and the per-address limits
// of one test never touch another.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestAppliance, DEMO_PASSWORD, type TestAppliance } from '../support/appliance.ts';
import { createPageSession, csrfOf, EN, message, reachConsent, requestIdOf, type PageSession } from './support.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startTestAppliance({ overrides: { trustProxy: true } });
});
after(() => dg.stop());

let nextHost = 1;
/** A fresh documentation address (RFC 5737) for each caller that must not share limits. */
const freshAddress = (network = '198.51.100') => `${network}.${nextHost++}`;

const demo = { username: 'demo', password: DEMO_PASSWORD };

async function deviceAuthorization(
  parameters: Record<string, string> = {},
  from = freshAddress('203.0.113'),
): Promise<{ device_code: string; user_code: string; verification_uri_complete: string }> {
  const response = await fetch(`${dg.issuer}/oauth/device_authorization`, {
    method: 'POST',
    headers: { 'x-forwarded-for': from },
    body: new URLSearchParams({ client_id: 'demo-tv', scope: 'openid profile offline_access', ...parameters }),
  });
  assert.equal(response.status, 200);
  return (await response.json()) as { device_code: string; user_code: string; verification_uri_complete: string };
}

const person = (address = freshAddress()): PageSession => createPageSession(dg.issuer, { 'x-forwarded-for': address });

/** The text of the error box tied to the code field. */
function codeError(html: string): string | null {
  return /<div class="notice notice-error" role="alert" id="user_code-error">([^<]*)<\/div>/.exec(html)?.[1] ?? null;
}

async function submitCode(session: PageSession, userCode: string) {
  const page = await session.request('/device');
  return session.request('/device', { form: { csrf: csrfOf(page.text), user_code: userCode } });
}

describe('headers', () => {
  test('every page sends the strict CSP, no framing, no referrer and no caching', async () => {
    const session = person();
    const responses = [
      await session.request('/device'),
      await session.request('/device?user_code=BCDF-GHJK'),
      await session.request('/device/sign-in'),
      await session.request('/device/no-such-page'),
      await session.request('/device', { form: { user_code: 'BCDF-GHJK' } }),
    ];
    for (const response of responses) {
      assert.equal(
        response.headers.get('content-security-policy'),
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      assert.equal(response.headers.get('x-frame-options'), 'DENY');
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.match(response.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
    }
  });

  test('pages have no inline script or style, only the package files', async () => {
    const { text } = await person().request('/device');
    assert.doesNotMatch(text, /<script>|<script(?![^>]*\ssrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i);
    const stylesheet = /<link rel="stylesheet" href="([^"]+)">/.exec(text)?.[1];
    const script = /<script src="([^"]+)" defer><\/script>/.exec(text)?.[1];
    assert.ok(stylesheet && script);
    for (const [path, type] of [[stylesheet, 'text/css'], [script, 'text/javascript']] as const) {
      const asset = await fetch(new URL(path, dg.issuer));
      assert.equal(asset.status, 200);
      assert.match(asset.headers.get('content-type') ?? '', new RegExp(`^${type}`));
      assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    }
  });

  test('pages answer errors in HTML while the OAuth endpoints keep their JSON', async () => {
    const page = await fetch(`${dg.issuer}/device/no-such-page`);
    assert.equal(page.status, 404);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), new RegExp(message(EN, 'error.notFoundTitle')));

    const wrongMedia = await fetch(`${dg.issuer}/device`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(wrongMedia.status, 415);
    assert.match(wrongMedia.headers.get('content-type') ?? '', /^text\/html/);

    const oauth = await fetch(`${dg.issuer}/oauth/no-such-endpoint`);
    assert.equal(oauth.status, 404);
    assert.match(oauth.headers.get('content-type') ?? '', /^application\/json/);
    const token = await fetch(`${dg.issuer}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.match(token.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await token.json()) as { error: string }).error, 'invalid_request');
  });
});

describe('cookies and sessions', () => {
  test('the session cookie is HttpOnly, SameSite=Lax and Path=/, and not Secure on loopback http', async () => {
    const { setCookies } = await person().request('/device');
    const cookie = setCookies.find((line) => line.startsWith('devicegate-session='));
    assert.ok(cookie, 'a session cookie is set');
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.match(cookie, /; Path=\//);
    assert.doesNotMatch(cookie, /; Secure/);
  });

  test('on an https issuer every cookie is Secure and carries the __Host- prefix', async () => {
    const secure = await startTestAppliance({ overrides: { issuer: 'https://devicegate.example' } });
    try {
      const address = new URL(secure.appliance.url);
      const session = createPageSession(address.origin);
      const codePage = await session.request('/device?lang=nl');
      const names = codePage.setCookies.map((line) => line.slice(0, line.indexOf('=')));
      assert.deepEqual(names.sort(), ['__Host-devicegate-lang', '__Host-devicegate-session']);
      for (const line of codePage.setCookies) {
        assert.match(line, /; Secure/);
        assert.match(line, /; Path=\//);
        assert.doesNotMatch(line, /; Domain=/i);
      }
    } finally {
      await secure.stop();
    }
  });

  test('signing in replaces the cookie, so a value known before sign-in is worth nothing after', async () => {
    const session = person();
    await session.request('/device');
    const before = session.jar.get('devicegate-session');
    const signInPage = await session.request('/device/sign-in');
    const signedIn = await session.request('/device/sign-in', { form: { csrf: csrfOf(signInPage.text), username: demo.username, password: demo.password } });
    assert.equal(signedIn.status, 303);
    const afterSignIn = session.jar.get('devicegate-session');
    assert.ok(before && afterSignIn && before !== afterSignIn);
    assert.match(signedIn.setCookies.find((line) => line.startsWith('devicegate-session='))!, /; Max-Age=28800/);

    const planted = createPageSession(dg.issuer);
    planted.jar.set('devicegate-session', before);
    const devices = await planted.request('/device/devices');
    assert.equal(devices.status, 303);
    assert.equal(devices.location, '/device/sign-in?next=devices');
  });

  test('signing out ends the session', async () => {
    const session = person();
    const signInPage = await session.request('/device/sign-in');
    await session.request('/device/sign-in', { form: { csrf: csrfOf(signInPage.text), username: demo.username, password: demo.password } });
    const signedInCookie = session.jar.get('devicegate-session')!;
    const devices = await session.request('/device/devices');
    assert.equal(devices.status, 200);
    const out = await session.request('/device/sign-out', { form: { csrf: csrfOf(devices.text) } });
    assert.equal(out.status, 303);
    assert.equal(out.location, '/device?notice=signed-out');
    assert.equal((await session.request('/device/devices')).status, 303);

    const replay = createPageSession(dg.issuer);
    replay.jar.set('devicegate-session', signedInCookie);
    assert.equal((await replay.request('/device/devices')).status, 303, 'the old cookie no longer signs anyone in');
  });
});

describe('CSRF', () => {
  test('a decision without a CSRF token, or with a wrong one, is refused with 403 and approves nothing', async () => {
    const authorization = await deviceAuthorization();
    const session = person();
    const consent = await reachConsent(session, authorization.user_code, demo);
    const request = requestIdOf(consent.text);
    const forged: Array<Record<string, string>> = [
      { request, decision: 'approve', scope: 'openid' },
      { request, decision: 'approve', scope: 'openid', csrf: '' },
      { request, decision: 'approve', scope: 'openid', csrf: 'x'.repeat(43) },
      { request, decision: 'approve', scope: 'openid', csrf: `${csrfOf(consent.text)}x` },
    ];
    for (const form of forged) {
      const response = await session.request('/device/consent', { form });
      assert.equal(response.status, 403);
      assert.match(response.text, new RegExp(message(EN, 'error.csrfTitle')));
    }
    const record = await dg.appliance.context.store.deviceGrants.findById(request);
    assert.equal(record?.status, 'pending');
  });

  test("a CSRF token from another browser does not work with this browser's cookie", async () => {
    const authorization = await deviceAuthorization();
    const victim = person();
    const consent = await reachConsent(victim, authorization.user_code, demo);
    const attacker = person();
    const attackerPage = await attacker.request('/device');
    const response = await victim.request('/device/consent', {
      form: { csrf: csrfOf(attackerPage.text), request: requestIdOf(consent.text), decision: 'approve' },
    });
    assert.equal(response.status, 403);
    assert.equal((await dg.appliance.context.store.deviceGrants.findById(requestIdOf(consent.text)))?.status, 'pending');
  });

  test('every POST needs the token: code entry, sign-in, sign-out and signing out a device', async () => {
    const session = person();
    await session.request('/device');
    for (const path of ['/device', '/device/sign-in', '/device/sign-out', '/device/devices/sign-out']) {
      const response = await session.request(path, { form: { user_code: 'BCDF-GHJK', username: 'demo', password: DEMO_PASSWORD, grant: 'x' } });
      assert.equal(response.status, 403, path);
    }
  });
});

describe('what the device sent', () => {
  test("the device's name and model are shown as text on the consent and My devices pages, never as markup", async () => {
    const deviceName = '<script>alert("name")</script>';
    const deviceModel = '"><img src=x onerror=alert(1)>';
    const authorization = await deviceAuthorization({ device_name: deviceName, device_model: deviceModel });
    const session = person();
    const consent = await reachConsent(session, authorization.user_code, demo);
    assert.match(consent.text, /&lt;script&gt;alert\(&quot;name&quot;\)&lt;\/script&gt;/);
    assert.match(consent.text, /&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;/);
    assert.doesNotMatch(consent.text, /<script>alert|<img src=x/);

    const approved = await session.request('/device/consent', {
      form: { csrf: csrfOf(consent.text), request: requestIdOf(consent.text), decision: 'approve', scope: 'profile' },
    });
    assert.equal(approved.status, 303);
    const done = await session.request(approved.location!);
    assert.match(done.text, /&lt;script&gt;alert/);
    assert.doesNotMatch(done.text, /<script>alert/);

    const redeemed = await fetch(`${dg.issuer}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: 'demo-tv', grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: authorization.device_code }),
    });
    assert.equal(redeemed.status, 200);
    const devices = await session.request('/device/devices');
    assert.match(devices.text, /&lt;script&gt;alert\(&quot;name&quot;\)&lt;\/script&gt;/);
    assert.doesNotMatch(devices.text, /<script>alert|<img src=x/);
  });

  test('a user_code in the link is filled in for the person to confirm, escaped, and not looked up', async () => {
    const authorization = await deviceAuthorization();
    const session = person();
    const link = new URL(authorization.verification_uri_complete);
    const page = await session.request(`${link.pathname}${link.search}`);
    assert.equal(page.status, 200);
    assert.match(page.text, new RegExp(`value="${authorization.user_code}"`));
    assert.match(page.text, new RegExp(message(EN, 'code.introPrefilled')));
    assert.ok(!session.jar.has('devicegate-flow'), 'nothing moves on until the person presses Continue');

    const hostile = await session.request(`/device?user_code=${encodeURIComponent('"><script>x</script>')}`);
    assert.match(hostile.text, /value="&quot;&gt;&lt;script&gt;x&lt;\/script&gt;"/);
  });
});

describe('codes', () => {
  test('case, spaces and dashes in the code do not matter', async () => {
    const { user_code: userCode } = await deviceAuthorization();
    const letters = userCode.replace('-', '');
    const variants = [letters.toLowerCase(), ` ${letters.slice(0, 4)} ${letters.slice(4)} `, userCode.toLowerCase(), `${letters.slice(0, 2)}-${letters.slice(2, 6)}-${letters.slice(6)}`];
    for (const variant of variants) {
      const response = await submitCode(person(), variant);
      assert.equal(response.status, 303, JSON.stringify(variant));
      assert.equal(response.location, '/device/sign-in?next=consent');
    }
  });

  test('unknown, used and denied codes all get the one identical message', async () => {
    const used = await deviceAuthorization();
    assert.ok(await dg.appliance.context.approval.approveUserCode(used.user_code, dg.demoUserId));
    const denied = await deviceAuthorization();
    assert.ok(await dg.appliance.context.approval.denyUserCode(denied.user_code, dg.demoUserId));
    const answers = [];
    for (const code of ['BCDF-GHJK', 'not a code at all', used.user_code, denied.user_code]) {
      const response = await submitCode(person(), code);
      answers.push({ status: response.status, error: codeError(response.text) });
    }
    for (const answer of answers) assert.deepEqual(answer, { status: 400, error: message(EN, 'code.invalid').replace("'", '&#39;') });
  });

  test('approving in two browsers leaves exactly one winner; the other is told the code can no longer be used', async () => {
    const authorization = await deviceAuthorization();
    await dg.addUser('twin', 'twin-password-123');
    const first = person();
    const second = person();
    const firstConsent = await reachConsent(first, authorization.user_code, demo);
    const secondConsent = await reachConsent(second, authorization.user_code, { username: 'twin', password: 'twin-password-123' });
    const decide = (session: PageSession, consent: string) =>
      session.request('/device/consent', { form: { csrf: csrfOf(consent), request: requestIdOf(consent), decision: 'approve', scope: 'profile' } });
    const results = await Promise.all([decide(first, firstConsent.text), decide(second, secondConsent.text)]);
    const statuses = results.map((result) => result.status).sort();
    assert.equal(statuses[0], 303);
    assert.ok(statuses[1] === 409 || statuses[1] === 410, `the loser gets 409 or 410, got ${statuses[1]}`);
    const loser = results.find((result) => result.status !== 303)!;
    assert.match(loser.text, new RegExp(message(EN, 'consent.usedTitle')));
  });

  test('unticked optional scopes are not granted, openid cannot be dropped, unrequested scopes are ignored', async () => {
    const authorization = await deviceAuthorization({ scope: 'openid profile email offline_access' });
    const session = person();
    const consent = await reachConsent(session, authorization.user_code, demo);
    const form = new URLSearchParams({ csrf: csrfOf(consent.text), request: requestIdOf(consent.text), decision: 'approve' });
    form.append('scope', 'email');
    form.append('scope', 'admin');
    const approved = await session.request('/device/consent', { form });
    assert.equal(approved.status, 303);
    const record = await dg.appliance.context.store.deviceGrants.findById(requestIdOf(consent.text));
    assert.deepEqual(record?.grantedScopes, ['openid', 'email']);
    assert.equal(record?.userId, dg.demoUserId);
  });
});

describe('abuse limits', () => {
  test('one browser session gets 429 after 10 guesses a minute, even spread over many addresses', async () => {
    const session = createPageSession(dg.issuer);
    const codePage = await session.request('/device', { headers: { 'x-forwarded-for': freshAddress() } });
    const csrf = csrfOf(codePage.text);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 11; attempt++) {
      const response = await session.request('/device', { form: { csrf, user_code: 'BCDF-GHJK' }, headers: { 'x-forwarded-for': freshAddress() } });
      statuses.push(response.status);
      if (response.status === 429) {
        assert.ok(Number(response.headers.get('retry-after')) > 0);
        assert.match(response.text, /Too many codes tried/);
      }
    }
    assert.deepEqual(statuses, [...Array(10).fill(400), 429]);
  });

  test('one address gets 429 after 10 guesses a minute, even from fresh browser sessions', async () => {
    const address = freshAddress();
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 11; attempt++) statuses.push((await submitCode(person(address), 'BCDF-GHJK')).status);
    assert.deepEqual(statuses, [...Array(10).fill(400), 429]);
  });

  test('sign-in is throttled per account: 5 failures, then even the right password waits', async () => {
    await dg.addUser('target', 'target-password-123');
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const session = person();
      const page = await session.request('/device/sign-in');
      const password = attempt < 5 ? `wrong-${attempt}` : 'target-password-123';
      statuses.push((await session.request('/device/sign-in', { form: { csrf: csrfOf(page.text), username: 'target', password } })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
  });

  test('sign-in is throttled per address: 20 attempts, then 429 for any account', async () => {
    const session = person();
    const page = await session.request('/device/sign-in');
    const csrf = csrfOf(page.text);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 21; attempt++) {
      statuses.push((await session.request('/device/sign-in', { form: { csrf, username: `nobody-${attempt}`, password: 'guess-password' } })).status);
    }
    assert.deepEqual(statuses, [...Array(20).fill(401), 429]);
  });
});

describe('phishing warning', () => {
  const networkTitle = message(EN, 'consent.networkTitle');

  test('the consent page warns strongly when the device asked from another network, naming both addresses', async () => {
    const authorization = await deviceAuthorization({}, '203.0.113.7');
    const consent = await reachConsent(person('192.0.2.44'), authorization.user_code, demo);
    assert.match(consent.text, new RegExp(networkTitle));
    assert.match(consent.text, /203\.0\.113\.7/);
    assert.match(consent.text, /192\.0\.2\.44/);
    assert.match(consent.text, new RegExp(message(EN, 'consent.warning').slice(0, 40)));
  });

  test('on the same network only the plain warning is shown', async () => {
    const authorization = await deviceAuthorization({}, '203.0.113.20');
    const consent = await reachConsent(person('203.0.113.21'), authorization.user_code, demo);
    assert.doesNotMatch(consent.text, new RegExp(networkTitle));
    assert.match(consent.text, new RegExp(message(EN, 'consent.warning').slice(0, 40)));
  });
});
