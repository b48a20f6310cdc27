/**
 * The device client's library against the real appliance: sign-in by polling alone, over
 * WebSocket, over MQTT; denial; expiry; slow_down honoured; the appliance restarted while the
 * device waits; refresh and logout.
 */
import assert from 'node:assert/strict';
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  createSession,
  createTokenStore,
  DeviceClientError,
  startLogin,
  type DeviceLogin,
  type LoginEvent,
  type TokenStore,
} from '@devicegate/device-client';
import { startTestAppliance, type TestAppliance } from '../support/appliance.ts';
import { freePort } from '../support/ports.ts';
import { decide, DEVICE_CLIENT_ID, DEVICE_SCOPE, inBackground, startDeviceAppliance, until, type Decider } from './support/e2e.ts';
import { tempDir } from './support/temp.ts';

/** A client whose interval is long: a login that ends quickly can only have heard it by push. */
const PUSH_CLIENT_ID = 'e2e-push-device';
const PUSH_CLIENT_INTERVAL = 30;

let dg: TestAppliance;
before(async () => {
  dg = await startDeviceAppliance();
  await dg.addClient({ clientId: PUSH_CLIENT_ID, pollInterval: PUSH_CLIENT_INTERVAL });
  await dg.addClient({ clientId: 'e2e-short-lived', pollInterval: 1, deviceCodeLifetime: 3 });
});
after(() => dg?.stop());

const storeIn = (dir: string): TokenStore => createTokenStore({ dir: path.join(dir, 'state'), keyFile: path.join(dir, 'device.key'), env: {} });

/**
 * Makes the stored access token look expired, as an hour on the shelf would. The clock is not
 * moved instead: DPoP proofs carry the time, and the appliance refuses one an hour ahead.
 */
async function ageStoredTokens(store: TokenStore, profile = 'default'): Promise<void> {
  const record = await store.load(profile);
  assert.ok(record);
  await store.save(profile, { ...record, tokens: { ...record.tokens, expiresAt: Date.now() - 1000 }, savedAt: Date.now() - 3600_000 });
}

/** Records the events of a login and decides it once the code is shown. */
function recorder() {
  const events: LoginEvent[] = [];
  return {
    events,
    onEvent: (event: LoginEvent) => events.push(event),
    of: <T extends LoginEvent['type']>(type: T) => events.filter((event): event is Extract<LoginEvent, { type: T }> => event.type === type),
  };
}

async function failureOf(promise: Promise<unknown>): Promise<DeviceClientError> {
  const error = await promise.then(
    () => assert.fail('expected the login to fail'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof DeviceClientError, String(error));
  return error;
}

test('signs in by polling alone, stores the tokens, and hands out the access token', async (t) => {
  const dir = tempDir();
  const session = createSession({ store: storeIn(dir) });
  const log = recorder();
  const login = await session.login({
    issuer: dg.issuer,
    clientId: DEVICE_CLIENT_ID,
    scope: DEVICE_SCOPE,
    deviceName: 'Kitchen display',
    deviceModel: 'Pi 5',
    channel: 'poll',
    onEvent: log.onEvent,
    signal: t.signal,
  });
  assert.equal(login.channel, 'poll');
  assert.match(login.userCode, /^[A-Z]{4}-[A-Z]{4}$/);
  assert.equal(login.qr.text, login.verificationUriComplete);
  assert.equal(login.interval, 1);
  const waiting = inBackground(login.wait());
  await until(() => log.of('poll').length >= 1, 30_000, 'a first poll');
  await decide(dg, login, 'approve', t);
  const tokens = await waiting;

  assert.ok(tokens.accessToken && tokens.refreshToken && tokens.idToken);
  assert.deepEqual(log.of('approved'), [{ type: 'approved', via: 'poll' }]);
  assert.equal(log.of('token').length, 1);
  assert.ok(log.of('poll').every((poll) => poll.reason === 'interval'));
  assert.equal(log.events[0]?.type, 'code');

  const status = await session.status();
  assert.equal(status.loggedIn, true);
  assert.equal(status.issuer, dg.issuer);
  assert.equal(status.clientId, DEVICE_CLIENT_ID);
  assert.equal(status.hasRefreshToken, true);
  assert.equal(status.deviceName, 'Kitchen display');
  assert.equal(await session.getAccessToken(), tokens.accessToken);
});

async function pushLogin(t: Decider & { skip(message?: string): void; signal: AbortSignal }, channel: 'websocket' | 'mqtt') {
  const log = recorder();
  const started = Date.now();
  let login: DeviceLogin;
  try {
    login = await startLogin({ issuer: dg.issuer, clientId: PUSH_CLIENT_ID, scope: DEVICE_SCOPE, channel, onEvent: log.onEvent, signal: t.signal });
  } catch (error) {
    if (error instanceof DeviceClientError && error.code === 'push') {
      t.skip(`the appliance offers no ${channel} push (docs/push.md)`);
      return;
    }
    throw error;
  }
  assert.equal(login.channel, channel);
  const waiting = inBackground(login.wait());
  await until(() => log.of('channel').some((event) => event.state === 'subscribed'), 30_000, `the ${channel} subscription`);
  await decide(dg, login, 'approve', t);
  const tokens = await waiting;
  assert.ok(tokens.accessToken);
  assert.deepEqual(log.of('approved'), [{ type: 'approved', via: 'push' }]);
  // The interval is 30 s: the device heard of the approval by push and asked at once, once.
  const polls = log.of('poll');
  assert.deepEqual(polls.map((poll) => poll.reason), ['push']);
  assert.ok(Date.now() - started < PUSH_CLIENT_INTERVAL * 1000, 'well before the first poll was due');
  await until(() => log.of('channel').some((event) => event.state === 'closed'), 10_000, 'the channel to close');
}

test('over WebSocket: the approval arrives by push, then exactly one token request', async (t) => {
  await pushLogin(t, 'websocket');
});

test('over MQTT (embedded broker): the approval arrives by push, then exactly one token request', async (t) => {
  await pushLogin(t, 'mqtt');
});

for (const channel of ['websocket', 'mqtt'] as const) {
  test(`over ${channel}, approved before the device listens: the outcome is there at once (retained / late subscriber)`, async (t) => {
    const log = recorder();
    const started = Date.now();
    const login = await startLogin({ issuer: dg.issuer, clientId: PUSH_CLIENT_ID, scope: DEVICE_SCOPE, channel, onEvent: log.onEvent, signal: t.signal });
    await decide(dg, login, 'approve', t);
    const tokens = await login.wait();
    assert.ok(tokens.accessToken);
    assert.deepEqual(log.of('approved'), [{ type: 'approved', via: 'push' }]);
    assert.deepEqual(log.of('poll').map((poll) => poll.reason), ['push']);
    assert.ok(Date.now() - started < PUSH_CLIENT_INTERVAL * 1000, 'well before the first poll was due');
  });
}

test('denial: wait() rejects with access_denied, a denied event, nothing stored', async (t) => {
  const dir = tempDir();
  const session = createSession({ store: storeIn(dir) });
  const log = recorder();
  const login = await session.login({ issuer: dg.issuer, clientId: DEVICE_CLIENT_ID, scope: DEVICE_SCOPE, onEvent: log.onEvent, signal: t.signal });
  const waiting = inBackground(login.wait());
  await until(() => log.events.length > 0);
  await decide(dg, login, 'deny', t);
  const error = await failureOf(waiting);
  assert.equal(error.code, 'access_denied');
  assert.equal(log.of('denied').length, 1);
  assert.equal(log.of('token').length, 0);
  assert.equal((await session.status()).loggedIn, false);
});

test('expiry: a code nobody approves ends with expired_token at expires_in', async (t) => {
  const log = recorder();
  const login = await startLogin({ issuer: dg.issuer, clientId: 'e2e-short-lived', scope: DEVICE_SCOPE, onEvent: log.onEvent, signal: t.signal });
  assert.equal(login.expiresIn, 3);
  const started = Date.now();
  const error = await failureOf(login.wait());
  assert.equal(error.code, 'expired_token');
  assert.equal(log.of('expired').length, 1);
  assert.ok(Date.now() - started < 20_000);
});

test('slow_down: the interval grows by 5 s for every later poll, and the appliance never has to say it again', async (t) => {
  // The test polls once with the device's own code just before the device's second poll, so
  // that poll comes too soon for the appliance, which answers slow_down (RFC 8628 §3.5).
  const answers: { at: number; error: string }[] = [];
  const nonceAnswers: number[] = [];
  let interfered = false;
  const interfering = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const body = typeof init?.body === 'string' ? new URLSearchParams(init.body) : null;
    if (body?.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:device_code') return fetch(input, init);
    if (log.of('poll').length === 2 && !interfered) {
      interfered = true;
      // Without the device's DPoP proof: a proof is single-use, and the device still sends it.
      const headers = new Headers(init!.headers);
      headers.delete('dpop');
      const own = await fetch(input, { method: 'POST', headers, body: body.toString() });
      await own.arrayBuffer();
    }
    const response = await fetch(input, init);
    const answer = (await response.clone().json()) as { error?: string };
    // The DPoP nonce round trip (RFC 9449 §8) is not a poll: the device retries it at once.
    if (answer.error === 'use_dpop_nonce') nonceAnswers.push(answers.length);
    else answers.push({ at: Date.now(), error: answer.error ?? 'tokens' });
    return response;
  };
  const log = recorder();
  const login = await startLogin({
    issuer: dg.issuer,
    clientId: DEVICE_CLIENT_ID,
    scope: DEVICE_SCOPE,
    channel: 'poll',
    fetch: interfering,
    onEvent: log.onEvent,
    signal: t.signal,
  });
  const waiting = inBackground(login.wait());
  await until(() => answers.length >= 3, 60_000, 'a poll after slow_down');
  await decide(dg, login, 'approve', t);
  await waiting;

  assert.deepEqual(answers.map((answer) => answer.error), ['authorization_pending', 'slow_down', 'authorization_pending', 'tokens']);
  assert.deepEqual(nonceAnswers, [], 'the nonce came with the device authorization: no nonce round trip');
  assert.deepEqual(log.of('slow_down'), [{ type: 'slow_down', interval: 6 }]);
  const polls = log.of('poll').map((poll) => poll.at);
  assert.equal(polls.length, 4);
  // Measured on the client's clock from one request to the next: 1 s, then 6 s and 6 s.
  assert.ok(polls[1]! - polls[0]! >= 1000, `first gap ${polls[1]! - polls[0]!} ms`);
  assert.ok(polls[2]! - polls[1]! >= 6000, `gap after slow_down ${polls[2]! - polls[1]!} ms`);
  assert.ok(polls[3]! - polls[2]! >= 6000, `later gap ${polls[3]! - polls[2]!} ms`);
});

test('the appliance restarted while the device waits: the device retries, then signs in', async (t) => {
  // Same data directory and ports, so the appliance comes back as itself.
  const dataDir = mkdtempSync(path.join(tmpdir(), 'devicegate-restart-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const overrides = { port: await freePort(), push: { mqttPort: await freePort() } };
  let first: TestAppliance | undefined = await startDeviceAppliance({ dataDir, overrides });
  let second: TestAppliance | undefined;
  after(async () => {
    await first?.stop();
    await second?.stop();
  });
  const log = recorder();
  const login = await startLogin({ issuer: first.issuer, clientId: DEVICE_CLIENT_ID, scope: DEVICE_SCOPE, onEvent: log.onEvent, signal: t.signal });
  const waiting = inBackground(login.wait());
  await until(() => log.of('poll').length >= 1, 30_000, 'a first poll');
  await first.stop();
  first = undefined;
  await until(() => log.of('error').some((event) => !event.fatal && event.error.retryable), 30_000, 'a failed poll');
  second = await startTestAppliance({ dataDir, overrides }); // the client is in the store already
  if (login.channel !== 'poll') {
    // The push channel lost its connection too, and comes back by itself.
    await until(() => log.of('channel').filter((event) => event.state === 'subscribed').length >= 2, 60_000, 'a new subscription');
    assert.ok(log.of('channel').some((event) => event.state === 'reconnecting'));
  }
  await decide(second, login, 'approve', t);
  const tokens = await waiting;
  assert.ok(tokens.accessToken);
  assert.ok(log.of('error').every((event) => !event.fatal));
  t.diagnostic(`waited on ${login.channel}; approval learned by ${log.of('approved')[0]?.via}`);
});

test('getAccessToken refreshes near expiry and stores the rotated refresh token first; logout revokes it', async (t) => {
  const dir = tempDir();
  const store = storeIn(dir);
  const session = createSession({ store });
  const login = await session.login({ issuer: dg.issuer, clientId: DEVICE_CLIENT_ID, scope: DEVICE_SCOPE, channel: 'poll', signal: t.signal });
  const waiting = inBackground(login.wait());
  await decide(dg, login, 'approve', t);
  const first = await waiting;

  // An hour later, as far as this session can tell: the access token is past its expiry.
  await ageStoredTokens(store);
  const later = createSession({ store });
  const refreshed = await later.getAccessToken();
  assert.notEqual(refreshed, first.accessToken);
  const stored = await store.load('default');
  assert.equal(stored?.tokens.accessToken, refreshed);
  assert.ok(stored?.tokens.refreshToken && stored.tokens.refreshToken !== first.refreshToken, 'rotated refresh token stored');

  const result = await session.logout();
  assert.deepEqual(result, { wasLoggedIn: true, revoked: true });
  assert.equal(await store.load('default'), null);
  const metadata = (await (await fetch(`${dg.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const reuse = await fetch(metadata.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stored.tokens.refreshToken, client_id: DEVICE_CLIENT_ID }),
  });
  assert.equal(reuse.status, 400, 'the revoked refresh token is refused');
  assert.equal(((await reuse.json()) as { error: string }).error, 'invalid_grant');
});

test('a refreshed token is not handed out when the rotated refresh token cannot be stored', async (t) => {
  const dir = tempDir();
  const store = storeIn(dir);
  const login = await createSession({ store }).login({ issuer: dg.issuer, clientId: DEVICE_CLIENT_ID, scope: DEVICE_SCOPE, channel: 'poll', signal: t.signal });
  const waiting = inBackground(login.wait());
  await decide(dg, login, 'approve', t);
  await waiting;
  const failingStore: TokenStore = {
    ...store,
    save: async () => {
      throw new DeviceClientError('store', 'cannot write: no space left on device');
    },
  };
  await ageStoredTokens(store);
  const session = createSession({ store: failingStore });
  const error = await failureOf(session.getAccessToken());
  assert.equal(error.code, 'store');
  assert.match(error.message, /no space left/);
});

test('cancelling through the AbortSignal ends the wait with aborted and closes the push channel', async () => {
  const controller = new AbortController();
  const log = recorder();
  const login = await startLogin({ issuer: dg.issuer, clientId: DEVICE_CLIENT_ID, scope: DEVICE_SCOPE, signal: controller.signal, onEvent: log.onEvent });
  const waiting = inBackground(login.wait());
  await until(() => log.of('poll').length >= 1 || log.of('channel').some((event) => event.state === 'subscribed'), 30_000, 'waiting to begin');
  controller.abort();
  const error = await failureOf(waiting);
  assert.equal(error.code, 'aborted');
  if (login.channel !== 'poll') assert.equal(log.of('channel').at(-1)?.state, 'closed');
});

test('an appliance with push turned off: auto falls back to polling alone', async (t) => {
  const plain = await startDeviceAppliance({ overrides: { push: { websocket: false, mqttEmbedded: false } } });
  after(() => plain.stop());
  const log = recorder();
  const login = await startLogin({ issuer: plain.issuer, clientId: DEVICE_CLIENT_ID, scope: DEVICE_SCOPE, onEvent: log.onEvent, signal: t.signal });
  assert.equal(login.push, undefined);
  assert.equal(login.channel, 'poll');
  const waiting = inBackground(login.wait());
  await decide(plain, login, 'approve', t);
  assert.ok((await waiting).accessToken);
  assert.equal(log.of('channel').length, 0);
});
