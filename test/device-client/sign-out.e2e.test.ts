/**
 * Remote sign-out reaches the device (docs/push.md#signed-in-devices): a signed-in device keeps a
 * push watch for its grant (`devicegate-device watch`, the real device client), and when the
 * person signs it out from "My devices" or an admin revokes its grant, the appliance tells it over
 * the WebSocket or the embedded MQTT broker and the client drops its tokens at once: `token` never
 * prints one again. A device that only finds out when its refresh is refused drops them too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { DeviceCliEvent } from '@devicegate/protocol';
import { SIGNED_IN_USERNAME } from '@devicegate/protocol';
import { createTokenStore } from '@devicegate/device-client';
import { createVerificationPort } from '@devicegate/server';
import { connect } from 'mqtt';
import WebSocket from 'ws';
import type { TestAppliance } from '../support/appliance.ts';
import { runCli } from '../cli/run-cli.ts';
import { cliProcess, type CliResult } from './support/cli.ts';
import { assertNoSecrets, jsonLogin, storedSecrets } from './support/cli-login.ts';
import { DEVICE_CLIENT_ID, DEVICE_SCOPE, startDeviceAppliance, until } from './support/e2e.ts';
import { deviceEnv, tempDir } from './support/temp.ts';

let dg: TestAppliance;
before(async () => {
  dg = await startDeviceAppliance();
});
after(() => dg?.stop());

const loginArgs = ['--client-id', DEVICE_CLIENT_ID, '--scope', DEVICE_SCOPE, '--channel', 'poll'];

/** Signs a device in through the real client (approved on the pages) and returns its grant id. */
async function signedInDevice(t: Parameters<typeof jsonLogin>[4]): Promise<{ env: Record<string, string>; grantId: string }> {
  const env = deviceEnv(tempDir());
  const before = new Set((await dg.appliance.context.store.grants.listByUser(dg.demoUserId)).map((grant) => grant.id));
  const login = await jsonLogin(dg, loginArgs, env, 'approve', t);
  assert.equal(login.code, 0, login.stderr);
  const grants = (await dg.appliance.context.store.grants.listByUser(dg.demoUserId)).filter((grant) => !before.has(grant.id));
  assert.equal(grants.length, 1);
  return { env, grantId: grants[0]!.id };
}

/** `devicegate-device watch --json` as a running process, with its events as they come. */
function startWatch(env: Record<string, string>, channel: 'websocket' | 'mqtt', signal: AbortSignal) {
  const events: DeviceCliEvent[] = [];
  let child: { kill(signal: NodeJS.Signals): void } | undefined;
  const ended: Promise<CliResult> = cliProcess(['watch', '--json', '--channel', channel], env, {
    signal,
    onSpawn: (spawned) => (child = spawned),
    onStdoutLine: (line) => events.push(JSON.parse(line) as DeviceCliEvent),
  });
  let exited = false;
  void ended.then(() => (exited = true));
  return {
    events,
    ended,
    exited: () => exited,
    watching: () => until(() => events.some((event) => event.event === 'watching'), 60_000, `watch on ${channel}`),
    stop: () => child?.kill('SIGTERM'),
  };
}

const demoAccount = () => ({ id: dg.demoUserId, username: 'demo', name: 'Demo User', email: 'demo@example.com' });

async function assertSignedOut(env: Record<string, string>, secrets: string[], reason: RegExp): Promise<void> {
  const record = await createTokenStore({ env }).load('default');
  assert.deepEqual(record?.tokens, {}, 'the cached tokens are gone');
  const token = await cliProcess(['token'], env);
  assert.equal(token.code, 7, token.stdout);
  assert.equal(token.stdout, '', 'no token printed');
  const lines = token.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, token.stderr);
  assert.match(lines[0]!, reason);
  assertNoSecrets(token.stdout + token.stderr, secrets, 'token after sign-out');
}

test('signed out from "My devices", a device watching on the WebSocket is told and drops its tokens; another device is not', async (t) => {
  const first = await signedInDevice(t);
  const second = await signedInDevice(t);
  const firstSecrets = await storedSecrets(first.env);
  const watchFirst = startWatch(first.env, 'websocket', t.signal);
  const watchSecond = startWatch(second.env, 'websocket', t.signal);
  try {
    await watchFirst.watching();
    await watchSecond.watching();
    assert.equal(await createVerificationPort(dg.appliance.context).signOutDevice(demoAccount(), first.grantId), true);
    const result = await watchFirst.ended;
    assert.equal(result.code, 7, result.stderr);
    assert.deepEqual(watchFirst.events.map((event) => event.event), ['watching', 'signed_out']);
    assertNoSecrets(result.stdout + result.stderr, firstSecrets, 'watch output');
    await assertSignedOut(first.env, firstSecrets, /signed out: the appliance revoked its sign-in/);
    // The other device's watch is untouched, and its token still prints.
    assert.equal(watchSecond.exited(), false);
    const token = await cliProcess(['token'], second.env);
    assert.equal(token.code, 0, token.stderr);
  } finally {
    watchFirst.stop();
    watchSecond.stop();
    await Promise.allSettled([watchFirst.ended, watchSecond.ended]);
  }
});

test('an admin revoking the grant (devicegate grants revoke, another process) reaches a device watching on the embedded MQTT broker', async (t) => {
  const device = await signedInDevice(t);
  const secrets = await storedSecrets(device.env);
  const watch = startWatch(device.env, 'mqtt', t.signal);
  try {
    await watch.watching();
    const revoke = await runCli(['grants', 'revoke', device.grantId, '--data-dir', dg.dataDir]);
    assert.equal(revoke.code, 0, revoke.stderr);
    const result = await watch.ended;
    assert.equal(result.code, 7, result.stderr);
    assert.deepEqual(watch.events.map((event) => event.event), ['watching', 'signed_out']);
    await assertSignedOut(device.env, secrets, /signed out: the appliance revoked its sign-in/);
  } finally {
    watch.stop();
    await Promise.allSettled([watch.ended]);
  }
});

test('a device that finds its refresh token refused drops its tokens: token exits 7 with one line and prints none, then and later', async (t) => {
  const device = await signedInDevice(t);
  const secrets = await storedSecrets(device.env);
  assert.equal(await createVerificationPort(dg.appliance.context).signOutDevice(demoAccount(), device.grantId), true);
  // The cached access token is due for a refresh: the appliance then refuses the refresh token.
  const store = createTokenStore({ env: device.env });
  const record = (await store.load('default'))!;
  await store.save('default', { ...record, tokens: { ...record.tokens, expiresAt: 0 } });
  const refused = await cliProcess(['token'], device.env);
  assert.equal(refused.code, 7, refused.stdout);
  assert.equal(refused.stdout, '');
  assert.equal(refused.stderr.trimEnd().split('\n').length, 1, refused.stderr);
  await assertSignedOut(device.env, secrets, /signed out: the appliance refused its refresh token/);
});

test('a watch needs an active access token of a grant: WebSocket and MQTT refuse any other', async () => {
  const metadata = (await (await fetch(`${dg.issuer}/.well-known/openid-configuration`)).json()) as {
    devicegate_push_websocket_endpoint: string;
    devicegate_push_mqtt_endpoint: string;
  };
  // WebSocket: refused with invalid_token and a policy close.
  const socket = new WebSocket(metadata.devicegate_push_websocket_endpoint);
  const frames: string[] = [];
  socket.on('message', (data) => frames.push(data.toString()));
  socket.on('open', () => socket.send(JSON.stringify({ type: 'watch', access_token: 'not-a-token' })));
  const code = await new Promise<number>((resolve) => socket.on('close', (closeCode) => resolve(closeCode)));
  assert.equal(code, 1008);
  assert.equal((JSON.parse(frames[0]!) as { error: string }).error, 'invalid_token');
  // MQTT: refused at CONNECT (bad user name or password).
  const client = connect(metadata.devicegate_push_mqtt_endpoint, { username: SIGNED_IN_USERNAME, password: 'not-a-token', reconnectPeriod: 0, connectTimeout: 10_000 });
  const error = await new Promise<Error & { code?: number }>((resolve) => client.once('error', resolve));
  client.end(true);
  assert.equal(error.code, 4);
});
