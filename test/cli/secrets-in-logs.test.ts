// Secrets never reach the logs (README "Operating it"; docs/security.md threat 13): `devicegate
// serve --log-level debug` through a whole device flow (sign-in and consent on the real pages),
// refresh, introspection, userinfo, revocation, a wrong password and failed client authentication;
// then no device code, user code, token, cookie, client secret or password appears in anything the
// process wrote.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../support/ports.ts';
import { basicAuthorization, DEVICE_CODE_GRANT_TYPE, postForm, request } from '../server/http.ts';
import { createPageSession, csrfOf, reachConsent, requestIdOf } from '../verification-ui/support.ts';
import { runCli, startServe, type RunningServe } from './run-cli.ts';

const DEMO_PASSWORD = 'logged-never-demo-password';
const CLIENT_SECRET = 'logged-never-client-secret-0123';
const WRONG_SECRET = 'logged-never-wrong-secret-4567';
const WRONG_PASSWORD = 'logged-never-wrong-password';

let dataDir: string;
let serve: RunningServe;
let issuer: string;
before(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-cli-logs-'));
  serve = startServe(
    ['--data-dir', dataDir, '--log-level', 'debug', '--host', '127.0.0.1', '--port', String(await freePort()), '--mqtt-port', String(await freePort())],
    { env: { DEVICEGATE_DEMO_PASSWORD: DEMO_PASSWORD } },
  );
  [, issuer] = (await serve.waitFor(/devicegate listening on (http:\/\/\S+)/)) as unknown as [string, string];
  // An API that may introspect, added by the operator while the appliance runs.
  const added = await runCli(
    ['clients', 'add', 'log-api', '--confidential', '--grant-types', 'client_credentials', '--scopes', 'api', '--introspect', '--data-dir', dataDir],
    { stdin: `${CLIENT_SECRET}\n` },
  );
  assert.equal(added.code, 0, added.stderr);
});
after(async () => {
  await serve?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a full flow logged at debug level leaves no secret in the output', async () => {
  const secrets: Record<string, string> = { 'client secret': CLIENT_SECRET, 'wrong client secret': WRONG_SECRET, 'demo password': DEMO_PASSWORD, 'wrong password': WRONG_PASSWORD };

  const authorization = await postForm(issuer, '/oauth/device_authorization', { client_id: 'demo-tv', scope: 'openid profile offline_access', device_name: 'Logged TV' });
  assert.equal(authorization.status, 200, JSON.stringify(authorization.body));
  const { device_code: deviceCode, user_code: userCode } = authorization.body as { device_code: string; user_code: string };
  secrets['device code'] = deviceCode;
  secrets['user code'] = userCode;
  secrets['user code (normalized)'] = userCode.replace('-', '');
  const poll = () => postForm(issuer, '/oauth/token', { grant_type: DEVICE_CODE_GRANT_TYPE, client_id: 'demo-tv', device_code: deviceCode });
  assert.equal((await poll()).body.error, 'authorization_pending');
  // Polled again at once: slow_down (unless the machine was slow enough to make it a fair poll).
  assert.ok(['slow_down', 'authorization_pending'].includes((await poll()).body.error));

  // The person: a mistyped password first, then the right one, then approval on the consent page.
  const mistaken = createPageSession(issuer);
  const codePage = await mistaken.request('/device');
  const entered = await mistaken.request('/device', { form: { csrf: csrfOf(codePage.text), user_code: userCode } });
  assert.equal(entered.status, 303);
  const signInPage = await mistaken.request(entered.location!);
  const refused = await mistaken.request('/device/sign-in', { form: { csrf: csrfOf(signInPage.text), next: 'consent', username: 'demo', password: WRONG_PASSWORD } });
  assert.notEqual(refused.location, '/device/consent');
  const person = createPageSession(issuer);
  const consent = await reachConsent(person, userCode, { username: 'demo', password: DEMO_PASSWORD });
  const decision = new URLSearchParams({ csrf: csrfOf(consent.text), request: requestIdOf(consent.text), decision: 'approve' });
  for (const scope of ['openid', 'profile', 'offline_access']) decision.append('scope', scope);
  const approved = await person.request('/device/consent', { form: decision });
  assert.equal(approved.status, 303);
  for (const [name, value] of person.jar) secrets[`cookie ${name}`] = value;
  secrets['CSRF token'] = csrfOf(consent.text);

  const tokens = await poll();
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.ok(tokens.body.refresh_token, 'offline_access was granted on the consent page');
  secrets['access token'] = tokens.body.access_token;
  secrets['refresh token'] = tokens.body.refresh_token;
  secrets['ID token'] = tokens.body.id_token;

  const refreshed = await postForm(issuer, '/oauth/token', { grant_type: 'refresh_token', client_id: 'demo-tv', refresh_token: tokens.body.refresh_token });
  assert.equal(refreshed.status, 200);
  secrets['rotated refresh token'] = refreshed.body.refresh_token;
  secrets['second access token'] = refreshed.body.access_token;

  const basic = basicAuthorization('log-api', CLIENT_SECRET);
  assert.equal((await postForm(issuer, '/oauth/introspect', { token: refreshed.body.access_token }, { authorization: basic })).status, 200);
  assert.equal((await postForm(issuer, '/oauth/introspect', { token: 'x' }, { authorization: basicAuthorization('log-api', WRONG_SECRET) })).status, 401);
  assert.equal((await postForm(issuer, '/oauth/introspect', { token: 'x', client_id: 'log-api', client_secret: WRONG_SECRET })).status, 401);
  const machine = await postForm(issuer, '/oauth/token', { grant_type: 'client_credentials' }, { authorization: basic });
  assert.equal(machine.status, 200);
  secrets['client_credentials token'] = machine.body.access_token;
  assert.equal((await request(issuer, '/oauth/userinfo', { headers: { authorization: `Bearer ${refreshed.body.access_token}` } })).status, 200);
  await request(issuer, `/device?user_code=${encodeURIComponent(userCode)}`);
  // The device uses its successor, so the first refresh token is no longer a retry within
  // refreshRetryWindow (docs/security.md REFRESH-RETRY) but reuse: a security event is logged,
  // without the token.
  const again = await postForm(issuer, '/oauth/token', { grant_type: 'refresh_token', client_id: 'demo-tv', refresh_token: refreshed.body.refresh_token });
  assert.equal(again.status, 200);
  secrets['third refresh token'] = again.body.refresh_token;
  assert.equal((await postForm(issuer, '/oauth/token', { grant_type: 'refresh_token', client_id: 'demo-tv', refresh_token: tokens.body.refresh_token })).status, 400);
  assert.equal((await postForm(issuer, '/oauth/revoke', { client_id: 'demo-tv', token: again.body.refresh_token })).status, 200);

  const ended = await serve.stop();
  assert.equal(ended.code, 0);
  const everything = `${serve.output()}\n${serve.stderr()}`;
  const lines = everything.split('\n').filter((line) => line.startsWith('{'));
  assert.ok(lines.length > 20, `debug logging produced ${lines.length} lines`);
  assert.ok(lines.some((line) => line.includes('"refresh_token_reuse_detected"')), 'the reuse was logged as a security event');
  for (const [what, secret] of Object.entries(secrets)) {
    assert.ok(secret && secret.length >= 8, what);
    assert.ok(!everything.includes(secret), `the ${what} appears in the logs`);
  }
});
