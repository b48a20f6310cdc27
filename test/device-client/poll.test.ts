/**
 * RFC 8628 §3.4-3.5 polling rules, on a virtual clock: the token request is a scripted function
 * here (the end-to-end tests run the same loop against the real appliance).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeviceClientError, type LoginEvent } from '@devicegate/device-client';
import type { HttpOutcome } from '../../device-client/src/core/http.ts';
import { createWake, pollForTokens } from '../../device-client/src/core/poll.ts';
import { backoffDelay, type Runtime } from '../../device-client/src/core/runtime.ts';

type Answer = HttpOutcome | DeviceClientError;

const pending: Answer = { ok: false, status: 400, error: 'authorization_pending', body: { error: 'authorization_pending' }, headers: new Headers() };
const slowDown = (interval?: number, retryAfter?: number): Answer => ({
  ok: false,
  status: retryAfter ? 429 : 400,
  error: 'slow_down',
  body: { error: 'slow_down', ...(interval ? { interval } : {}) },
  headers: new Headers(retryAfter ? { 'retry-after': String(retryAfter) } : {}),
});
const oauthError = (error: string): Answer => ({ ok: false, status: 400, error, body: { error }, headers: new Headers() });
const tokens: Answer = { ok: true, status: 200, body: { access_token: 'at', token_type: 'Bearer', expires_in: 600 }, headers: new Headers() };
const networkDown = () => new DeviceClientError('network', 'cannot reach the appliance');

/** A clock that only moves when the code under test sleeps. */
function virtualRuntime(): Runtime & { time: number } {
  const runtime = {
    time: 0,
    fetch: () => Promise.reject(new Error('no network in this test')),
    now: () => runtime.time,
    sleep: async (ms: number) => {
      runtime.time += ms;
    },
    random: () => 0.5,
  };
  return runtime;
}

async function run(answers: Answer[], options: { interval?: number; expiresIn?: number } = {}) {
  const runtime = virtualRuntime();
  const polls: number[] = [];
  const events: LoginEvent[] = [];
  const script = [...answers];
  const result = pollForTokens({
    runtime,
    interval: options.interval ?? 5,
    expiresAt: (options.expiresIn ?? 600) * 1000,
    wake: createWake(runtime),
    emit: (event) => events.push(event),
    poll: async () => {
      polls.push(runtime.time);
      const answer = script.shift() ?? pending;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  }).then(
    (value) => ({ tokens: value, error: undefined }),
    (error: unknown) => ({ tokens: undefined, error: error as DeviceClientError }),
  );
  return { ...(await result), polls, events };
}

test('the first poll waits one interval, and polls never come faster than the interval', async () => {
  const { polls, tokens: got } = await run([pending, pending, pending, tokens]);
  assert.deepEqual(polls, [5000, 10000, 15000, 20000]);
  assert.equal(got?.accessToken, 'at');
});

test('no interval in the response means 5 seconds (RFC 8628 §3.2) - the default reaches the loop', async () => {
  const { parseDeviceAuthorization } = await import('../../device-client/src/core/device-authorization.ts');
  const parsed = parseDeviceAuthorization({ device_code: 'd', user_code: 'U', verification_uri: 'https://x/device', expires_in: 600 });
  assert.equal(parsed.interval, 5);
});

test('slow_down adds 5 seconds for that and every later poll', async () => {
  const { polls, events } = await run([pending, slowDown(), pending, slowDown(), pending, tokens]);
  assert.deepEqual(polls, [5000, 10000, 20000, 30000, 45000, 60000]);
  assert.deepEqual(
    events.filter((event) => event.type === 'slow_down').map((event) => (event as { interval: number }).interval),
    [10, 15],
  );
});

test('a larger interval named beside slow_down, or a Retry-After, is honoured', async () => {
  const named = await run([slowDown(30), pending, tokens]);
  assert.deepEqual(named.polls, [5000, 35000, 65000]);
  const retryAfter = await run([slowDown(undefined, 40), pending, tokens]);
  assert.deepEqual(retryAfter.polls, [5000, 45000, 55000]);
});

test('network failures back off exponentially, never below the interval, and reset on an answer', async () => {
  const { polls, events } = await run([networkDown(), networkDown(), networkDown(), pending, tokens]);
  // random() = 0.5: three quarters of min(cap, interval * 2^(n-1)), floored at the interval.
  assert.deepEqual(polls, [5000, 10000, 17500, 32500, 37500]);
  assert.equal(events.filter((event) => event.type === 'error').length, 3);
  assert.ok(events.every((event) => event.type !== 'error' || !event.fatal));
});

test('5xx answers are retried like network failures', async () => {
  const { polls, tokens: got } = await run([new DeviceClientError('server', 'HTTP 503', { status: 503 }), tokens]);
  assert.deepEqual(polls, [5000, 10000]);
  assert.ok(got);
});

test('backoff is capped and jittered', () => {
  const delays = [0, 0.25, 0.999].map((random) => backoffDelay(30, { baseMs: 5000, capMs: 60_000, random: () => random }));
  assert.ok(delays.every((delay) => delay >= 30_000 && delay <= 60_000), String(delays));
  assert.notEqual(delays[0], delays[2]);
});

for (const [error, code] of [
  ['access_denied', 'access_denied'],
  ['expired_token', 'expired_token'],
  ['invalid_client', 'oauth'],
  ['invalid_grant', 'oauth'],
] as const) {
  test(`${error} stops polling at once (${code})`, async () => {
    const { polls, error: failure } = await run([pending, oauthError(error), pending, tokens]);
    assert.equal(polls.length, 2);
    assert.equal(failure?.code, code);
  });
}

test('polling stops when the code expires, without an answer from the appliance', async () => {
  const { polls, error } = await run([], { interval: 5, expiresIn: 22 });
  assert.deepEqual(polls, [5000, 10000, 15000, 20000]);
  assert.equal(error?.code, 'expired_token');
});

test('a push wake-up sends one request at once; the interval then applies from it', async () => {
  const runtime = virtualRuntime();
  const wake = createWake(runtime);
  const polls: { at: number; reason: string }[] = [];
  const answers = [pending, pending, tokens];
  // Sleeping is real here only in that the wake arrives during the second wait.
  let sleeps = 0;
  runtime.sleep = async (ms: number) => {
    sleeps += 1;
    if (sleeps === 2) {
      runtime.time += 1000;
      wake.request();
      return;
    }
    runtime.time += ms;
  };
  await pollForTokens({
    runtime,
    interval: 5,
    expiresAt: 600_000,
    wake,
    emit: (event) => {
      if (event.type === 'poll') polls.push({ at: event.at, reason: event.reason });
    },
    poll: async () => answers.shift()!,
  });
  assert.deepEqual(polls, [
    { at: 5000, reason: 'interval' },
    { at: 6000, reason: 'push' },
    { at: 11000, reason: 'interval' },
  ]);
});

test('cancelling through the AbortSignal ends the wait with aborted', async () => {
  const controller = new AbortController();
  const runtime = virtualRuntime();
  const failure = await pollForTokens({
    runtime,
    interval: 5,
    expiresAt: 600_000,
    wake: createWake(runtime),
    emit: () => undefined,
    signal: controller.signal,
    poll: async () => {
      controller.abort();
      return pending as HttpOutcome;
    },
  }).catch((error: unknown) => error as DeviceClientError);
  assert.equal((failure as DeviceClientError).code, 'aborted');
});
