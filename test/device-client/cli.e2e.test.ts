/**
 * `devicegate-device` (the installed command, through tsx) against the real appliance.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TestAppliance } from '../support/appliance.ts';
import { cliProcess } from './support/cli.ts';
import { assertNoSecrets, jsonLogin, storedSecrets } from './support/cli-login.ts';
import { decide, DEVICE_CLIENT_ID, DEVICE_SCOPE, startDeviceAppliance } from './support/e2e.ts';
import { deviceEnv, tempDir } from './support/temp.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startDeviceAppliance();
  await dg.addClient({ clientId: 'e2e-short-lived', pollInterval: 1, deviceCodeLifetime: 3 });
});
after(() => dg?.stop());

const loginArgs = ['--client-id', DEVICE_CLIENT_ID, '--scope', DEVICE_SCOPE];

test('login --json, token, status, logout: events in order, and no token anywhere but in token', async (t) => {
  const env = deviceEnv(tempDir());
  const login = await jsonLogin(dg, [...loginArgs, '--channel', 'poll', '--device-name', 'Hall TV'], env, 'approve', t);
  assert.equal(login.code, 0, login.stderr);
  assert.deepEqual(login.events.map((event) => event.event), ['code', 'approved', 'stored']);
  const code = login.events[0]!;
  assert.ok(code.event === 'code');
  assert.match(code.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
  assert.equal(code.channel, 'poll');
  assert.equal(code.interval, 1);
  assert.ok(code.verification_uri.startsWith(dg.issuer));
  const stored = login.events[2]!;
  assert.ok(stored.event === 'stored' && stored.profile === 'default' && stored.scope?.includes('openid'));
  assert.equal(login.stderr, '');

  const secrets = await storedSecrets(env);
  const token = await cliProcess(['token'], env);
  assert.equal(token.code, 0, token.stderr);
  assert.equal(token.stdout, `${secrets[0]}\n`, 'token prints the access token and nothing else');
  assert.equal(token.stderr, '');

  const status = await cliProcess(['status'], env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`issuer\\s+${dg.issuer.replace(/[.]/g, '\\.')}`));
  assert.match(status.stdout, /refresh\s+stored/);
  const statusJson = await cliProcess(['status', '--json'], env);
  assert.equal((JSON.parse(statusJson.stdout) as { loggedIn: boolean }).loggedIn, true);

  const logout = await cliProcess(['logout'], env);
  assert.equal(logout.code, 0, logout.stderr);
  assert.match(logout.stdout, /revoked/);
  const afterLogout = await cliProcess(['token'], env);
  assert.equal(afterLogout.code, 7);

  for (const [what, result] of [['login', login], ['status', status], ['status --json', statusJson], ['logout', logout], ['token after logout', afterLogout]] as const) {
    assertNoSecrets(result.stdout + result.stderr, secrets, what);
  }
});

test('login for a person: the code large, the URL, a QR code; then the tokens are stored', async (t) => {
  const env = deviceEnv(tempDir());
  let decided: Promise<void> | undefined;
  let seen = '';
  const result = await cliProcess(['login', '--issuer', dg.issuer, ...loginArgs, '--channel', 'poll'], env, {
    signal: t.signal,
    onStdoutLine(line) {
      seen += `${line}\n`;
      const code = /^\s{4}([A-Z]{4}-[A-Z]{4})$/.exec(line)?.[1];
      if (code && !decided) decided = decide(dg, { userCode: code, verificationUri: `${dg.issuer}/device` }, 'approve', t);
    },
  });
  await decided;
  assert.equal(result.code, 0, result.stderr);
  assert.match(seen, /open this page/);
  assert.ok(seen.includes(`${dg.issuer}/device`));
  assert.ok(seen.split('\n').filter((line) => line.includes('█')).length >= 5 + 10, 'big letters and a QR code');
  assert.match(seen, /Signed in\. Tokens stored in profile "default"/);
  assertNoSecrets(result.stdout + result.stderr, await storedSecrets(env), 'login output');
});

test('login --qr-png writes the QR code of verification_uri_complete for a screen', async (t) => {
  const dir = tempDir();
  const env = deviceEnv(dir);
  const png = path.join(dir, 'qr.png');
  const login = await jsonLogin(dg, [...loginArgs, '--qr-png', png], env, 'approve', t);
  assert.equal(login.code, 0, login.stderr);
  assert.deepEqual([...readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
});

test('login --json denied: denied event, exit 3, nothing stored', async (t) => {
  const env = deviceEnv(tempDir());
  const login = await jsonLogin(dg, loginArgs, env, 'deny', t);
  assert.equal(login.code, 3, login.stderr);
  assert.deepEqual(login.events.map((event) => event.event), ['code', 'denied']);
  assert.match(login.stderr, /^devicegate-device: sign-in was denied\n$/);
  assert.equal((await cliProcess(['status'], env)).code, 7);
});

test('login --json expired: expired event, exit 4', async (t) => {
  const env = deviceEnv(tempDir());
  const login = await jsonLogin(dg, ['--client-id', 'e2e-short-lived', '--scope', DEVICE_SCOPE], env, 'none', t);
  assert.equal(login.code, 4, login.stderr);
  assert.deepEqual(login.events.map((event) => event.event), ['code', 'expired']);
});

for (const channel of ['websocket', 'mqtt'] as const) {
  test(`login --json --channel ${channel}: the code event names the channel and the login completes`, async (t) => {
    const env = deviceEnv(tempDir());
    const login = await jsonLogin(dg, [...loginArgs, '--channel', channel], env, 'approve', t);
    const first = login.events[0];
    if (first?.event === 'error' && /offers no .* push channel/.test(first.message)) {
      t.skip(`the appliance offers no ${channel} push (docs/push.md)`);
      return;
    }
    assert.equal(login.code, 0, login.stderr);
    assert.ok(first?.event === 'code' && first.channel === channel);
    assert.deepEqual(login.events.map((event) => event.event), ['code', 'approved', 'stored']);
  });
}

test('login interrupted (SIGINT) while waiting: exit 130, an error event, one line', async (t) => {
  const env = deviceEnv(tempDir());
  const events: string[] = [];
  let child: { kill(signal: NodeJS.Signals): void } | undefined;
  const result = await cliProcess(['login', '--json', '--issuer', dg.issuer, ...loginArgs], env, {
    signal: t.signal,
    onSpawn: (spawned) => (child = spawned),
    onStdoutLine(line) {
      const event = JSON.parse(line) as { event: string };
      events.push(event.event);
      if (event.event === 'code') child?.kill('SIGINT');
    },
  });
  assert.equal(result.code, 130, result.stderr);
  assert.deepEqual(events, ['code', 'error']);
  assert.match(result.stderr, /^devicegate-device: cancelled[^\n]*\n$/);
  assert.equal((await cliProcess(['status'], env)).code, 7);
});
