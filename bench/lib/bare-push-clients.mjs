// The waiting clients of a push memory reference (bare-push-server.mjs), in a process of their
// own: raw `ws` / mqtt.js clients doing what a device does on the wire and nothing more, set up
// like push-process.ts sets up its devices (a bounded number at a time, a setup deadline).
//
// ws: opens the socket (no compression, as the device client), sends one subscribe frame of the
// device's shape (~75 bytes) and counts the connection once the answer arrives.
// mqtt: connects as the device client does (clean session, keepalive 30 s, username = a push key,
// password = a device code) and subscribes at QoS 1 to `devicegate/grants/<push key>`, the shape
// of the appliance's grant topics; counted at SUBACK.
//
// Job (BENCH_BARE_CLIENTS, JSON): { kind: 'ws' | 'mqtt', url, connections, concurrency,
// setupTimeoutSeconds, holdSeconds }. IPC: → { type: 'subscribed', connections, subscribed,
// setupSeconds, failures, firstFailure }; then holds every connection until told to stop, the
// parent goes away, or holdSeconds pass.
import { randomBytes } from 'node:crypto';
import { connect } from 'mqtt';
import WebSocket from 'ws';

const job = JSON.parse(process.env.BENCH_BARE_CLIENTS ?? '{}');
/** One connection may take this long to be counted; past it, it is a failure. */
const CONNECTION_TIMEOUT_MS = 10_000;
const TOPIC_PREFIX = 'devicegate/grants/';
const held = [];
let subscribed = 0;
let failures = 0;
let firstFailure = '';
const began = performance.now();
const setupDeadline = began + job.setupTimeoutSeconds * 1000;

const secret = () => randomBytes(32).toString('base64url');

function openWebSocket() {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(job.url, { perMessageDeflate: false, handshakeTimeout: CONNECTION_TIMEOUT_MS });
    held.push(socket);
    socket.once('open', () => socket.send(JSON.stringify({ type: 'subscribe', device_code: secret() })));
    socket.once('message', () => resolve());
    // `on`, not `once`: a late error must not go unhandled and end the process.
    socket.on('error', reject);
    socket.once('close', () => reject(new Error('closed before the answer')));
  });
}

function openMqtt() {
  return new Promise((resolve, reject) => {
    const pushKey = secret();
    const client = connect(job.url, {
      clientId: `devicegate-device-${randomBytes(6).toString('hex')}`,
      username: pushKey,
      password: secret(),
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: CONNECTION_TIMEOUT_MS,
      keepalive: 30,
    });
    held.push(client);
    client.once('connect', () => {
      client.subscribe(`${TOPIC_PREFIX}${pushKey}`, { qos: 1 }, (error, granted) => {
        if (error) return reject(error);
        if (!granted?.length || granted.some((grant) => grant.qos >= 0x80)) return reject(new Error('subscription refused'));
        resolve();
      });
    });
    client.on('error', reject);
    client.once('close', () => reject(new Error('closed before SUBACK')));
  });
}

const open = job.kind === 'ws' ? openWebSocket : openMqtt;
let next = 0;
await Promise.all(
  Array.from({ length: job.concurrency }, async () => {
    while (next < job.connections && performance.now() < setupDeadline) {
      next++;
      let timer;
      try {
        await Promise.race([
          open(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`not subscribed within ${CONNECTION_TIMEOUT_MS} ms`)), CONNECTION_TIMEOUT_MS);
          }),
        ]);
        subscribed++;
      } catch (error) {
        failures++;
        firstFailure ||= error.message;
      } finally {
        clearTimeout(timer);
      }
    }
  }),
);
process.send({ type: 'subscribed', connections: held.length, subscribed, setupSeconds: (performance.now() - began) / 1000, failures, firstFailure });

// Held until the parent has measured; bounded all the same.
const leave = () => process.exit(0);
process.once('message', leave);
process.once('disconnect', leave);
setTimeout(leave, job.holdSeconds * 1000).unref();
