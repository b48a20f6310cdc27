// Devices waiting on a push channel, and one person approving some of them, in a process of its
// own: N devices on the real device client (WebSocket or MQTT, polling beside as RFC 8628 asks),
// then K approvals one at a time through the real pages, each timed from the press of Approve to
// the device being told (its `approved` event) and to the device holding its tokens.
//
// Job (BENCH_PUSH, JSON): { issuer, clientId, channel, devices, samples, person: {username, password},
// setupConcurrency, setupTimeoutSeconds }. IPC: → { type: 'subscribed', devices, setupSeconds };
// ← { type: 'approve' }; → { type: 'result', ... }.
import { startLogin, type DeviceLogin } from '@devicegate/device-client';
import { createPerson, summarize } from '@devicegate/simulators';

interface PushJob {
  issuer: string;
  clientId: string;
  channel: 'websocket' | 'mqtt';
  devices: number;
  samples: number;
  person: { username: string; password: string };
  setupConcurrency: number;
  setupTimeoutSeconds: number;
}

interface Waiting {
  login: DeviceLogin;
  subscribed: boolean;
  toldAt: number | null;
  tokenAt: number | null;
  via: 'push' | 'poll' | null;
  outcome: Promise<unknown>;
}

const job = JSON.parse(process.env.BENCH_PUSH ?? '{}') as PushJob;
const stop = new AbortController();
const waiting: Waiting[] = [];
let subscribed = 0;
let failures = 0;
let firstFailure = '';
const began = performance.now();
const setupDeadline = began + job.setupTimeoutSeconds * 1000;

async function startDevice(index: number): Promise<void> {
  const entry = { subscribed: false, toldAt: null, tokenAt: null, via: null } as Waiting;
  entry.login = await startLogin({
    issuer: job.issuer,
    clientId: job.clientId,
    scope: 'openid offline_access',
    deviceName: `Bench device ${index}`,
    channel: job.channel,
    signal: stop.signal,
    onEvent(event) {
      if (event.type === 'channel' && event.state === 'subscribed' && !entry.subscribed) {
        entry.subscribed = true;
        subscribed++;
      } else if (event.type === 'approved') {
        entry.toldAt ??= performance.now();
        entry.via = event.via;
      } else if (event.type === 'token') {
        entry.tokenAt = performance.now();
      } else if (event.type === 'error' && !event.fatal) {
        failures++;
        firstFailure ||= event.error.message;
      }
    },
  });
  entry.outcome = entry.login.wait().catch(() => undefined);
  waiting.push(entry);
}

/** A device whose discovery and device authorization take longer is counted as failed, so one
 * stuck request (it happened once in a full run: no answer, no error) cannot hold the setup. */
const START_TIMEOUT_MS = 30_000;
function bounded(start: Promise<void>, index: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`device ${index} had no code after ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
  });
  return Promise.race([start, timeout]).finally(() => clearTimeout(timer));
}

// Bounded concurrency: a few hundred HTTP sockets at a time, not ten thousand.
let next = 0;
await Promise.all(
  Array.from({ length: job.setupConcurrency }, async () => {
    while (next < job.devices && performance.now() < setupDeadline) {
      const index = next++;
      try {
        await bounded(startDevice(index), index);
      } catch (error) {
        failures++;
        firstFailure ||= (error as Error).message;
      }
    }
  }),
);
while (subscribed < waiting.length && performance.now() < setupDeadline) await new Promise((resolve) => setTimeout(resolve, 100));
const setupSeconds = (performance.now() - began) / 1000;
process.send!({ type: 'subscribed', devices: waiting.length, subscribed, setupSeconds, failures, firstFailure });

await new Promise<void>((resolve) => process.once('message', () => resolve()));

const person = createPerson(job.person, { fetch: (input, init) => fetch(input, init), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) });
const toTold: number[] = [];
const toToken: number[] = [];
const decideMs: number[] = [];
let missed = 0;
const samples = Math.min(job.samples, waiting.length);
const step = Math.max(1, Math.floor(waiting.length / Math.max(1, samples)));
for (let sample = 0; sample < samples; sample++) {
  const device = waiting[sample * step]!;
  const { clickedAt, doneAt } = await person.decide({
    userCode: device.login.userCode,
    verificationUri: device.login.verificationUri,
    decision: 'approve',
    viaQr: false,
    readMs: 0,
  });
  // Bounded wait for the token: the device polls anyway, so it comes within an interval at worst.
  await Promise.race([device.outcome, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  decideMs.push(doneAt - clickedAt);
  // Told by polling instead of the push: the push was missed (or too slow to matter).
  if (device.toldAt === null || device.via !== 'push') missed++;
  if (device.toldAt !== null) toTold.push(device.toldAt - clickedAt);
  if (device.tokenAt !== null) toToken.push(device.tokenAt - clickedAt);
}
process.send!({ type: 'result', approvalToTold: summarize(toTold), approvalToToken: summarize(toToken), consentRequestMs: summarize(decideMs), missed, failures, firstFailure });
stop.abort();
setTimeout(() => process.exit(0), 500).unref();
